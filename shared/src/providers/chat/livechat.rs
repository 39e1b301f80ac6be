//! LiveChat (Text platform) webhooks, at `/livechat`.
//!
//! LiveChat signs nothing: every body carries the webhook's `secret_key`, compared in constant
//! time with the configured keys. `incoming_event` messages and files from a customer, and the
//! customer's messages in the thread of an `incoming_chat`, are stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::GatewayError;
use crate::identity;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{id_text as text, parse_json};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Message, Visibility};
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct LiveChat;

#[async_trait]
impl Provider for LiveChat {
    fn name(&self) -> &'static str {
        "livechat"
    }

    fn scheme(&self) -> Scheme {
        // The secret is a field of the body, read alone before anything else is.
        Scheme::Token(TokenScheme {
            at: &[TokenAt::JsonField(&["secret_key"])],
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let payload = &body["payload"];
        let organization = text(&body["organization_id"])
            .or_else(|| text(&body["license_id"]))
            .unwrap_or_else(|| "livechat".into());
        let messages = match body["action"].as_str() {
            Some("incoming_event") => {
                let chat = text(&payload["chat_id"]).unwrap_or_default();
                event(ctx, &organization, &chat, &payload["event"], None)?
                    .into_iter()
                    .collect()
            }
            Some("incoming_chat") => {
                let chat = &payload["chat"];
                let chat_id = text(&chat["id"]).unwrap_or_default();
                let customers: Vec<&Value> = chat["users"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|u| u["type"] == "customer")
                    .collect();
                let mut out = Vec::new();
                for e in chat["thread"]["events"].as_array().into_iter().flatten() {
                    let author = e["author_id"].as_str();
                    if let Some(user) = customers.iter().find(|u| u["id"].as_str() == author) {
                        out.extend(event(ctx, &organization, &chat_id, e, Some(user))?);
                    }
                }
                out
            }
            _ => Vec::new(),
        };
        Ok(Outcome::Store(messages))
    }
}

/// A chat event from a customer; agents' events (author ids that are e-mail addresses, the
/// agents' ids in LiveChat) are not stored.
fn event(
    ctx: &Context,
    organization: &str,
    chat: &str,
    e: &Value,
    user: Option<&&Value>,
) -> Result<Option<Message>, GatewayError> {
    let kind = e["type"].as_str().unwrap_or_default();
    if kind != "message" && kind != "file" {
        return Ok(None);
    }
    let author = text(&e["author_id"])
        .ok_or_else(|| GatewayError::malformed("missing field event.author_id"))?;
    if user.is_none() && author.contains('@') {
        return Ok(None);
    }
    let id = text(&e["id"]).ok_or_else(|| GatewayError::malformed("missing field event.id"))?;
    let mut customer = ctx.party(&author);
    if let Some(user) = user {
        customer.display_name = text(&user["name"]);
        customer.email = user["email"].as_str().and_then(identity::normalise_email);
        customer.key = customer.identity_key(ctx.channel, ctx.provider);
    }
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        &id,
        &id,
        customer,
        ctx.party(organization),
    );
    m.sent_at = text(&e["created_at"])
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    m.visibility = Some(Visibility::Private);
    m.post_id = Some(chat.to_string()).filter(|c| !c.is_empty());
    if kind == "file" {
        m.attachments.push(Attachment {
            kind: text(&e["content_type"]).map_or(AttachmentKind::File, |mime| {
                AttachmentKind::from_mime(&mime)
            }),
            id: None,
            url: text(&e["url"]),
            mime_type: text(&e["content_type"]),
            size: e["size"].as_u64(),
            name: text(&e["name"]),
            ..Default::default()
        });
    } else {
        m.text = text(&e["text"]);
    }
    Ok(Some(m))
}
