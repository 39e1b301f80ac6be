//! Zendesk Support webhooks, at `/zendesk`.
//!
//! `X-Zendesk-Webhook-Signature` is the base64 HMAC-SHA256 of the
//! `X-Zendesk-Webhook-Signature-Timestamp` value followed by the body, with the webhook's
//! signing secret; the timestamp (RFC 3339) must be within the window. Event-subscription
//! webhooks whose comment comes from the requester (not staff) are stored: a ticket's comments
//! form one conversation. Other events are acknowledged and not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{id_text as text, parse_json};
use crate::request::WebhookRequest;
use crate::schema::{Direction, Kind, Visibility};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme, TimeFormat};

pub struct Zendesk;

#[async_trait]
impl Provider for Zendesk {
    fn name(&self) -> &'static str {
        "zendesk"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-zendesk-webhook-signature",
            prefix: "",
            separator: None,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Base64,
            signed: &[Part::Timestamp, Part::Body],
            timestamp: Some(("x-zendesk-webhook-signature-timestamp", TimeFormat::Rfc3339)),
            key: KeyKind::Secret,
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        if body["type"] != "zen:event-type:ticket.comment_added" {
            return Ok(Outcome::Store(Vec::new()));
        }
        let comment = &body["event"]["comment"];
        if comment["author"]["is_staff"] == true || comment["is_public"] == false {
            return Ok(Outcome::Store(Vec::new()));
        }
        let ticket = &body["detail"];
        let id = text(&comment["id"])
            .ok_or_else(|| GatewayError::malformed("missing field event.comment.id"))?;
        let author = text(&comment["author"]["id"])
            .or_else(|| text(&ticket["requester_id"]))
            .ok_or_else(|| GatewayError::malformed("missing field event.comment.author.id"))?;
        let mut customer = ctx.party(author);
        customer.display_name = text(&comment["author"]["name"]);
        let account = text(&body["account_id"]).unwrap_or_else(|| "zendesk".into());
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &id,
            &id,
            customer,
            ctx.party(account),
        );
        m.text = text(&comment["body"]);
        m.sent_at = text(&body["time"])
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        m.visibility = Some(Visibility::Private);
        m.post_id = text(&ticket["id"]);
        Ok(Outcome::Store(vec![m]))
    }
}
