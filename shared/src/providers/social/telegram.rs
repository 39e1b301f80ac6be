//! Telegram Bot API webhooks, at `/telegram`.
//!
//! Telegram echoes the webhook's `secret_token` in `X-Telegram-Bot-Api-Secret-Token`; it is
//! compared in constant time with the configured keys. Message ids are unique only within a
//! chat, and an edit keeps the id, so `update_id` is the provider message id. `message`,
//! `edited_message`, `channel_post` and `edited_channel_post` are stored, with photos,
//! documents, voice, audio, video, stickers, locations and contacts. The business endpoint is
//! the bot. Updates do not name it and `update_id`s count per bot, so a deployment serving
//! several bots sets each one's webhook URL with `?bot=<its username>`: the bot is then the
//! business endpoint (`telegram-bot:<username>`) and scopes the ids. Without it, one bot
//! (`telegram-bot`).

use async_trait::async_trait;
use chrono::DateTime;
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{id_text, parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct Telegram;

/// The business endpoint: updates do not name the bot they are for.
const BOT: &str = "telegram-bot";

/// The bot named by the webhook URL's `bot` parameter (a Telegram username: 5 to 32 of
/// `[A-Za-z0-9_]`), if any.
fn bot(req: &WebhookRequest) -> Result<Option<String>, GatewayError> {
    let Some((_, name)) = req.query().into_iter().find(|(k, _)| k == "bot") else {
        return Ok(None);
    };
    let valid = (5..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(GatewayError::malformed(
            "the bot parameter is not a Telegram username",
        ));
    }
    Ok(Some(name.to_ascii_lowercase()))
}

fn file(kind: AttachmentKind, value: &Value) -> Attachment {
    Attachment {
        kind,
        id: text(&value["file_id"]),
        url: None,
        mime_type: text(&value["mime_type"]),
        size: value["file_size"].as_u64(),
        name: text(&value["file_name"]),
        ..Default::default()
    }
}

#[async_trait]
impl Provider for Telegram {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Token(TokenScheme {
            at: &[TokenAt::Header("x-telegram-bot-api-secret-token")],
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let bot = bot(req)?;
        let update: Value = parse_json(&req.body)?;
        let update_id = id_text(&update["update_id"])
            .ok_or_else(|| GatewayError::malformed("missing field update_id"))?;
        let Some(msg) = [
            "message",
            "edited_message",
            "channel_post",
            "edited_channel_post",
        ]
        .iter()
        .map(|k| &update[*k])
        .find(|v| v.is_object()) else {
            // callback queries, polls, member updates: acknowledged, not stored.
            return Ok(Outcome::Store(Vec::new()));
        };
        let chat = &msg["chat"];
        let from = &msg["from"];
        // Channel posts have no sender: the channel is the other party.
        let sender = id_text(&from["id"])
            .or_else(|| id_text(&chat["id"]))
            .ok_or_else(|| GatewayError::malformed("missing fields from.id and chat.id"))?;
        let mut customer = ctx.party(sender);
        customer.handle = text(&from["username"]).or_else(|| text(&chat["username"]));
        customer.display_name = match (text(&from["first_name"]), text(&from["last_name"])) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (first, _) => first.or_else(|| text(&chat["title"])),
        };
        let (event_key, business) = match &bot {
            Some(bot) => (format!("{bot}:{update_id}"), format!("{BOT}:{bot}")),
            None => (update_id.clone(), BOT.to_string()),
        };
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &update_id,
            &event_key,
            customer,
            ctx.party(business),
        );
        m.sent_at = msg["edit_date"]
            .as_i64()
            .or(msg["date"].as_i64())
            .and_then(|s| DateTime::from_timestamp(s, 0));
        let private = chat["type"] == "private";
        m.visibility = Some(if private {
            Visibility::Private
        } else {
            Visibility::Public
        });
        if !private {
            m.post_id = id_text(&chat["id"]);
        }
        m.reply_to = id_text(&msg["reply_to_message"]["message_id"]);
        m.text = text(&msg["text"]).or_else(|| text(&msg["caption"]));
        if let Some(largest) = msg["photo"].as_array().and_then(|sizes| sizes.last()) {
            m.attachments.push(file(AttachmentKind::Image, largest));
        }
        for (field, kind) in [
            ("document", AttachmentKind::File),
            ("voice", AttachmentKind::Audio),
            ("audio", AttachmentKind::Audio),
            ("video", AttachmentKind::Video),
            ("sticker", AttachmentKind::Sticker),
        ] {
            if msg[field].is_object() {
                m.attachments.push(file(kind, &msg[field]));
            }
        }
        if msg["location"].is_object() {
            m.attachments.push(Attachment {
                kind: AttachmentKind::Location,
                id: None,
                url: Some(format!(
                    "geo:{},{}",
                    msg["location"]["latitude"], msg["location"]["longitude"]
                )),
                mime_type: None,
                size: None,
                name: None,
                ..Default::default()
            });
        }
        if msg["contact"].is_object() {
            m.attachments.push(Attachment {
                kind: AttachmentKind::Contact,
                id: None,
                url: text(&msg["contact"]["phone_number"]).map(|p| format!("tel:{p}")),
                mime_type: None,
                size: None,
                name: text(&msg["contact"]["first_name"]),
                ..Default::default()
            });
        }
        Ok(Outcome::Store(vec![m]))
    }
}
