//! AssemblyAI transcript webhooks.
//!
//! The webhook says only `{"transcript_id", "status"}`, behind the auth header the integration
//! chose when submitting the job (`webhook_auth_header_name`/`_value`; the name is the secret's
//! `header` option, default `x-webhook-secret`, the value one of its keys). The finished
//! transcript is then fetched from the API with the secret's `api_key`. A failed fetch answers
//! 502, so AssemblyAI redelivers (it retries anything but 2xx and 4xx). Call details the job
//! does not know travel as query parameters of the webhook URL: `call_id`, `caller`, `callee`,
//! `direction` and `speakers` (roles of speakers A, B, ... e.g. `customer,agent`).

use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;

use super::calls::{self, Call};
use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Segment, Speaker, Transcript};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{Scheme, TokenAt, TokenScheme};

/// The US API; EU jobs are fetched from `https://api.eu.assemblyai.com`.
pub const DEFAULT_API_BASE_URL: &str = "https://api.assemblyai.com";
const DEFAULT_HEADER: &str = "x-webhook-secret";

pub struct AssemblyAi {
    http: reqwest::Client,
    api_base_url: String,
}

impl AssemblyAi {
    /// `api_base_url` is where transcripts are fetched from (`ASSEMBLYAI_API_BASE_URL`).
    /// Building the client makes no network call.
    pub fn new(api_base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            // AssemblyAI waits 10 s for the webhook's answer; leave room to store.
            .timeout(Duration::from_secs(6))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a client with timeouts only always builds");
        AssemblyAi {
            http,
            api_base_url: api_base_url.into().trim_end_matches('/').to_string(),
        }
    }

    async fn fetch(&self, id: &str, api_key: &str) -> Result<Value, GatewayError> {
        let url = format!("{}/v2/transcript/{id}", self.api_base_url);
        let response = self
            .http
            .get(url)
            .header("authorization", api_key)
            .send()
            .await
            .map_err(|e| GatewayError::ProviderApi(format!("transcript fetch failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(GatewayError::ProviderApi(format!(
                "transcript fetch answered {status}"
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GatewayError::ProviderApi(format!("transcript fetch failed: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|_| {
            GatewayError::ProviderApi("transcript fetch returned something other than JSON".into())
        })
    }
}

#[async_trait]
impl Provider for AssemblyAi {
    fn name(&self) -> &'static str {
        "assemblyai"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Token(TokenScheme {
            at: &[TokenAt::ConfiguredHeader {
                option: "header",
                default: Some(DEFAULT_HEADER),
            }],
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
        #[derive(serde::Deserialize)]
        struct Hook {
            transcript_id: String,
            status: String,
        }
        let hook: Hook = parse_json(&req.body)?;
        if hook.status != "completed" {
            // A failed job has no transcript; AssemblyAI's transcript shows the error.
            tracing::info!(status = %hook.status, "transcript not completed, nothing to store");
            return Ok(Outcome::Store(Vec::new()));
        }
        if hook.transcript_id.is_empty()
            || !hook
                .transcript_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(GatewayError::malformed("transcript_id is not an id"));
        }
        let api_key = ctx.secret.option("api_key").ok_or_else(|| {
            GatewayError::SecretsUnavailable("assemblyai has no api_key in its secret".into())
        })?;
        let fetched = self.fetch(&hook.transcript_id, api_key).await?;
        if fetched["status"].as_str() != Some("completed") {
            return Err(GatewayError::ProviderApi(
                "the fetched transcript is not completed yet".into(),
            ));
        }
        let query = req.query();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let roles = calls::speaker_roles(param("speakers"));
        let segments = fetched["utterances"]
            .as_array()
            .map(|utterances| {
                utterances
                    .iter()
                    .filter_map(|u| utterance(u, &roles))
                    .collect()
            })
            .unwrap_or_default();
        let transcript = Transcript {
            language: text(&fetched["language_code"]).map(|l| l.replace('_', "-")),
            duration_seconds: fetched["audio_duration"].as_f64(),
            full_text: text(&fetched["text"]),
            segments,
            ..Default::default()
        };
        let call = Call {
            id: param("call_id").unwrap_or(&hook.transcript_id),
            direction: param("direction").and_then(calls::direction),
            caller: param("caller"),
            callee: param("callee"),
            started_at: None,
        };
        Ok(Outcome::Store(vec![calls::transcript_message(
            ctx,
            &call,
            &hook.transcript_id,
            transcript,
        )]))
    }
}

/// An utterance: speakers are `A`, `B`, ... and times are milliseconds.
fn utterance(u: &Value, roles: &[Speaker]) -> Option<Segment> {
    let index = u["speaker"]
        .as_str()
        .and_then(|s| s.bytes().next())
        .filter(u8::is_ascii_uppercase)
        .map(|b| usize::from(b - b'A'));
    Some(Segment {
        speaker: calls::role_at(roles, index),
        start: u["start"].as_f64()? / 1000.0,
        end: u["end"].as_f64()? / 1000.0,
        text: u["text"].as_str()?.to_string(),
        confidence: u["confidence"].as_f64(),
    })
}
