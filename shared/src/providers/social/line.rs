//! LINE Messaging API webhooks, at `/line`.
//!
//! `X-Line-Signature` is the base64 HMAC-SHA256 of the body with the channel secret. The
//! console's "Verify" sends a signed body whose `events` array is empty: it gets 200. Message
//! events (text, image, video, audio, file, location, sticker) are stored; follow, unfollow,
//! join, leave, postback-less and other events are acknowledged and not stored.

use async_trait::async_trait;
use chrono::DateTime;
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme};

pub struct Line;

#[async_trait]
impl Provider for Line {
    fn name(&self) -> &'static str {
        "line"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-line-signature",
            prefix: "",
            separator: None,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Base64,
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
        let events: Vec<&Value> = body["events"]
            .as_array()
            .ok_or_else(|| GatewayError::malformed("missing events array"))?
            .iter()
            .filter(|event| !is_console_check(event))
            .collect();
        if events.is_empty() {
            // The console's verify request: empty today, dummy events in its older form.
            return Ok(Outcome::Store(Vec::new()));
        }
        // The bot's user id; webhooks from before 2019 do not name it.
        let bot = text(&body["destination"]).unwrap_or_else(|| "line-bot".into());
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

/// An event of the console's older verify request: two dummy messages from user
/// `Udeadbeefdeadbeefdeadbeefdeadbeef` with reply tokens of all `0`s and all `f`s, which no
/// customer sent.
fn is_console_check(event: &Value) -> bool {
    let token = event["replyToken"].as_str().unwrap_or_default();
    let dummy_token =
        token.len() == 32 && (token.bytes().all(|b| b == b'0') || token.bytes().all(|b| b == b'f'));
    dummy_token || event["source"]["userId"] == "Udeadbeefdeadbeefdeadbeefdeadbeef"
}
