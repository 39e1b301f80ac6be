//! Twilio Voice transcripts, signed with `X-Twilio-Signature` like every Twilio webhook.
//!
//! Two products post here:
//! - recording transcriptions (`<Record transcribe="true" transcribeCallback=...>`): one
//!   callback with the whole `TranscriptionText` of the caller's recording, no timings;
//! - real-time transcription (`<Start><Transcription statusCallbackUrl=...>`): one callback
//!   per event, each its own HTTP request, with no ordering promised across them (Twilio
//!   orders content only per track). Final utterances are kept as parts, one item each;
//!   `transcription-stopped` marks the session and schedules its assembly a grace period
//!   later, so an utterance delivered after the stop event is still in the call's one
//!   transcript message. A session whose stop event never came is assembled once no call
//!   can still be running (Twilio's longest call is 24 hours).
//!
//! Real-time events do not name the parties; the statusCallbackUrl can carry `caller`,
//! `callee` and `direction` query parameters (Twilio signs the whole URL).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::calls::{self, Call};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Done, Outcome, Provider};
use crate::providers::Fields;
use crate::providers::twilio_signature::{self, verify_signature};
use crate::request::WebhookRequest;
use crate::schema::{Segment, Speaker, Transcript};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::Scheme;

pub struct TwilioVoice {
    /// How long after the stop event the transcript is assembled (0: at the stop event).
    grace: chrono::Duration,
}

impl TwilioVoice {
    pub fn new(grace: chrono::Duration) -> Self {
        TwilioVoice { grace }
    }
}

/// How long a call's real-time parts are kept after the latest one (no call lasts this long).
const PARTS_KEPT_DAYS: i64 = 3;

/// When a session with no stop event is assembled anyway: after the longest call Twilio
/// allows (24 hours), and then some.
const ORPHAN_AFTER_HOURS: i64 = 25;

/// The group of the markers of sessions to assemble: names sort by when they are due.
const DUE_GROUP: &str = "voice:twilio:due";

fn due_name(at: DateTime<Utc>, session: &str) -> String {
    format!("{}#{session}", crate::outbox::sortable_time(at))
}

#[async_trait]
impl Provider for TwilioVoice {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    fn signs_url(&self) -> bool {
        true
    }

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        twilio_signature::check_secret(secret)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _window_secs: i64,
    ) -> Result<(), AuthError> {
        verify_signature(req, secret)
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let f = Fields::of(req)?;
        let query = Fields(req.query());
        // Twilio's own fields first, then the callback URL's parameters.
        let pick = |field: &str, param: &str| {
            f.get(field)
                .or_else(|| query.get(param))
                .map(str::to_string)
        };
        let parties = CallInfo {
            from: pick("From", "caller"),
            to: pick("To", "callee"),
            direction: pick("Direction", "direction"),
        };
        match f.get("TranscriptionEvent") {
            Some(event) => realtime(ctx, &f, event, parties, self.grace).await,
            None => recording(ctx, &f, parties),
        }
    }

    fn schedules_work(&self) -> bool {
        true
    }

    /// Assembles the sessions whose stop event's grace has passed, and those whose stop
    /// event never came once no call can still be running.
    async fn due(&self, ctx: &Context) -> Result<Vec<Done>, GatewayError> {
        let now = crate::outbox::sortable_time(ctx.received_at);
        let markers = ctx.parts.parts_through(DUE_GROUP, &now, 50).await?;
        let mut done = Vec::new();
        for (name, body) in markers {
            let marker: Marker = serde_json::from_str(&body)
                .map_err(|_| GatewayError::malformed("a transcript marker is not JSON"))?;
            let parts = ctx.parts.parts(&marker.group).await?;
            let stopped = parts
                .get("stopped")
                .and_then(|s| serde_json::from_str::<Stopped>(s).ok());
            let orphaned = marker.orphan && stopped.is_none();
            let messages = match (&stopped, marker.orphan) {
                // The stop event came: its own marker assembles the session.
                (Some(_), true) => Vec::new(),
                _ => {
                    tracing::info!(
                        orphan = marker.orphan,
                        parts = parts.len(),
                        "assembling a real-time transcript"
                    );
                    let mut ctx = ctx.clone();
                    if let Some(stop) = &stopped {
                        ctx.received_at = stop.received_at;
                    }
                    vec![assemble(
                        &ctx,
                        &marker,
                        &parts,
                        stopped.as_ref(),
                        CallInfo::default(),
                    )]
                }
            };
            let raw = serde_json::to_vec(&parts).expect("parts serialise");
            done.push(Done {
                messages,
                raw: raw.into(),
                marker: (DUE_GROUP.to_string(), name),
                orphaned,
            });
        }
        Ok(done)
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CallInfo {
    from: Option<String>,
    to: Option<String>,
    direction: Option<String>,
}

impl CallInfo {
    fn call<'a>(&'a self, id: &'a str) -> Call<'a> {
        Call {
            id,
            direction: self.direction.as_deref().and_then(calls::direction),
            caller: self.from.as_deref(),
            callee: self.to.as_deref(),
            started_at: None,
        }
    }
}

fn recording(ctx: &Context, f: &Fields, parties: CallInfo) -> Result<Outcome, GatewayError> {
    let Some(sid) = f.get("TranscriptionSid") else {
        // Another of the call's callbacks (a recording's or the call's status) sent here: a
        // genuine event, with no transcript in it.
        if f.get("CallSid").is_some() {
            tracing::info!("a call callback without a transcription, nothing to store");
            return Ok(Outcome::Store(Vec::new()));
        }
        return Err(GatewayError::malformed("missing field TranscriptionSid"));
    };
    let call_sid = f.require("CallSid")?;
    if f.get("TranscriptionStatus") != Some("completed") {
        tracing::info!("recording transcription failed, nothing to store");
        return Ok(Outcome::Store(Vec::new()));
    }
    let transcript = Transcript {
        full_text: f.get("TranscriptionText").map(str::to_string),
        recording_url: f.get("RecordingUrl").map(str::to_string),
        ..Default::default()
    };
    Ok(Outcome::Store(vec![calls::transcript_message(
        ctx,
        &parties.call(call_sid),
        sid,
        transcript,
    )]))
}

/// One final utterance as kept between events.
#[derive(serde::Serialize, serde::Deserialize)]
struct Utterance {
    track: String,
    text: String,
    confidence: Option<f64>,
    at: Option<DateTime<Utc>>,
}

/// A session to assemble later: which, and whether its stop event was missing.
#[derive(serde::Serialize, serde::Deserialize)]
struct Marker {
    group: String,
    session: String,
    call_sid: String,
    orphan: bool,
}

/// The stop event as kept with its session's parts.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stopped {
    at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
}

async fn realtime(
    ctx: &Context,
    f: &Fields,
    event: &str,
    parties: CallInfo,
    grace: chrono::Duration,
) -> Result<Outcome, GatewayError> {
    let call_sid = f.require("CallSid")?;
    let session = f.get("TranscriptionSid").unwrap_or(call_sid);
    let group = format!("{}:{}:{session}", ctx.channel, ctx.provider);
    let at = f
        .get("Timestamp")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let store = &ctx.parts;
    // A call's parts outlive any call: kept three days from the last one.
    let expires_at = ctx.received_at + chrono::Duration::days(PARTS_KEPT_DAYS);
    let marker = |orphan: bool| {
        serde_json::to_string(&Marker {
            group: group.clone(),
            session: session.to_string(),
            call_sid: call_sid.to_string(),
            orphan,
        })
        .expect("plain data serialises")
    };
    match event {
        "transcription-started" => {
            let started =
                json!({ "at": at, "parties": parties, "language": f.get("LanguageCode") });
            store
                .put_part(&group, "started", &started.to_string(), expires_at)
                .await?;
            // Assembled after the longest call if its stop event never comes.
            let orphan_at = ctx.received_at + chrono::Duration::hours(ORPHAN_AFTER_HOURS);
            store
                .put_part(
                    DUE_GROUP,
                    &due_name(orphan_at, &format!("{session}#orphan")),
                    &marker(true),
                    expires_at,
                )
                .await?;
            Ok(Outcome::Store(Vec::new()))
        }
        "transcription-content" => {
            if f.get("Final") != Some("true") {
                return Ok(Outcome::Store(Vec::new()));
            }
            // One counter per session across its events (Twilio's docs): unique, in order.
            let sequence: u64 = f
                .require("SequenceId")?
                .parse()
                .map_err(|_| GatewayError::malformed("SequenceId is not a number"))?;
            let data: Value = serde_json::from_str(f.require("TranscriptionData")?)
                .map_err(|_| GatewayError::malformed("TranscriptionData is not JSON"))?;
            let utterance = Utterance {
                track: f.get("Track").unwrap_or_default().to_string(),
                text: data["transcript"]
                    .as_str()
                    .ok_or_else(|| GatewayError::malformed("TranscriptionData has no transcript"))?
                    .to_string(),
                confidence: data["confidence"].as_f64(),
                at,
            };
            let body = serde_json::to_string(&utterance).expect("plain data serialises");
            store
                .put_part(&group, &format!("{sequence:010}"), &body, expires_at)
                .await?;
            Ok(Outcome::Store(Vec::new()))
        }
        "transcription-stopped" => {
            let stopped = Stopped {
                at,
                received_at: ctx.received_at,
            };
            let stopped = serde_json::to_string(&stopped).expect("plain data serialises");
            store
                .put_part(&group, "stopped", &stopped, expires_at)
                .await?;
            if grace > chrono::Duration::zero() {
                // Late utterances still land before this marker is due.
                store
                    .put_part(
                        DUE_GROUP,
                        &due_name(ctx.received_at + grace, session),
                        &marker(false),
                        expires_at,
                    )
                    .await?;
                return Ok(Outcome::Store(Vec::new()));
            }
            let parts = store.parts(&group).await?;
            let marker = Marker {
                group: group.clone(),
                session: session.to_string(),
                call_sid: call_sid.to_string(),
                orphan: false,
            };
            let stopped = parts
                .get("stopped")
                .and_then(|s| serde_json::from_str::<Stopped>(s).ok());
            Ok(Outcome::Store(vec![assemble(
                ctx,
                &marker,
                &parts,
                stopped.as_ref(),
                parties,
            )]))
        }
        _ => {
            tracing::info!(event, "real-time transcription event not stored");
            Ok(Outcome::Store(Vec::new()))
        }
    }
}

fn started_time(parts: &std::collections::BTreeMap<String, String>) -> Option<DateTime<Utc>> {
    let started: Value = parts
        .get("started")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    started["at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The call's one transcript message from its session's parts: final utterances in sequence
/// order, timed from the session's start; the parties the started event carried, or else
/// `parties`.
fn assemble(
    ctx: &Context,
    marker: &Marker,
    parts: &std::collections::BTreeMap<String, String>,
    stopped: Option<&Stopped>,
    parties: CallInfo,
) -> crate::schema::Message {
    let started: Value = parts
        .get("started")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let started_at = started_time(parts);
    let parties = serde_json::from_value::<CallInfo>(started["parties"].clone())
        .ok()
        .filter(|p| p.from.is_some() || p.to.is_some())
        .unwrap_or(parties);
    let outbound = match ctx.secret.option("outbound_track") {
        Some("bot") => Speaker::Bot,
        _ => Speaker::Agent,
    };
    // Utterances are named by zero-padded sequence, so in order; the rest are words.
    let segments: Vec<Segment> = parts
        .iter()
        .filter(|(name, _)| name.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|(_, body)| serde_json::from_str::<Utterance>(body).ok())
        .map(|u| {
            let offset = match (started_at, u.at) {
                (Some(s), Some(t)) => ((t - s).num_milliseconds() as f64 / 1000.0).max(0.0),
                _ => 0.0,
            };
            Segment {
                speaker: match u.track.as_str() {
                    "inbound_track" => Speaker::Customer,
                    "outbound_track" => outbound,
                    _ => Speaker::Unknown,
                },
                // Twilio stamps an utterance once, when it is final.
                start: offset,
                end: offset,
                text: u.text,
                confidence: u.confidence,
            }
        })
        .collect();
    let transcript = Transcript {
        language: started["language"].as_str().map(str::to_string),
        duration_seconds: match (started_at, stopped.and_then(|s| s.at)) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        segments,
        ..Default::default()
    };
    let mut call = parties.call(&marker.call_sid);
    call.started_at = started_at;
    calls::transcript_message(ctx, &call, &marker.session, transcript)
}
