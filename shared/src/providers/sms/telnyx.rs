//! Telnyx API v2 messaging webhooks.
//!
//! Signature: `telnyx-signature-ed25519` is the base64 Ed25519 signature of
//! `"{telnyx-timestamp}|{raw body}"`, checked with the account's public key (base64, from the
//! portal: configure it as the provider's key); `telnyx-timestamp` must be within the window.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::providers::parse_json;
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, DeliveryState, Direction, Kind, StatusUpdate};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Scheme};

pub struct Telnyx;

#[derive(Deserialize)]
struct Webhook {
    data: Event,
}

#[derive(Deserialize)]
struct Event {
    event_type: String,
    occurred_at: Option<DateTime<Utc>>,
    /// Parsed further only for the message events this channel stores.
    payload: serde_json::Value,
}

#[derive(Deserialize)]
struct Payload {
    id: String,
    from: Address,
    #[serde(default)]
    to: Vec<Address>,
    text: Option<String>,
    #[serde(default)]
    media: Vec<Media>,
    #[serde(default)]
    errors: Vec<TelnyxError>,
}

#[derive(Deserialize)]
struct Address {
    phone_number: String,
    status: Option<String>,
}

#[derive(Deserialize)]
struct Media {
    url: Option<String>,
    content_type: Option<String>,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct TelnyxError {
    code: Option<serde_json::Value>,
    title: Option<String>,
}

#[async_trait]
impl Provider for Telnyx {
    fn name(&self) -> &'static str {
        "telnyx"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Ed25519PublicKey)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        let signature = req
            .header("telnyx-signature-ed25519")
            .ok_or(AuthError::Missing)?;
        let timestamp = req.header("telnyx-timestamp").ok_or(AuthError::Missing)?;
        let signature = verify::decode_base64(signature)
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or(AuthError::Invalid)?;
        let mut signed = Vec::with_capacity(timestamp.len() + 1 + req.body.len());
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'|');
        signed.extend_from_slice(&req.body);
        secret.accept_any(|key| {
            verify::decode_base64(key)
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .is_some_and(|key| key.verify_strict(&signed, &signature).is_ok())
        })?;
        verify::check_timestamp(verify::parse_unix_secs(Some(timestamp))?, now, window_secs)
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let Webhook { data } = parse_json(&req.body)?;
        if !matches!(
            data.event_type.as_str(),
            "message.received" | "message.sent" | "message.finalized"
        ) {
            // Other events (number orders, 10DLC, ...) are acknowledged with nothing stored.
            return Ok(Outcome::Store(Vec::new()));
        }
        let p: Payload = serde_json::from_value(data.payload)
            .map_err(|_| GatewayError::malformed("message payload lacks id, from or to"))?;
        let first_to = p.to.first();
        let message = match data.event_type.as_str() {
            "message.received" => {
                let business = first_to
                    .ok_or_else(|| GatewayError::malformed("missing field to"))?
                    .phone_number
                    .clone();
                let mut m = ctx.message(
                    Kind::Message,
                    Direction::Inbound,
                    &p.id,
                    &p.id,
                    ctx.phone_party(&p.from.phone_number),
                    ctx.phone_party(business),
                );
                m.sent_at = data.occurred_at;
                m.text = p.text.filter(|t| !t.is_empty());
                m.attachments = p
                    .media
                    .into_iter()
                    .map(|media| Attachment {
                        kind: media
                            .content_type
                            .as_deref()
                            .map_or(AttachmentKind::Other, AttachmentKind::from_mime),
                        id: None,
                        url: media.url,
                        mime_type: media.content_type,
                        size: media.size,
                        name: None,
                        ..Default::default()
                    })
                    .collect();
                m
            }
            "message.sent" | "message.finalized" => {
                let to = first_to.ok_or_else(|| GatewayError::malformed("missing field to"))?;
                let state = to.status.clone().unwrap_or_else(|| "unknown".into());
                let event_key = format!("{}:{state}", p.id);
                let mut m = ctx.message(
                    Kind::Status,
                    Direction::Outbound,
                    &p.id,
                    &event_key,
                    ctx.phone_party(&to.phone_number),
                    ctx.phone_party(&p.from.phone_number),
                );
                m.sent_at = data.occurred_at;
                let error = p.errors.first();
                m.status = Some(StatusUpdate {
                    state: match state.as_str() {
                        "queued" | "sending" => DeliveryState::Queued,
                        "sent" => DeliveryState::Sent,
                        "delivered" => DeliveryState::Delivered,
                        "sending_failed" | "delivery_failed" => DeliveryState::Failed,
                        _ => DeliveryState::Unknown,
                    },
                    provider_state: state,
                    error_code: error
                        .and_then(|e| e.code.as_ref())
                        .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_string)),
                    error_message: error.and_then(|e| e.title.clone()),
                });
                m
            }
            _ => unreachable!("filtered above"),
        };
        Ok(Outcome::Store(vec![message]))
    }
}
