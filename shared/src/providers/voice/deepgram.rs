//! Deepgram pre-recorded transcription callbacks (`/v1/listen?callback=...`).
//!
//! Deepgram no longer signs callbacks. It authenticates them with a secret the integration
//! chooses: credentials in the callback URL (`https://user:pass@host/deepgram`, sent as Basic
//! auth; a key is `user:pass`) or `extra=callback_secret:<key>` on the request, returned in
//! `metadata.extra`. The integration can also pass `extra=call_id:...`, `caller`, `callee`,
//! `direction` and `speakers` (roles by diarised speaker or channel index, e.g.
//! `customer,agent`), since the transcription itself knows nothing of the call.

use async_trait::async_trait;
use serde_json::Value;

use super::calls::{self, Call};
use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::parse_json;
use crate::request::WebhookRequest;
use crate::schema::{Segment, Speaker, Transcript};
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct Deepgram;

#[async_trait]
impl Provider for Deepgram {
    fn name(&self) -> &'static str {
        "deepgram"
    }

    fn methods(&self) -> &'static [http::Method] {
        // `callback_method=put` is allowed too.
        &[http::Method::POST, http::Method::PUT]
    }

    fn scheme(&self) -> Scheme {
        // Basic credentials from the callback URL, else `extra=callback_secret:…`, which
        // Deepgram returns in `metadata.extra` (that one field is read before anything else).
        Scheme::Token(TokenScheme {
            at: &[
                TokenAt::Basic,
                TokenAt::JsonField(&["metadata", "extra", "callback_secret"]),
            ],
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let metadata = &body["metadata"];
        let request_id = metadata["request_id"]
            .as_str()
            .ok_or_else(|| GatewayError::malformed("missing field metadata.request_id"))?;
        let extra = |name: &str| metadata["extra"][name].as_str().filter(|s| !s.is_empty());
        let roles = calls::speaker_roles(extra("speakers"));
        let results = &body["results"];
        let channels = results["channels"].as_array().cloned().unwrap_or_default();
        let segments: Vec<Segment> = match results["utterances"].as_array() {
            Some(utterances) if !utterances.is_empty() => utterances
                .iter()
                .filter_map(|u| utterance(u, &roles, channels.len() > 1))
                .collect(),
            // Without utterances, one segment per channel's best alternative.
            _ => channels
                .iter()
                .enumerate()
                .filter_map(|(index, channel)| channel_segment(index, channel, &roles))
                .collect(),
        };
        let language = channels
            .iter()
            .find_map(|c| c["detected_language"].as_str())
            .map(str::to_string);
        let transcript = Transcript {
            language,
            duration_seconds: metadata["duration"].as_f64(),
            segments,
            ..Default::default()
        };
        let call_id = extra("call_id").unwrap_or(request_id);
        let call = Call {
            id: call_id,
            direction: extra("direction").and_then(calls::direction),
            caller: extra("caller"),
            callee: extra("callee"),
            started_at: None,
        };
        Ok(Outcome::Store(vec![calls::transcript_message(
            ctx, &call, request_id, transcript,
        )]))
    }
}

/// An utterance, its speaker from the diarised speaker index, or from the channel when the
/// audio was multichannel and not diarised.
fn utterance(u: &Value, roles: &[Speaker], multichannel: bool) -> Option<Segment> {
    let index = u["speaker"]
        .as_u64()
        .or_else(|| multichannel.then(|| u["channel"].as_u64()).flatten())
        .map(|i| i as usize);
    Some(Segment {
        speaker: calls::role_at(roles, index),
        start: u["start"].as_f64()?,
        end: u["end"].as_f64()?,
        text: u["transcript"].as_str()?.to_string(),
        confidence: u["confidence"].as_f64(),
    })
}

fn channel_segment(index: usize, channel: &Value, roles: &[Speaker]) -> Option<Segment> {
    let best = &channel["alternatives"][0];
    let text = best["transcript"].as_str().filter(|t| !t.is_empty())?;
    let words = best["words"].as_array();
    Some(Segment {
        speaker: calls::role_at(roles, Some(index)),
        start: words
            .and_then(|w| w.first())
            .and_then(|w| w["start"].as_f64())
            .unwrap_or(0.0),
        end: words
            .and_then(|w| w.last())
            .and_then(|w| w["end"].as_f64())
            .unwrap_or(0.0),
        text: text.to_string(),
        confidence: best["confidence"].as_f64(),
    })
}
