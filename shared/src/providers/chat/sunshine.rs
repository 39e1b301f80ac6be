//! Sunshine Conversations (Zendesk messaging) webhooks v2, at `/sunshine`.
//!
//! The integration's webhook secret arrives in the `X-API-Key` header and is compared in
//! constant time. Every `conversation:message` event authored by a user is stored (one request
//! may carry several events); business and bot messages are not. Sunshine checks a new
//! webhook's target with a `HEAD` request, answered 200.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct Sunshine;

#[async_trait]
impl Provider for Sunshine {
    fn name(&self) -> &'static str {
        "sunshine"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::HEAD]
    }

    fn handshake(
        &self,
        req: &WebhookRequest,
        _options: &serde_json::Map<String, Value>,
    ) -> Option<Result<Reply, GatewayError>> {
        (req.method == Method::HEAD).then(|| Ok(Reply::text(StatusCode::OK, "")))
    }

    fn scheme(&self) -> Scheme {
        Scheme::Token(TokenScheme {
            at: &[TokenAt::Header("x-api-key")],
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let app = text(&body["app"]["id"]).unwrap_or_else(|| "sunshine".into());
        let mut out = Vec::new();
        for event in body["events"].as_array().into_iter().flatten() {
            if event["type"] != "conversation:message" {
                continue;
            }
            let payload = &event["payload"];
            let message = &payload["message"];
            let author = &message["author"];
            if author["type"] != "user" {
                continue;
            }
            let id = text(&message["id"])
                .ok_or_else(|| GatewayError::malformed("missing field message.id"))?;
            let user = text(&author["userId"])
                .ok_or_else(|| GatewayError::malformed("missing field author.userId"))?;
            let mut customer = ctx.party(user);
            customer.display_name = text(&author["displayName"]);
            let mut m = ctx.message(
                Kind::Message,
                Direction::Inbound,
                &id,
                &id,
                customer,
                ctx.party(&app),
            );
            m.sent_at = text(&message["received"])
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc));
            m.visibility = Some(Visibility::Private);
            m.post_id = text(&payload["conversation"]["id"]);
            let content = &message["content"];
            m.text = text(&content["text"]);
            // A quick reply or button the user chose carries its payload.
            m.postback = text(&content["payload"]);
            if let Some(url) = text(&content["mediaUrl"]) {
                m.attachments.push(Attachment {
                    kind: text(&content["mediaType"]).map_or(AttachmentKind::File, |mime| {
                        AttachmentKind::from_mime(&mime)
                    }),
                    id: None,
                    url: Some(url),
                    mime_type: text(&content["mediaType"]),
                    size: content["mediaSize"].as_u64(),
                    name: text(&content["altText"]),
                    ..Default::default()
                });
            }
            out.push(m);
        }
        Ok(Outcome::Store(out))
    }
}
