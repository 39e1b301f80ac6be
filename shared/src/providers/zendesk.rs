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

use super::{id_text as text, parse_json};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::schema::{Direction, Kind, Visibility};
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct Zendesk;

#[async_trait]
impl Provider for Zendesk {
    fn name(&self) -> &'static str {
        "zendesk"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let signature = req
            .header("x-zendesk-webhook-signature")
            .ok_or(AuthError::Missing)?;
        let timestamp = req
            .header("x-zendesk-webhook-signature-timestamp")
            .ok_or(AuthError::Missing)?;
        secret.accept_any(|key| {
            let mac = verify::hmac(
                Algorithm::Sha256,
                key.as_bytes(),
                &[timestamp.as_bytes(), &req.body],
            );
            verify::eq_base64(&mac, signature)
        })?;
        let at = DateTime::parse_from_rfc3339(timestamp).map_err(|_| AuthError::Invalid)?;
        verify::check_timestamp(at.timestamp(), now, tolerance_secs)
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
