//! Twilio Voice transcripts, signed with `X-Twilio-Signature` like every Twilio webhook.
//!
//! Two products post here:
//! - recording transcriptions (`<Record transcribe="true" transcribeCallback=...>`): one
//!   callback with the whole `TranscriptionText` of the caller's recording, no timings;
//! - real-time transcription (`<Start><Transcription statusCallbackUrl=...>`): one callback
//!   per event. Final utterances are kept as parts in the table until
//!   `transcription-stopped`, which turns them into the call's one transcript message.
//!
//! Real-time events do not name the parties; the statusCallbackUrl can carry `caller`,
//! `callee` and `direction` query parameters (Twilio signs the whole URL).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::calls::{self, Call};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::providers::Fields;
use crate::providers::twilio_signature::{self, verify_signature};
use crate::request::WebhookRequest;
use crate::schema::{Segment, Speaker, Transcript};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::Scheme;

pub struct TwilioVoice;

/// How long a call's real-time parts are kept after the latest one (no call lasts this long).
const PARTS_KEPT_DAYS: i64 = 3;

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
            Some(event) => realtime(ctx, &f, event, parties).await,
            None => recording(ctx, &f, parties),
        }
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

async fn realtime(
    ctx: &Context,
    f: &Fields,
    event: &str,
    parties: CallInfo,
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
    match event {
        "transcription-started" => {
            let started =
                json!({ "at": at, "parties": parties, "language": f.get("LanguageCode") });
            store
                .put_part(&group, "started", &started.to_string(), expires_at)
                .await?;
            Ok(Outcome::Store(Vec::new()))
        }
        "transcription-content" => {
            if f.get("Final") != Some("true") {
                return Ok(Outcome::Store(Vec::new()));
            }
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
            let parts = store.parts(&group).await?;
            let started: Value = parts
                .get("started")
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            let started_at = started["at"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            let parties = serde_json::from_value::<CallInfo>(started["parties"].clone())
                .ok()
                .filter(|p| p.from.is_some() || p.to.is_some())
                .unwrap_or(parties);
            let outbound = match ctx.secret.option("outbound_track") {
                Some("bot") => Speaker::Bot,
                _ => Speaker::Agent,
            };
            // Parts other than "started" are named by zero-padded sequence, so in order.
            let segments: Vec<Segment> = parts
                .iter()
                .filter(|(name, _)| name.as_str() != "started")
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
                duration_seconds: match (started_at, at) {
                    (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
                    _ => None,
                },
                segments,
                ..Default::default()
            };
            let mut call = parties.call(call_sid);
            call.started_at = started_at;
            Ok(Outcome::Store(vec![calls::transcript_message(
                ctx, &call, session, transcript,
            )]))
        }
        _ => {
            tracing::info!(event, "real-time transcription event not stored");
            Ok(Outcome::Store(Vec::new()))
        }
    }
}
