//! A company's own chat widget, or any sender following the Standard Webhooks specification,
//! at `/webchat`.
//!
//! Headers `webhook-id`, `webhook-timestamp` (Unix seconds, within the window) and
//! `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries (several during a key
//! rotation) over `{id}.{timestamp}.{body}`, keyed with the base64 secret after its `whsec_`
//! prefix. The body (documented in the README):
//!
//! ```json
//! { "type": "message", "site": "acme-web",
//!   "visitor": { "id": "v-123", "email": "jane@example.com", "name": "Jane" },
//!   "message": { "id": "m-1", "text": "Hello", "sent_at": "2026-11-23T12:00:00Z",
//!                "attachments": [{ "url": "https://…", "mime_type": "image/png", "name": "a.png", "size": 1234 }] } }
//! ```

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::GatewayError;
use crate::identity;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::parse_json;
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme, TimeFormat};

pub struct WebChat;

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type")]
    kind: String,
    site: Option<String>,
    /// Absent from other event types, which a Standard Webhooks sender may send too.
    visitor: Option<Visitor>,
    message: Option<WidgetMessage>,
}

#[derive(Deserialize)]
struct Visitor {
    id: String,
    email: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct WidgetMessage {
    id: String,
    text: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    #[serde(default)]
    attachments: Vec<WidgetAttachment>,
}

#[derive(Deserialize)]
struct WidgetAttachment {
    url: String,
    mime_type: Option<String>,
    name: Option<String>,
    size: Option<u64>,
}

#[async_trait]
impl Provider for WebChat {
    fn name(&self) -> &'static str {
        "webchat"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "webhook-signature",
            prefix: "v1,",
            separator: Some(' '),
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Base64,
            signed: &[
                Part::Header("webhook-id"),
                Part::Text("."),
                Part::Timestamp,
                Part::Text("."),
                Part::Body,
            ],
            timestamp: Some(("webhook-timestamp", TimeFormat::UnixSecs)),
            key: KeyKind::Whsec,
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Body = parse_json(&req.body)?;
        if body.kind != "message" {
            // Other event types (a visitor joined, typing): acknowledged, nothing to keep.
            return Ok(Outcome::Store(Vec::new()));
        }
        let (Some(message), Some(visitor)) = (body.message, body.visitor) else {
            return Err(GatewayError::malformed(
                "a message event without its message or visitor",
            ));
        };
        let mut customer = ctx.party(&visitor.id);
        customer.email = visitor.email.as_deref().and_then(identity::normalise_email);
        customer.display_name = visitor.name;
        customer.key = customer.identity_key(ctx.channel, ctx.provider);
        let site = body.site.unwrap_or_else(|| "webchat".into());
        // Message ids are the site's own (often a per-site sequence): scoped by the site, so two
        // sites' `m-0001` are two messages.
        let event_key = format!("{site}:{}", message.id);
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &message.id,
            &event_key,
            customer,
            ctx.party(site),
        );
        m.text = message.text;
        m.sent_at = message.sent_at;
        m.visibility = Some(Visibility::Private);
        m.attachments = message
            .attachments
            .into_iter()
            .map(|a| Attachment {
                kind: a
                    .mime_type
                    .as_deref()
                    .map_or(AttachmentKind::File, AttachmentKind::from_mime),
                id: None,
                url: Some(a.url),
                mime_type: a.mime_type,
                size: a.size,
                name: a.name,
                ..Default::default()
            })
            .collect();
        Ok(Outcome::Store(vec![m]))
    }
}
