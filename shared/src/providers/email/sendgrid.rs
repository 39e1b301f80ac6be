//! SendGrid Inbound Parse: multipart posts of the parsed fields, or of the raw MIME message in
//! `email` (`send_raw`).
//!
//! Authenticated with Basic auth credentials in the Parse URL (a key is `user:password`), and,
//! when the secret has a `public_key` (the security policy's base64 DER P-256 key), with the
//! policy's signature: `X-Twilio-Email-Event-Webhook-Signature` = base64 DER ECDSA-SHA256 over
//! `X-Twilio-Email-Event-Webhook-Timestamp` + the raw body. SendGrid retries only 5xx, for up
//! to 3 days, and does not say whether a retry is signed afresh (its official verifier checks
//! no time): the timestamp may be up to 3 days and an hour old, so such a retry still passes
//! (a replay is deduplicated). A refused mail is dropped, so the alarm on rejected signatures
//! matters here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde_json::Value;

use super::mail::{self, InlineFile, Mail};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Window};
use crate::request::WebhookRequest;
use crate::schema::AuthVerdict;
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Scheme, TokenAt, TokenScheme};

pub struct SendGrid;

/// Basic credentials from the Parse URL (`https://user:password@…`).
const BASIC: TokenScheme = TokenScheme {
    at: &[TokenAt::Basic],
};
const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// Checks the security policy's ECDSA signature against the base64 DER public key.
pub fn verify_ecdsa(
    req: &WebhookRequest,
    public_key: &str,
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let signature = req.header(SIGNATURE).ok_or(AuthError::Missing)?;
    let timestamp = req.header(TIMESTAMP).ok_or(AuthError::Missing)?;
    verify::check_timestamp(verify::parse_unix_secs(Some(timestamp))?, now, window_secs)?;
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

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::BasicAuth)
    }

    fn window(&self) -> Window {
        Window::Secs(3 * 86_400 + 3600)
    }

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        secret.check_keys(KeyKind::BasicAuth)?;
        match secret.options.get("public_key") {
            None => Ok(()),
            Some(Value::String(key))
                if verify::decode_base64(key)
                    .is_some_and(|der| VerifyingKey::from_public_key_der(&der).is_ok()) =>
            {
                Ok(())
            }
            Some(_) => Err("option public_key is not a base64 DER P-256 public key"),
        }
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        BASIC.verify(req, secret)?;
        match secret.option("public_key") {
            Some(public_key) => verify_ecdsa(req, public_key, now, window_secs),
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
        parsed.envelope_from = envelope["from"].as_str().map(str::to_string);
        parsed.checks = mail::SenderChecks {
            dmarc: None,
            spf: field("SPF").map(|v| mail::verdict(&v)),
            spf_domain: parsed.envelope_from.as_deref().and_then(mail::domain_of),
            dkim: field("dkim").map(|v| dkim_results(&v)).unwrap_or_default(),
        };
        mail::store(ctx, parsed)
    }
}

/// SendGrid's `dkim` field, `{@example.com : pass, @other.example : fail}` (or `none`): each
/// signature's domain and result.
fn dkim_results(field: &str) -> Vec<(AuthVerdict, Option<String>)> {
    let Some(inner) = field
        .trim()
        .strip_prefix('{')
        .and_then(|f| f.strip_suffix('}'))
    else {
        return Vec::new();
    };
    inner
        .split(',')
        .filter_map(|entry| {
            let (domain, result) = entry.split_once(':')?;
            let result = result.split_whitespace().next().unwrap_or_default();
            Some((mail::verdict(result), mail::domain_of(domain.trim())))
        })
        .collect()
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
        provider_id: None,
        envelope_from: None,
        headers: head.headers,
        checks: Default::default(),
    })
}
