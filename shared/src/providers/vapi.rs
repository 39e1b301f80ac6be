//! Vapi server messages: the `end-of-call-report` becomes the call's transcript; every other
//! message type is acknowledged and not stored.
//!
//! Vapi sends the server URL's credential as a header: a Bearer token (`Authorization: Bearer
//! <key>`) or the legacy `X-Vapi-Secret: <key>`. A credential with another header name is
//! configured with the secret's `header` option.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::calls::{self, Call};
use super::{parse_json, text};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::schema::{Direction, Segment, Speaker, Transcript};
use crate::secrets::ProviderSecret;
use crate::verify;

pub struct Vapi;

/// The credential Vapi sent, from the configured header or the two default ones.
fn credential<'a>(req: &'a WebhookRequest, secret: &ProviderSecret) -> Option<&'a str> {
    if let Some(name) = secret.option("header") {
        let value = req.header(name)?;
        return Some(strip_bearer(value));
    }
    req.header("x-vapi-secret")
        .or_else(|| req.header("authorization").map(strip_bearer))
}

fn strip_bearer(value: &str) -> &str {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    }
}

#[async_trait]
impl Provider for Vapi {
    fn name(&self) -> &'static str {
        "vapi"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let given = credential(req, secret).ok_or(AuthError::Missing)?;
        secret.accept_any(|key| verify::ct_eq(key.as_bytes(), given.as_bytes()))
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let message = &body["message"];
        let kind = message["type"]
            .as_str()
            .ok_or_else(|| GatewayError::malformed("missing field message.type"))?;
        if kind != "end-of-call-report" {
            return Ok(Outcome::Store(Vec::new()));
        }
        let call = &message["call"];
        let id = call["id"]
            .as_str()
            .ok_or_else(|| GatewayError::malformed("missing field message.call.id"))?;
        let time = |v: &Value| {
            v.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let started = time(&message["startedAt"]).or_else(|| time(&call["startedAt"]));
        let ended = time(&message["endedAt"]).or_else(|| time(&call["endedAt"]));
        let duration = match (started, ended) {
            (Some(s), Some(e)) => Some((e - s).num_milliseconds() as f64 / 1000.0),
            _ => message["durationSeconds"].as_f64(),
        };
        let artifact = &message["artifact"];
        let segments = artifact["messages"]
            .as_array()
            .map(|turns| turns.iter().filter_map(segment).collect())
            .unwrap_or_default();
        let transcript = Transcript {
            duration_seconds: duration,
            full_text: text(&artifact["transcript"]),
            segments,
            summary: text(&message["analysis"]["summary"]),
            recording_url: text(&artifact["recordingUrl"]),
            ..Default::default()
        };
        let customer = message["customer"]["number"]
            .as_str()
            .or_else(|| call["customer"]["number"].as_str());
        let business = message["phoneNumber"]["number"]
            .as_str()
            .or_else(|| call["phoneNumber"]["number"].as_str());
        let direction = call["type"]
            .as_str()
            .and_then(calls::direction)
            .unwrap_or(Direction::Inbound);
        let (caller, callee) = match direction {
            Direction::Inbound => (customer, business),
            Direction::Outbound => (business, customer),
        };
        let call = Call {
            id,
            direction: Some(direction),
            caller,
            callee,
            started_at: started,
        };
        Ok(Outcome::Store(vec![calls::transcript_message(
            ctx, &call, id, transcript,
        )]))
    }
}

/// One turn of `artifact.messages`: the user is the customer, the assistant (`bot`) is the
/// voice bot; system prompts and tool calls are not part of the conversation.
fn segment(turn: &Value) -> Option<Segment> {
    let speaker = match turn["role"].as_str()? {
        "user" => Speaker::Customer,
        "bot" | "assistant" => Speaker::Bot,
        _ => return None,
    };
    let start = turn["secondsFromStart"].as_f64()?;
    // `duration` and `time`/`endTime` are milliseconds.
    let length = turn["duration"]
        .as_f64()
        .or_else(|| Some(turn["endTime"].as_f64()? - turn["time"].as_f64()?));
    Some(Segment {
        speaker,
        start,
        end: start + length.unwrap_or(0.0) / 1000.0,
        text: turn["message"].as_str()?.to_string(),
        confidence: turn["confidence"].as_f64(),
    })
}
