//! Twilio Programmable Messaging: SMS, MMS and WhatsApp webhooks and status callbacks.
//!
//! Signatures: see [`crate::providers::twilio_signature`] (shared with the voice channel).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};

use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::Fields;
use crate::providers::twilio_signature;
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, Message, StatusUpdate,
};
use crate::secrets::KeyKind;
use crate::secrets::ProviderSecret;
use crate::verify::Scheme;

pub struct Twilio;

#[async_trait]
impl Provider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
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

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        twilio_signature::check_secret(secret)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _window_secs: i64,
    ) -> Result<(), AuthError> {
        twilio_signature::verify_signature(req, secret)
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let f = Fields::of(req)?;
        let sid = f
            .get("MessageSid")
            .or_else(|| f.get("SmsMessageSid"))
            .or_else(|| f.get("SmsSid"))
            .ok_or_else(|| GatewayError::malformed("missing field MessageSid"))?;
        let from = f.require("From")?;
        let to = f.require("To")?;
        let message = match f.get("MessageStatus") {
            Some(state) => status(ctx, &f, sid, state, from, to),
            None => inbound(ctx, &f, sid, from, to)?,
        };
        Ok(Outcome::Store(vec![message]))
    }

    /// An empty TwiML document: acknowledged, no automatic reply.
    fn ack(&self) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: "text/xml",
            body: r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#.into(),
        }
    }
}

fn inbound(
    ctx: &Context,
    f: &Fields,
    sid: &str,
    from: &str,
    to: &str,
) -> Result<Message, GatewayError> {
    let mut customer = ctx.phone_party(from);
    customer.display_name = f.get("ProfileName").map(str::to_string);
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        sid,
        sid,
        customer,
        ctx.phone_party(to),
    );
    m.text = f.get("Body").map(str::to_string);
    m.reply_to = f.get("OriginalRepliedMessageSid").map(str::to_string);
    let count: usize = f
        .get("NumMedia")
        .unwrap_or("0")
        .parse()
        .map_err(|_| GatewayError::malformed("NumMedia is not a number"))?;
    for i in 0..count.min(10) {
        let Some(url) = f.get(&format!("MediaUrl{i}")) else {
            return Err(GatewayError::malformed(format!(
                "missing field MediaUrl{i}"
            )));
        };
        let mime = f.get(&format!("MediaContentType{i}"));
        m.attachments.push(Attachment {
            kind: mime.map_or(AttachmentKind::Other, AttachmentKind::from_mime),
            id: None,
            url: Some(url.to_string()),
            mime_type: mime.map(str::to_string),
            size: None,
            name: None,
            ..Default::default()
        });
    }
    if let (Some(lat), Some(lon)) = (f.get("Latitude"), f.get("Longitude")) {
        m.attachments.push(Attachment {
            kind: AttachmentKind::Location,
            id: None,
            url: Some(format!("geo:{lat},{lon}")),
            mime_type: None,
            size: None,
            name: f.get("Label").map(str::to_string),
            ..Default::default()
        });
    }
    Ok(m)
}

/// A status callback is about a message the business sent: `To` is the customer.
fn status(ctx: &Context, f: &Fields, sid: &str, state: &str, from: &str, to: &str) -> Message {
    let event_key = format!("{sid}:{state}");
    let mut m = ctx.message(
        Kind::Status,
        Direction::Outbound,
        sid,
        &event_key,
        ctx.phone_party(to),
        ctx.phone_party(from),
    );
    m.status = Some(StatusUpdate {
        state: match state {
            "accepted" | "scheduled" | "queued" | "sending" => DeliveryState::Queued,
            "sent" => DeliveryState::Sent,
            "delivered" => DeliveryState::Delivered,
            "read" => DeliveryState::Read,
            "failed" | "undelivered" | "canceled" => DeliveryState::Failed,
            _ => DeliveryState::Unknown,
        },
        provider_state: state.to_string(),
        error_code: f.get("ErrorCode").map(str::to_string),
        error_message: f.get("ErrorMessage").map(str::to_string),
    });
    m
}
