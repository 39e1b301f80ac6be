//! LINE Messaging API webhooks, at `/line`.
//!
//! `X-Line-Signature` is the base64 HMAC-SHA256 of the body with the channel secret. The
//! console's "Verify" sends a signed body whose `events` array is empty: it gets 200. Message
//! events (text, image, video, audio, file, location, sticker) are stored; follow, unfollow,
//! join, leave, postback-less and other events are acknowledged and not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{parse_json, text};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct Line;

#[async_trait]
impl Provider for Line {
    fn name(&self) -> &'static str {
        "line"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let signature = req.header("x-line-signature").ok_or(AuthError::Missing)?;
        secret.accept_any(|key| {
            verify::eq_base64(
                &verify::hmac(Algorithm::Sha256, key.as_bytes(), &[&req.body]),
                signature,
            )
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let bot = text(&body["destination"])
            .ok_or_else(|| GatewayError::malformed("missing field destination"))?;
        let events = body["events"]
            .as_array()
            .ok_or_else(|| GatewayError::malformed("missing events array"))?;
        let mut out = Vec::new();
        for event in events {
            if event["type"] != "message" {
                continue;
            }
            let message = &event["message"];
            let id = text(&message["id"])
                .ok_or_else(|| GatewayError::malformed("missing field message.id"))?;
            let source = &event["source"];
            let user = text(&source["userId"]).unwrap_or_else(|| "unknown".into());
            let mut m = ctx.message(
                Kind::Message,
                Direction::Inbound,
                &id,
                &id,
                ctx.party(&user),
                ctx.party(&bot),
            );
            m.sent_at = event["timestamp"]
                .as_i64()
                .and_then(DateTime::from_timestamp_millis);
            m.visibility = Some(if source["type"] == "user" {
                Visibility::Private
            } else {
                Visibility::Public
            });
            // Group and room messages belong to the group's conversation thread.
            m.post_id = text(&source["groupId"]).or_else(|| text(&source["roomId"]));
            m.reply_to = text(&message["quotedMessageId"]);
            let kind = message["type"].as_str().unwrap_or_default();
            match kind {
                "text" => m.text = text(&message["text"]),
                "image" | "video" | "audio" | "file" => m.attachments.push(Attachment {
                    kind: match kind {
                        "image" => AttachmentKind::Image,
                        "video" => AttachmentKind::Video,
                        "audio" => AttachmentKind::Audio,
                        _ => AttachmentKind::File,
                    },
                    // LINE-hosted content is fetched from the content API by message id.
                    id: Some(id.clone()),
                    url: text(&message["contentProvider"]["originalContentUrl"]),
                    mime_type: None,
                    size: message["fileSize"].as_u64(),
                    name: text(&message["fileName"]),
                    ..Default::default()
                }),
                "location" => m.attachments.push(Attachment {
                    kind: AttachmentKind::Location,
                    id: None,
                    url: Some(format!(
                        "geo:{},{}",
                        message["latitude"], message["longitude"]
                    )),
                    mime_type: None,
                    size: None,
                    name: text(&message["address"]).or_else(|| text(&message["title"])),
                    ..Default::default()
                }),
                "sticker" => m.attachments.push(Attachment {
                    kind: AttachmentKind::Sticker,
                    id: Some(format!(
                        "{}/{}",
                        message["packageId"].as_str().unwrap_or_default(),
                        message["stickerId"].as_str().unwrap_or_default()
                    )),
                    url: None,
                    mime_type: None,
                    size: None,
                    name: None,
                    ..Default::default()
                }),
                _ => m.text = text(&message["text"]),
            }
            out.push(m);
        }
        Ok(Outcome::Store(out))
    }
}
