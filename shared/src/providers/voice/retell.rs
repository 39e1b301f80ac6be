//! Retell AI call webhooks.
//!
//! `x-retell-signature: v=<unix ms>,d=<hex HMAC-SHA256(API key, body + ms)>`, within five
//! minutes. The call's transcript is taken from one event per call: `call_analyzed` by
//! default (it adds the summary), or `call_ended` when the secret's `transcript_event` says so
//! (for agents without post-call analysis). Other events are acknowledged and not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::calls::{self, Call};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Segment, Speaker, Transcript};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Algorithm, Scheme};

pub struct Retell;

/// The signature header's `(timestamp ms, hex digest)`.
fn parse_signature(header: &str) -> Option<(&str, &str)> {
    // Exactly `v=<digits>,d=<64 lower-case hex digits>`, as Retell's SDKs match it.
    let (timestamp, digest) = header.strip_prefix("v=")?.split_once(",d=")?;
    let digits = !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit());
    let hex = digest.len() == 64
        && digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (digits && hex).then_some((timestamp, digest))
}

#[async_trait]
impl Provider for Retell {
    fn name(&self) -> &'static str {
        "retell"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        let header = req.header("x-retell-signature").ok_or(AuthError::Missing)?;
        let (timestamp, digest) = parse_signature(header).ok_or(AuthError::Invalid)?;
        let millis: i64 = timestamp.parse().map_err(|_| AuthError::Invalid)?;
        verify::check_timestamp_millis(millis, now, window_secs)?;
        secret.accept_any(|key| {
            let mac = verify::hmac(
                Algorithm::Sha256,
                key.as_bytes(),
                &[&req.body, timestamp.as_bytes()],
            );
            verify::eq_hex_lower(&mac, digest)
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let event = body["event"]
            .as_str()
            .ok_or_else(|| GatewayError::malformed("missing field event"))?;
        let wanted = ctx
            .secret
            .option("transcript_event")
            .unwrap_or("call_analyzed");
        if event != wanted {
            return Ok(Outcome::Store(Vec::new()));
        }
        let call = &body["call"];
        let id = call["call_id"]
            .as_str()
            .ok_or_else(|| GatewayError::malformed("missing field call.call_id"))?;
        let segments = call["transcript_object"]
            .as_array()
            .map(|turns| turns.iter().filter_map(segment).collect())
            .unwrap_or_default();
        let millis = |v: &Value| v.as_i64().and_then(DateTime::from_timestamp_millis);
        let transcript = Transcript {
            language: None,
            duration_seconds: call["duration_ms"]
                .as_f64()
                .map(|ms| ms / 1000.0)
                .or_else(|| {
                    Some(
                        (call["end_timestamp"].as_f64()? - call["start_timestamp"].as_f64()?)
                            / 1000.0,
                    )
                }),
            full_text: text(&call["transcript"]),
            segments,
            summary: text(&call["call_analysis"]["call_summary"]),
            recording_url: text(&call["recording_url"]),
            ..Default::default()
        };
        let call = Call {
            id,
            direction: call["direction"].as_str().and_then(calls::direction),
            caller: call["from_number"].as_str(),
            callee: call["to_number"].as_str(),
            started_at: millis(&call["start_timestamp"]),
        };
        Ok(Outcome::Store(vec![calls::transcript_message(
            ctx, &call, id, transcript,
        )]))
    }
}

/// One turn of `transcript_object`: Retell's agent is the voice bot, a transferred-to human
/// is an agent, and the user is the customer. Times are seconds from the call's start.
fn segment(turn: &Value) -> Option<Segment> {
    let speaker = match turn["role"].as_str()? {
        "user" => Speaker::Customer,
        "agent" => Speaker::Bot,
        "transfer_target" => Speaker::Agent,
        _ => Speaker::Unknown,
    };
    let words = turn["words"].as_array();
    let first = words.and_then(|w| w.first());
    let last = words.and_then(|w| w.last());
    Some(Segment {
        speaker,
        start: first.and_then(|w| w["start"].as_f64()).unwrap_or(0.0),
        end: last.and_then(|w| w["end"].as_f64()).unwrap_or(0.0),
        text: turn["content"].as_str()?.to_string(),
        confidence: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_header_parts() {
        let digest = "0123456789abcdef".repeat(4);
        assert_eq!(
            parse_signature(&format!("v=1700000000000,d={digest}")),
            Some(("1700000000000", digest.as_str()))
        );
        // As Retell's SDKs match it: nothing else in the header, in that order.
        for bad in [
            format!("d={digest},v=1700000000000"),
            format!("v=1700000000000, d={digest}"),
            format!("v=-1,d={digest}"),
            format!("v=1700000000000,d={}", digest.to_uppercase()),
            "v=1700000000000,d=abcd".to_string(),
            format!("d={digest}"),
            String::new(),
        ] {
            assert_eq!(parse_signature(&bad), None, "{bad}");
        }
    }
}
