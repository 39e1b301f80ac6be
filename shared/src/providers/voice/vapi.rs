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
use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Direction, Segment, Speaker, Transcript};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct Vapi;

/// The credential Vapi sent, from the configured header or the two default ones.
#[async_trait]
impl Provider for Vapi {
    fn name(&self) -> &'static str {
        "vapi"
    }

    fn scheme(&self) -> Scheme {
        // A Bearer credential: in the header the secret's `header` option names, else the
        // legacy `X-Vapi-Secret`, else `Authorization: Bearer`.
        Scheme::Token(TokenScheme {
            at: &[
                TokenAt::ConfiguredHeader {
                    option: "header",
                    default: None,
                },
                TokenAt::Header("x-vapi-secret"),
                TokenAt::Bearer,
            ],
        })
    }

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        secret.check_keys(KeyKind::Secret)?;
        secret.check_option("header")
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
        let segments: Vec<_> = artifact["messages"]
            .as_array()
            .map(|turns| turns.iter().filter_map(segment).collect())
            .unwrap_or_default();
        let full_text = text(&artifact["transcript"]);
        if full_text.is_none() && segments.is_empty() {
            // A call nobody spoke in (unanswered, hung up at once): no transcript to keep.
            tracing::info!("end-of-call report without a transcript, nothing to store");
            return Ok(Outcome::Store(Vec::new()));
        }
        let transcript = Transcript {
            duration_seconds: duration,
            full_text,
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
