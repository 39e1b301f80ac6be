//! Viber REST bot webhooks, at `/viber`.
//!
//! `X-Viber-Content-Signature` is the hex HMAC-SHA256 of the body with the bot's auth token.
//! The `webhook` event Viber sends when the webhook is set is answered 200; `message` events
//! are stored; `delivered`, `seen` and `failed` become `kind: status`; subscription events are
//! acknowledged and not stored. Viber names no recipient: the business endpoint is the bot,
//! `viber-bot` (one bot per deployment).

use async_trait::async_trait;
use chrono::DateTime;
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, StatusUpdate, Visibility,
};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme};

pub struct Viber;

/// The business endpoint: Viber's callbacks do not name the bot they are for.
const BOT: &str = "viber-bot";

#[async_trait]
impl Provider for Viber {
    fn name(&self) -> &'static str {
        "viber"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-viber-content-signature",
            prefix: "",
            separator: None,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::HexLower,
            signed: &[Part::Body],
            timestamp: None,
            key: KeyKind::Secret,
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
        let token = body["message_token"]
            .as_u64()
            .map(|t| t.to_string())
            .or_else(|| text(&body["message_token"]));
        let business = ctx.party(BOT);
        let message = match event {
            "message" => {
                let id =
                    token.ok_or_else(|| GatewayError::malformed("missing field message_token"))?;
                let sender = &body["sender"];
                let user = text(&sender["id"])
                    .ok_or_else(|| GatewayError::malformed("missing field sender.id"))?;
                let mut customer = ctx.party(&user);
                customer.display_name = text(&sender["name"]);
                let mut m = ctx.message(
                    Kind::Message,
                    Direction::Inbound,
                    &id,
                    &id,
                    customer,
                    business,
                );
                m.sent_at = body["timestamp"]
                    .as_i64()
                    .and_then(DateTime::from_timestamp_millis);
                m.visibility = Some(Visibility::Private);
                let msg = &body["message"];
                m.text = text(&msg["text"]);
                let kind = msg["type"].as_str().unwrap_or("text");
                let attachment = |kind| Attachment {
                    kind,
                    id: None,
                    url: text(&msg["media"]),
                    mime_type: None,
                    size: msg["size"].as_u64(),
                    name: text(&msg["file_name"]),
                    ..Default::default()
                };
                match kind {
                    "picture" => m.attachments.push(attachment(AttachmentKind::Image)),
                    "video" => m.attachments.push(attachment(AttachmentKind::Video)),
                    "file" => m.attachments.push(attachment(AttachmentKind::File)),
                    "sticker" => m.attachments.push(Attachment {
                        id: msg["sticker_id"].as_u64().map(|s| s.to_string()),
                        ..attachment(AttachmentKind::Sticker)
                    }),
                    "location" => m.attachments.push(Attachment {
                        kind: AttachmentKind::Location,
                        id: None,
                        url: Some(format!(
                            "geo:{},{}",
                            msg["location"]["lat"], msg["location"]["lon"]
                        )),
                        mime_type: None,
                        size: None,
                        name: None,
                        ..Default::default()
                    }),
                    "contact" => m.attachments.push(Attachment {
                        kind: AttachmentKind::Contact,
                        id: None,
                        url: text(&msg["contact"]["phone_number"]).map(|p| format!("tel:{p}")),
                        mime_type: None,
                        size: None,
                        name: text(&msg["contact"]["name"]),
                        ..Default::default()
                    }),
                    _ => {}
                }
                m
            }
            "delivered" | "seen" | "failed" => {
                let id =
                    token.ok_or_else(|| GatewayError::malformed("missing field message_token"))?;
                let user = text(&body["user_id"])
                    .ok_or_else(|| GatewayError::malformed("missing field user_id"))?;
                let event_key = format!("{id}:{event}");
                let mut m = ctx.message(
                    Kind::Status,
                    Direction::Outbound,
                    &id,
                    &event_key,
                    ctx.party(&user),
                    business,
                );
                m.sent_at = body["timestamp"]
                    .as_i64()
                    .and_then(DateTime::from_timestamp_millis);
                m.status = Some(StatusUpdate {
                    state: match event {
                        "delivered" => DeliveryState::Delivered,
                        "seen" => DeliveryState::Read,
                        _ => DeliveryState::Failed,
                    },
                    provider_state: event.to_string(),
                    error_code: None,
                    error_message: text(&body["desc"]),
                });
                m
            }
            // `webhook` (set-up check), `subscribed`, `unsubscribed`, `conversation_started`.
            _ => return Ok(Outcome::Store(Vec::new())),
        };
        Ok(Outcome::Store(vec![message]))
    }
}
