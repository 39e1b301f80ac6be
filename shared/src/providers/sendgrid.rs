//! SendGrid Inbound Parse: multipart posts of the parsed fields, or of the raw MIME message in
//! `email` (`send_raw`).
//!
//! Authenticated with Basic auth credentials in the Parse URL (a key is `user:password`), and,
//! when the secret has a `public_key` (the security policy's base64 DER P-256 key), with the
//! policy's signature: `X-Twilio-Email-Event-Webhook-Signature` = base64 DER ECDSA-SHA256 over
//! `X-Twilio-Email-Event-Webhook-Timestamp` + the raw body, the timestamp within the window.
//! SendGrid retries only 5xx: a refused mail is dropped, so the alarm on rejected signatures
//! matters here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;

use super::mail::{self, InlineFile, Mail};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::secrets::ProviderSecret;
use crate::verify;

pub struct SendGrid;

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// Checks the security policy's ECDSA signature against the base64 DER public key.
pub fn verify_ecdsa(
    req: &WebhookRequest,
    public_key: &str,
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), AuthError> {
    let signature = req.header(SIGNATURE).ok_or(AuthError::Missing)?;
    let timestamp = req.header(TIMESTAMP).ok_or(AuthError::Missing)?;
    verify::check_timestamp(
        verify::parse_unix_secs(Some(timestamp))?,
        now,
        tolerance_secs,
    )?;
    let key = verify::decode_base64(public_key)
        .and_then(|der| VerifyingKey::from_public_key_der(&der).ok())
        .ok_or(AuthError::NotConfigured)?;
    let signature = verify::decode_base64(signature)
        .and_then(|der| Signature::from_der(&der).ok())
        .ok_or(AuthError::Invalid)?;
    let mut signed = Vec::with_capacity(timestamp.len() + req.body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(&req.body);
    key.verify(&signed, &signature)
        .map_err(|_| AuthError::Invalid)
}

#[async_trait]
impl Provider for SendGrid {
    fn name(&self) -> &'static str {
        "sendgrid"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let given = super::deepgram::basic_credentials(req).ok_or(AuthError::Missing)?;
        secret.accept_any(|key| verify::ct_eq(key.as_bytes(), &given))?;
        match secret.option("public_key") {
            Some(public_key) => verify_ecdsa(req, public_key, now, tolerance_secs),
            None => Ok(()),
        }
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        if req.content_type() != "multipart/form-data" {
            return Err(GatewayError::malformed("expected a multipart body"));
        }
        let parts = mail::multipart(req).await?;
        let field = |name: &str| {
            parts
                .iter()
                .find(|p| p.name == name && p.file_name.is_none())
                .map(|p| String::from_utf8_lossy(&p.data).into_owned())
                .filter(|v| !v.is_empty())
        };
        let envelope: Value = field("envelope")
            .and_then(|e| serde_json::from_str(&e).ok())
            .unwrap_or_default();
        let recipient = envelope["to"][0].as_str().map(str::to_string);
        let mut parsed = match parts.iter().find(|p| p.name == "email") {
            Some(raw) => mail::parse_mime(&raw.data)?,
            None => parsed_fields(&parts, &field)?,
        };
        parsed.recipient = recipient.or(parsed.recipient);
        mail::store(ctx, parsed)
    }
}

/// The parsed-fields variant: the raw header block in `headers`, files `attachment1..N`
/// described by `attachment-info`.
fn parsed_fields(
    parts: &[mail::FormPart],
    field: &dyn Fn(&str) -> Option<String>,
) -> Result<Mail, GatewayError> {
    let headers = field("headers").unwrap_or_default();
    // The header block parsed as a message with no body gives the threading headers.
    let head =
        mail::parse_mime(format!("{}\r\n\r\n", headers.trim_end()).as_bytes()).unwrap_or_default();
    let info: Value = field("attachment-info")
        .and_then(|i| serde_json::from_str(&i).ok())
        .unwrap_or_default();
    let from = field("from").unwrap_or_default();
    Ok(Mail {
        from: mail::address_of(&from),
        from_name: mail::name_of(&from),
        recipient: None,
        to: field("to")
            .map(|t| mail::address_list(&t))
            .unwrap_or_default(),
        cc: field("cc")
            .map(|c| mail::address_list(&c))
            .unwrap_or_default(),
        subject: field("subject"),
        message_id: head.message_id,
        in_reply_to: head.in_reply_to,
        references: head.references,
        text: field("text"),
        html: field("html"),
        stripped_text: None,
        sent_at: head.sent_at,
        attachments: parts
            .iter()
            .filter(|p| p.file_name.is_some() && p.name.starts_with("attachment"))
            .map(|p| InlineFile {
                name: info[&p.name]["filename"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| p.file_name.clone()),
                mime_type: info[&p.name]["type"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| p.content_type.clone()),
                data: p.data.clone(),
            })
            .collect(),
    })
}
