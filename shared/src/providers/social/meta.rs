//! Meta's Graph API webhooks: WhatsApp Cloud API, Messenger and Instagram messaging, at `/meta`.
//!
//! - Subscription handshake: `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`,
//!   answered with the challenge when the token is the secret's `verify_token` option, 403
//!   otherwise.
//! - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, body)>` over the bytes as sent
//!   (Meta escapes non-ASCII as `\uXXXX`; re-serialised JSON would not match).
//! - One request carries many entries and many messages: each becomes its own message.
//! - WhatsApp: `wa_id` kept as given, its E.164 form as the phone; the business-scoped user id
//!   (`user_id`, from 2026) is the customer key where present. Statuses become `kind: status`.
//! - Messenger and Instagram: messages, attachments, quick replies, postbacks, story replies
//!   and mentions, reactions; echoes of the business's own messages are not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, Message, Party, StatusUpdate,
    Visibility,
};
use crate::secrets::KeyKind;
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm, Encoding, HmacScheme, Part, Scheme};

pub struct Meta;

#[async_trait]
impl Provider for Meta {
    fn name(&self) -> &'static str {
        "meta"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn handshake(
        &self,
        req: &WebhookRequest,
        options: &Map<String, Value>,
    ) -> Option<Result<Reply, GatewayError>> {
        if req.method != Method::GET {
            return None;
        }
        let query = req.query();
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // A blank token is refused when the secret is loaded; never compare with one.
        let expected = options
            .get("verify_token")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty());
        let given = get("hub.verify_token").unwrap_or_default();
        let ok = get("hub.mode") == Some("subscribe")
            && expected.is_some_and(|t| verify::ct_eq(t.as_bytes(), given.as_bytes()));
        Some(match (ok, get("hub.challenge")) {
            (true, Some(challenge)) => Ok(Reply::text(StatusCode::OK, challenge)),
            _ => Err(GatewayError::HandshakeRefused),
        })
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-hub-signature-256",
            prefix: "sha256=",
            separator: None,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            signed: &[Part::Body],
            timestamp: None,
            key: KeyKind::Secret,
        })
    }

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        secret.check_keys(KeyKind::Secret)?;
        secret.check_option("verify_token")
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let entries = body["entry"]
            .as_array()
            .ok_or_else(|| GatewayError::malformed("missing entry array"))?;
        let mut messages = Vec::new();
        for entry in entries {
            match body["object"].as_str() {
                Some("whatsapp_business_account") => {
                    for change in array(&entry["changes"]) {
                        // Meta's dashboard test samples may leave `field` out.
                        let carries_messages = change["field"] == "messages"
                            || (change["field"].is_null()
                                && change["value"]["messaging_product"] == "whatsapp");
                        if carries_messages {
                            whatsapp(ctx, &change["value"], &mut messages)?;
                        }
                    }
                }
                Some("page") | Some("instagram") => {
                    for event in array(&entry["messaging"]) {
                        if event["delivery"].is_object() || event["read"].is_object() {
                            messages.extend(receipts(ctx, event));
                        } else if let Some(m) = messaging(ctx, event)? {
                            messages.push(m);
                        }
                    }
                    for change in array(&entry["changes"]) {
                        if let Some(m) = instagram_change(ctx, entry, change) {
                            messages.push(m);
                        }
                    }
                }
                _ => return Err(GatewayError::malformed("unknown object type")),
            }
        }
        Ok(Outcome::Store(messages))
    }
}

fn array(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn required<'a>(value: &'a Value, what: &'static str) -> Result<&'a str, GatewayError> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GatewayError::malformed(format!("missing field {what}")))
}

fn unix_secs(value: &Value) -> Option<DateTime<Utc>> {
    let secs = value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or(value.as_i64())?;
    DateTime::from_timestamp(secs, 0)
}

fn unix_millis(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(value.as_i64()?)
}

/// The WhatsApp customer: `wa_id` as given, its E.164 form, the profile name, and the
/// business-scoped user id as the key when the webhook carries one.
fn wa_customer(ctx: &Context, value: &Value, wa_id: &str) -> Party {
    let contact = array(&value["contacts"])
        .iter()
        .find(|c| c["wa_id"] == wa_id || c["user_id"] == wa_id);
    let mut party = ctx.phone_party(wa_id);
    if let Some(contact) = contact {
        party.display_name = text(&contact["profile"]["name"]);
        if let Some(user_id) = text(&contact["user_id"]) {
            party.key = format!("{}:{}:{user_id}", ctx.channel, ctx.provider);
        }
    }
    party
}

fn whatsapp(ctx: &Context, value: &Value, out: &mut Vec<Message>) -> Result<(), GatewayError> {
    let business_id = required(&value["metadata"]["phone_number_id"], "phone_number_id")?;
    let mut business = ctx.party(business_id);
    business.phone =
        text(&value["metadata"]["display_phone_number"]).and_then(|n| crate::identity::e164(&n));
    for msg in array(&value["messages"]) {
        let id = required(&msg["id"], "messages.id")?;
        let from = msg["from"]
            .as_str()
            .or(msg["from_user_id"].as_str())
            .ok_or_else(|| GatewayError::malformed("missing field messages.from"))?;
        let customer = wa_customer(ctx, value, from);
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            id,
            id,
            customer,
            business.clone(),
        );
        m.sent_at = unix_secs(&msg["timestamp"]);
        m.visibility = Some(Visibility::Private);
        m.reply_to = text(&msg["context"]["id"]);
        let kind = msg["type"].as_str().unwrap_or("unknown");
        let part = &msg[kind];
        match kind {
            "text" => m.text = text(&part["body"]),
            "image" | "audio" | "video" | "document" | "sticker" => {
                m.text = text(&part["caption"]);
                m.attachments.push(Attachment {
                    kind: match kind {
                        "image" => AttachmentKind::Image,
                        "audio" => AttachmentKind::Audio,
                        "video" => AttachmentKind::Video,
                        "sticker" => AttachmentKind::Sticker,
                        _ => AttachmentKind::File,
                    },
                    id: text(&part["id"]),
                    url: text(&part["url"]),
                    mime_type: text(&part["mime_type"]),
                    size: None,
                    name: text(&part["filename"]),
                    ..Default::default()
                });
            }
            "location" => m.attachments.push(Attachment {
                kind: AttachmentKind::Location,
                id: None,
                url: Some(format!("geo:{},{}", part["latitude"], part["longitude"])),
                mime_type: None,
                size: None,
                name: text(&part["name"]).or_else(|| text(&part["address"])),
                ..Default::default()
            }),
            "contacts" => {
                for contact in array(part) {
                    m.attachments.push(Attachment {
                        kind: AttachmentKind::Contact,
                        id: None,
                        url: array(&contact["phones"])
                            .first()
                            .and_then(|p| text(&p["phone"]))
                            .map(|p| format!("tel:{p}")),
                        mime_type: None,
                        size: None,
                        name: text(&contact["name"]["formatted_name"]),
                        ..Default::default()
                    });
                }
            }
            "interactive" => {
                let reply = &part[part["type"].as_str().unwrap_or("button_reply")];
                m.text = text(&reply["title"]);
                m.postback = text(&reply["id"]);
            }
            "button" => {
                m.text = text(&part["text"]);
                m.postback = text(&part["payload"]);
            }
            "reaction" => {
                m.reaction = Some(part["emoji"].as_str().unwrap_or_default().to_string());
                m.reply_to = text(&part["message_id"]);
            }
            // Something the customer sent that the Cloud API cannot carry (a poll, a view-once
            // photo): still a contact, kept as one attachment the API could not deliver,
            // named by Meta's error.
            "unsupported" => m.attachments.push(Attachment {
                kind: AttachmentKind::Other,
                name: array(&msg["errors"])
                    .first()
                    .and_then(|e| text(&e["title"]).or_else(|| text(&e["message"])))
                    .or_else(|| Some("unsupported message type".into())),
                ..Default::default()
            }),
            // `system` (number or user id changed), `order`, ...: kept with the raw payload;
            // the text says what it was.
            _ => m.text = text(&part["body"]),
        }
        out.push(m);
    }
    for status in array(&value["statuses"]) {
        let id = required(&status["id"], "statuses.id")?;
        let state = required(&status["status"], "statuses.status")?;
        let recipient = status["recipient_id"]
            .as_str()
            .or(status["recipient_user_id"].as_str())
            .ok_or_else(|| GatewayError::malformed("missing field statuses.recipient_id"))?;
        let event_key = format!("{id}:{state}");
        let customer = wa_customer(ctx, value, recipient);
        let mut m = ctx.message(
            Kind::Status,
            Direction::Outbound,
            id,
            &event_key,
            customer,
            business.clone(),
        );
        m.sent_at = unix_secs(&status["timestamp"]);
        let error = array(&status["errors"]).first();
        m.status = Some(StatusUpdate {
            state: match state {
                "sent" => DeliveryState::Sent,
                "delivered" => DeliveryState::Delivered,
                "read" => DeliveryState::Read,
                "failed" => DeliveryState::Failed,
                _ => DeliveryState::Unknown,
            },
            provider_state: state.to_string(),
            error_code: error.map(|e| e["code"].to_string()),
            error_message: error.and_then(|e| text(&e["title"])),
        });
        out.push(m);
    }
    Ok(())
}

/// Messenger and Instagram delivery and read receipts, as statuses of the page's messages:
/// one per message id they name, or one for the watermark (every message sent before it) when
/// they name none (Messenger's reads). A receipt without its customer (Instagram sends some
/// reads without a sender) cannot be placed and is dropped.
fn receipts(ctx: &Context, event: &Value) -> Vec<Message> {
    let (state, receipt, word) = if event["delivery"].is_object() {
        (DeliveryState::Delivered, &event["delivery"], "delivery")
    } else {
        (DeliveryState::Read, &event["read"], "read")
    };
    let (Some(customer), Some(page)) = (
        text(&event["sender"]["id"]),
        text(&event["recipient"]["id"]),
    ) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = array(&receipt["mids"]).iter().filter_map(text).collect();
    ids.extend(text(&receipt["mid"]));
    if ids.is_empty()
        && let Some(watermark) = receipt["watermark"].as_i64()
    {
        ids.push(format!("watermark:{watermark}"));
    }
    ids.into_iter()
        .map(|id| {
            let mut m = ctx.message(
                Kind::Status,
                Direction::Outbound,
                &id,
                &format!("{id}:{word}:{customer}"),
                ctx.party(&customer),
                ctx.party(&page),
            );
            m.sent_at = unix_millis(&event["timestamp"]);
            m.visibility = Some(Visibility::Private);
            m.status = Some(StatusUpdate {
                state,
                provider_state: word.to_string(),
                error_code: None,
                error_message: None,
            });
            m
        })
        .collect()
}

/// A Messenger or Instagram `messaging` event; `None` for echoes and events not kept.
fn messaging(ctx: &Context, event: &Value) -> Result<Option<Message>, GatewayError> {
    let message = &event["message"];
    if message["is_echo"] == true {
        return Ok(None);
    }
    let sender = required(&event["sender"]["id"], "sender.id")?;
    let recipient = required(&event["recipient"]["id"], "recipient.id")?;
    let (id, event_key) = if message.is_object() {
        let mid = required(&message["mid"], "message.mid")?;
        (mid.to_string(), mid.to_string())
    } else if event["postback"].is_object() {
        let postback = &event["postback"];
        match text(&postback["mid"]) {
            Some(mid) => (mid.clone(), mid),
            // Without a mid, the sender and the time tell two postbacks apart.
            None => {
                let id = format!("postback-{}", event["timestamp"]);
                (id, format!("postback-{sender}-{}", event["timestamp"]))
            }
        }
    } else if event["reaction"].is_object() {
        let mid = required(&event["reaction"]["mid"], "reaction.mid")?;
        let action = event["reaction"]["action"].as_str().unwrap_or("react");
        // Reacting again, or changing 👍 to ❤️, is a new event: the emoji and the time are
        // part of its key.
        let emoji = event["reaction"]["emoji"].as_str().unwrap_or_default();
        (
            mid.to_string(),
            format!(
                "{mid}:reaction:{action}:{emoji}:{sender}:{}",
                event["timestamp"]
            ),
        )
    } else {
        return Ok(None);
    };
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        &id,
        &event_key,
        ctx.party(sender),
        ctx.party(recipient),
    );
    m.sent_at = unix_millis(&event["timestamp"]);
    m.visibility = Some(Visibility::Private);
    if message.is_object() {
        m.text = text(&message["text"]);
        m.postback = text(&message["quick_reply"]["payload"]);
        m.reply_to = text(&message["reply_to"]["mid"]);
        m.post_id = text(&message["reply_to"]["story"]["id"]);
        for attachment in array(&message["attachments"]) {
            let kind = attachment["type"].as_str().unwrap_or_default();
            if kind == "story_mention" {
                m.post_id = text(&attachment["payload"]["id"]).or(m.post_id.take());
            }
            m.attachments.push(Attachment {
                kind: match kind {
                    "image" => AttachmentKind::Image,
                    "audio" => AttachmentKind::Audio,
                    "video" => AttachmentKind::Video,
                    "file" => AttachmentKind::File,
                    "location" => AttachmentKind::Location,
                    _ => AttachmentKind::Other,
                },
                id: None,
                url: text(&attachment["payload"]["url"]),
                mime_type: None,
                size: None,
                name: text(&attachment["title"]),
                ..Default::default()
            });
        }
    } else if event["postback"].is_object() {
        m.text = text(&event["postback"]["title"]);
        m.postback = text(&event["postback"]["payload"]);
    } else {
        let reaction = &event["reaction"];
        m.reaction = Some(if reaction["action"] == "unreact" {
            String::new()
        } else {
            reaction["emoji"].as_str().unwrap_or_default().to_string()
        });
        m.reply_to = Some(id);
    }
    Ok(Some(m))
}

/// Instagram `comments` and `mentions` changes: public messages on a post.
fn instagram_change(ctx: &Context, entry: &Value, change: &Value) -> Option<Message> {
    let field = change["field"].as_str()?;
    if field != "comments" && field != "mentions" {
        return None;
    }
    let value = &change["value"];
    let id = text(&value["id"]).or_else(|| text(&value["comment_id"]))?;
    let from = &value["from"];
    let mut customer = ctx.party(text(&from["id"]).unwrap_or_else(|| "unknown".into()));
    customer.handle = text(&from["username"]);
    let business = ctx.party(text(&entry["id"])?);
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        &id,
        &id,
        customer,
        business,
    );
    m.sent_at = unix_secs(&entry["time"]);
    m.visibility = Some(Visibility::Public);
    m.text = text(&value["text"]);
    m.post_id = text(&value["media"]["id"]).or_else(|| text(&value["media_id"]));
    m.reply_to = text(&value["parent_id"]);
    Some(m)
}
