//! Crisp web hooks, at `/crisp`.
//!
//! `X-Crisp-Signature` is the hex HMAC-SHA256 of `[{X-Crisp-Request-Timestamp};{body}]` with
//! the hook secret; the timestamp (milliseconds, or seconds) must be within the window.
//! `message:send` events from the visitor (`from: user`) are stored, text and files; the
//! operator's messages (`message:received` with `from: operator`) are not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{parse_json, text};
use crate::error::{AuthError, GatewayError};
use crate::identity;
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct Crisp;

#[async_trait]
impl Provider for Crisp {
    fn name(&self) -> &'static str {
        "crisp"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let signature = req.header("x-crisp-signature").ok_or(AuthError::Missing)?;
        let timestamp = req
            .header("x-crisp-request-timestamp")
            .ok_or(AuthError::Missing)?;
        secret.accept_any(|key| {
            let mac = verify::hmac(
                Algorithm::Sha256,
                key.as_bytes(),
                &[b"[", timestamp.as_bytes(), b";", &req.body, b"]"],
            );
            verify::eq_hex(&mac, signature)
        })?;
        let value = verify::parse_unix_secs(Some(timestamp))?;
        let secs = if value > 100_000_000_000 {
            value / 1000
        } else {
            value
        };
        verify::check_timestamp(secs, now, tolerance_secs)
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let data = &body["data"];
        if body["event"] != "message:send" || data["from"] != "user" {
            return Ok(Outcome::Store(Vec::new()));
        }
        let id = data["fingerprint"]
            .as_u64()
            .map(|f| f.to_string())
            .or_else(|| text(&data["fingerprint"]))
            .ok_or_else(|| GatewayError::malformed("missing field data.fingerprint"))?;
        let session = text(&data["session_id"])
            .ok_or_else(|| GatewayError::malformed("missing field data.session_id"))?;
        let user = &data["user"];
        let mut customer = ctx.party(text(&user["user_id"]).unwrap_or(session.clone()));
        customer.display_name = text(&user["nickname"]);
        customer.email = user["email"].as_str().and_then(identity::normalise_email);
        customer.key = customer.identity_key(ctx.channel, ctx.provider);
        let website = text(&body["website_id"])
            .or_else(|| text(&data["website_id"]))
            .unwrap_or_default();
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &id,
            &id,
            customer,
            ctx.party(website),
        );
        m.sent_at = data["timestamp"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis);
        m.visibility = Some(Visibility::Private);
        m.post_id = Some(session);
        match data["type"].as_str() {
            Some("file") | Some("audio") => {
                let content = &data["content"];
                m.attachments.push(Attachment {
                    kind: text(&content["type"]).map_or(AttachmentKind::File, |mime| {
                        AttachmentKind::from_mime(&mime)
                    }),
                    id: None,
                    url: text(&content["url"]),
                    mime_type: text(&content["type"]),
                    size: None,
                    name: text(&content["name"]),
                    ..Default::default()
                });
            }
            _ => m.text = text(&data["content"]),
        }
        Ok(Outcome::Store(vec![m]))
    }
}
