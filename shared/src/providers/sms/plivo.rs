//! Plivo messaging webhooks (inbound SMS/MMS and message status callbacks), Signature V3.
//!
//! `X-Plivo-Signature-V3` is a comma-separated list of base64 HMAC-SHA256 signatures with the
//! Auth Token over `"{base}.{X-Plivo-Signature-V3-Nonce}"`, where base is the public URL
//! without its query, then `?` and the URL's query parameters sorted as `k=v&k=v`; for a POST
//! with parameters, a `.` after a non-empty query and then every POST parameter sorted as
//! `kv` with no separators. `X-Plivo-Signature-Ma-V3` is the main-account variant; either
//! header may match.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};

use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::Fields;
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, Message, StatusUpdate,
};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Algorithm, Scheme};

pub struct Plivo;

/// The text Plivo signs (before the nonce).
pub fn signature_base(url: &str, method: &Method, post: &Fields) -> String {
    let (without_query, query) = url.split_once('?').unwrap_or((url, ""));
    let query: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let sorted_query = Fields(query)
        .sorted_groups()
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join("&");
    let mut base = without_query.to_string();
    let has_post = *method == Method::POST && !post.0.is_empty();
    if !sorted_query.is_empty() || has_post {
        base.push('?');
        base.push_str(&sorted_query);
    }
    if has_post {
        if !sorted_query.is_empty() {
            base.push('.');
        }
        for (k, vs) in post.sorted_groups() {
            for v in vs {
                base.push_str(k);
                base.push_str(v);
            }
        }
    }
    base
}

#[async_trait]
impl Provider for Plivo {
    fn name(&self) -> &'static str {
        "plivo"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    fn signs_url(&self) -> bool {
        true
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _window_secs: i64,
    ) -> Result<(), AuthError> {
        let url = req.public_url.as_deref().ok_or(AuthError::NotConfigured)?;
        let nonce = req
            .header("x-plivo-signature-v3-nonce")
            .ok_or(AuthError::Missing)?;
        let signatures: Vec<&str> = ["x-plivo-signature-v3", "x-plivo-signature-ma-v3"]
            .iter()
            .filter_map(|h| req.header(h))
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if signatures.is_empty() {
            return Err(AuthError::Missing);
        }
        let post = if req.method == Method::POST {
            Fields(req.form().map_err(|_| AuthError::Invalid)?)
        } else {
            Fields::default()
        };
        let base = signature_base(url, &req.method, &post);
        secret.accept_any(|key| {
            let mac = verify::hmac(
                Algorithm::Sha256,
                key.as_bytes(),
                &[base.as_bytes(), b".", nonce.as_bytes()],
            );
            signatures
                .iter()
                .fold(false, |ok, sig| verify::eq_base64(&mac, sig) | ok)
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let f = Fields::of(req)?;
        let uuid = f.require("MessageUUID")?;
        let from = f.require("From")?;
        let to = f.require("To")?;
        let state = f.get("Status").or_else(|| f.get("MessageState"));
        let message = match state {
            Some(state) if f.get("Text").is_none() && f.get("Body").is_none() => {
                status(ctx, &f, uuid, state, from, to)
            }
            _ => inbound(ctx, &f, uuid, from, to),
        };
        if !message.has_content() {
            // Neither a status nor a message with text or media: another kind of callback.
            return Ok(Outcome::Store(Vec::new()));
        }
        Ok(Outcome::Store(vec![message]))
    }

    /// An empty Plivo XML response: acknowledged, no automatic reply.
    fn ack(&self) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: "application/xml",
            body: "<Response></Response>".into(),
        }
    }
}

fn inbound(ctx: &Context, f: &Fields, uuid: &str, from: &str, to: &str) -> Message {
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        uuid,
        uuid,
        ctx.phone_party(from),
        ctx.phone_party(to),
    );
    // SMS text is `Text`; MMS and WhatsApp text is `Body`.
    m.text = f.get("Text").or_else(|| f.get("Body")).map(str::to_string);
    // Media URLs are `Media<n>`; Plivo's documents disagree on whether n starts at 0 or 1.
    let mut media: Vec<(u32, &str)> =
        f.0.iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("Media")?.parse().ok()?;
                (!v.is_empty()).then_some((n, v.as_str()))
            })
            .collect();
    media.sort_unstable();
    m.attachments = media
        .into_iter()
        .map(|(_, url)| Attachment {
            kind: AttachmentKind::Other,
            id: None,
            url: Some(url.to_string()),
            mime_type: None,
            size: None,
            name: None,
            ..Default::default()
        })
        .collect();
    m
}

/// A status callback is about a message the business sent: `To` is the customer.
fn status(ctx: &Context, f: &Fields, uuid: &str, state: &str, from: &str, to: &str) -> Message {
    let event_key = format!("{uuid}:{state}");
    let mut m = ctx.message(
        Kind::Status,
        Direction::Outbound,
        uuid,
        &event_key,
        ctx.phone_party(to),
        ctx.phone_party(from),
    );
    m.status = Some(StatusUpdate {
        state: match state {
            "queued" => DeliveryState::Queued,
            "sent" => DeliveryState::Sent,
            "delivered" => DeliveryState::Delivered,
            "read" => DeliveryState::Read,
            "failed" | "undelivered" | "rejected" => DeliveryState::Failed,
            _ => DeliveryState::Unknown,
        },
        provider_state: state.to_string(),
        error_code: f
            .get("ErrorCode")
            .filter(|c| *c != "000")
            .map(str::to_string),
        error_message: None,
    });
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn base_for_posts_with_and_without_query() {
        let post = fields(&[("To", "2"), ("From", "1")]);
        assert_eq!(
            signature_base("https://h/p", &Method::POST, &post),
            "https://h/p?From1To2"
        );
        assert_eq!(
            signature_base("https://h/p?b=2&a=1", &Method::POST, &post),
            "https://h/p?a=1&b=2.From1To2"
        );
        assert_eq!(
            signature_base("https://h/p?b=2&a=1", &Method::GET, &Fields::default()),
            "https://h/p?a=1&b=2"
        );
        assert_eq!(
            signature_base("https://h/p", &Method::POST, &Fields::default()),
            "https://h/p"
        );
    }
}
