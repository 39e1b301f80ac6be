//! Mailgun inbound routes (`forward("https://…/email/mailgun")`): form-encoded, or multipart
//! when the mail has attachments; the raw MIME message in `body-mime` when the route's URL ends
//! in `mime`.
//!
//! `signature` = hex HMAC-SHA256(webhook signing key, `timestamp` + `token`). The signature
//! does not cover the body, so a token is bound (in the table) to the first mail it came with,
//! by `Message-Id`, and refused with any other mail; a redelivery of that mail passes and is
//! deduplicated, whatever else changed. `timestamp` must be recent: within the secret's
//! `max_age_secs` (default 9 hours, as Mailgun retries for 8).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::mail::{self, InlineFile, Mail};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct Mailgun;

const DEFAULT_MAX_AGE_SECS: i64 = 9 * 3600;

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn check(
    fields: &[(String, String)],
    secret: &ProviderSecret,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let timestamp = field(fields, "timestamp").ok_or(AuthError::Missing)?;
    let token = field(fields, "token").ok_or(AuthError::Missing)?;
    let signature = field(fields, "signature").ok_or(AuthError::Missing)?;
    let max_age = secret
        .options
        .get("max_age_secs")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_MAX_AGE_SECS);
    verify::check_timestamp(verify::parse_unix_secs(Some(timestamp))?, now, max_age)?;
    secret.accept_any(|key| {
        let mac = verify::hmac(
            Algorithm::Sha256,
            key.as_bytes(),
            &[timestamp.as_bytes(), token.as_bytes()],
        );
        verify::eq_hex(&mac, signature)
    })
}

#[async_trait]
impl Provider for Mailgun {
    fn name(&self) -> &'static str {
        "mailgun"
    }

    /// Form-encoded posts only; multipart ones are checked by `authenticate`.
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let fields = req.form().map_err(|_| AuthError::Missing)?;
        check(&fields, secret, now)
    }

    async fn authenticate(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), GatewayError> {
        if req.content_type() == "multipart/form-data" {
            let (fields, _) = mail::form_fields(req)
                .await
                .map_err(|_| AuthError::Missing)?;
            Ok(check(&fields, secret, now)?)
        } else {
            Ok(self.verify(req, secret, now, tolerance_secs)?)
        }
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let (fields, files) = mail::form_fields(req).await?;
        let get = |name: &str| field(&fields, name).map(str::to_string);
        let mut parsed = match get("body-mime") {
            Some(raw) => mail::parse_mime(raw.as_bytes())?,
            None => parsed_fields(&fields, files)?,
        };
        // A token is good for its first mail (and that mail's redeliveries) only.
        let token = field(&fields, "token").unwrap_or_default();
        let mail_id = parsed.message_id.clone().unwrap_or_else(|| {
            let body = get("body-mime").or(get("body-plain")).unwrap_or_default();
            verify::sha256_hex(body.as_bytes())
        });
        if !ctx
            .store
            .bind_once(
                &format!("mailgun-token#{token}"),
                &mail_id,
                2 * DEFAULT_MAX_AGE_SECS,
            )
            .await?
        {
            return Err(AuthError::Replayed.into());
        }
        parsed.recipient = get("recipient").or(parsed.recipient);
        parsed.stripped_text = get("stripped-text");
        mail::store(ctx, parsed)
    }
}

/// The parsed-fields variant: headers as a JSON list of `[name, value]` pairs.
fn parsed_fields(
    fields: &[(String, String)],
    files: Vec<mail::FormPart>,
) -> Result<Mail, GatewayError> {
    let get = |name: &str| field(fields, name).map(str::to_string);
    let headers: Vec<(String, String)> = match field(fields, "message-headers") {
        Some(json) => serde_json::from_str::<Vec<(String, String)>>(json)
            .map_err(|_| GatewayError::malformed("message-headers is not a list of pairs"))?,
        None => Vec::new(),
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let from = get("from").unwrap_or_default();
    Ok(Mail {
        from: mail::address_of(&from).or_else(|| get("sender")),
        from_name: mail::name_of(&from),
        recipient: None,
        to: header("To").map(mail::address_list).unwrap_or_default(),
        cc: header("Cc").map(mail::address_list).unwrap_or_default(),
        subject: get("subject"),
        message_id: header("Message-Id")
            .map(mail::message_ids)
            .and_then(|ids| ids.into_iter().next()),
        in_reply_to: header("In-Reply-To")
            .map(mail::message_ids)
            .unwrap_or_default(),
        references: header("References")
            .map(mail::message_ids)
            .unwrap_or_default(),
        text: get("body-plain"),
        html: get("body-html"),
        stripped_text: None,
        sent_at: header("Date")
            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&Utc)),
        attachments: files
            .into_iter()
            .filter(|f| f.name.starts_with("attachment-"))
            .map(|f| InlineFile {
                name: f.file_name,
                mime_type: f.content_type,
                data: f.data,
            })
            .collect(),
    })
}
