//! Intercom webhooks, at `/intercom`.
//!
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`. The `ping` topic sent when a
//! subscription is saved is answered 200. `conversation.user.created` stores the customer's
//! opening message and `conversation.user.replied` the customer's newest part; admin and bot
//! parts are not customer messages. Intercom sends HTML bodies: the text keeps their words.

use async_trait::async_trait;
use chrono::DateTime;
use serde_json::Value;

use crate::error::GatewayError;
use crate::identity;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::html::html_to_text;
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Party, Visibility};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme};

pub struct Intercom;

/// The customer who wrote `author`'s part. API versions before 2.0 name only the author's
/// type and id in a part and describe the person in the conversation's `user`.
fn customer(ctx: &Context, author: &Value, conversation: &Value) -> Result<Party, GatewayError> {
    let id = text(&author["id"])
        .ok_or_else(|| GatewayError::malformed("a part without its author's id"))?;
    let user = &conversation["user"];
    let described = if text(&user["id"]).as_deref() == Some(id.as_str()) {
        user
    } else {
        author
    };
    let mut party = ctx.party(id);
    party.email = author["email"]
        .as_str()
        .or(described["email"].as_str())
        .and_then(identity::normalise_email);
    party.display_name = text(&author["name"]).or_else(|| text(&described["name"]));
    party.key = party.identity_key(ctx.channel, ctx.provider);
    Ok(party)
}

#[async_trait]
impl Provider for Intercom {
    fn name(&self) -> &'static str {
        "intercom"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-hub-signature",
            prefix: "sha1=",
            separator: None,
            algorithm: Algorithm::Sha1,
            encoding: Encoding::Hex,
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
        let topic = body["topic"].as_str().unwrap_or_default();
        let conversation = &body["data"]["item"];
        let app = text(&body["app_id"]).unwrap_or_else(|| "intercom".into());
        let (part_id, part) = match topic {
            "conversation.user.created" => {
                let id = text(&conversation["id"])
                    .ok_or_else(|| GatewayError::malformed("missing field data.item.id"))?;
                // `source` since API 2.0, `conversation_message` before.
                let source = match &conversation["source"] {
                    source @ Value::Object(_) => source,
                    _ => &conversation["conversation_message"],
                };
                if !source.is_object() {
                    return Err(GatewayError::malformed(
                        "a new conversation without its first message",
                    ));
                }
                (format!("{id}:source"), source)
            }
            "conversation.user.replied" => {
                let parts = conversation["conversation_parts"]["conversation_parts"].as_array();
                let Some(part) = parts.into_iter().flatten().rev().find(|p| {
                    matches!(
                        p["author"]["type"].as_str(),
                        Some("user" | "lead" | "contact")
                    )
                }) else {
                    return Ok(Outcome::Store(Vec::new()));
                };
                (
                    text(&part["id"])
                        .ok_or_else(|| GatewayError::malformed("missing field part id"))?,
                    part,
                )
            }
            // ping, admin replies, assignments, closes: acknowledged, nothing to store.
            _ => return Ok(Outcome::Store(Vec::new())),
        };
        // The part's own id where it has one (a first message's `source` does); the event key
        // stays the part id it always was, so ids do not change.
        let provider_id = text(&part["id"]).unwrap_or_else(|| part_id.clone());
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &provider_id,
            &part_id,
            customer(ctx, &part["author"], conversation)?,
            ctx.party(app),
        );
        m.text = text(&part["body"]).map(|html| html_to_text(&html));
        m.sent_at = part["created_at"]
            .as_i64()
            .or(conversation["created_at"].as_i64())
            .and_then(|s| DateTime::from_timestamp(s, 0));
        m.visibility = Some(Visibility::Private);
        m.post_id = text(&conversation["id"]);
        for a in part["attachments"].as_array().into_iter().flatten() {
            m.attachments.push(Attachment {
                kind: text(&a["content_type"]).map_or(AttachmentKind::File, |mime| {
                    AttachmentKind::from_mime(&mime)
                }),
                id: None,
                url: text(&a["url"]),
                mime_type: text(&a["content_type"]),
                size: a["filesize"].as_u64(),
                name: text(&a["name"]),
                ..Default::default()
            });
        }
        Ok(Outcome::Store(vec![m]))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_becomes_text() {
        assert_eq!(
            crate::providers::html::html_to_text(
                "<p>Hello &amp; <b>thanks</b></p><p>Order&nbsp;4411</p>"
            ),
            "Hello & thanks\nOrder 4411"
        );
    }
}
