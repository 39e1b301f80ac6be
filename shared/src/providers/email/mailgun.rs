//! Mailgun inbound routes (`forward("https://…/email/mailgun")`): form-encoded, or multipart
//! when the mail has attachments; the raw MIME message in `body-mime` when the route's URL ends
//! in `mime`.
//!
//! `signature` = hex HMAC-SHA256(webhook signing key, `timestamp` + `token`); a subaccount's
//! mail also carries `parent-signature`, the same HMAC with the primary account's key, and
//! either may verify. The signature covers neither the mail nor the URL, so authentication
//! also binds the token, in the table, to the identity that deduplicates the mail (its
//! `Message-Id`, else a hash of sender, recipient, subject and text): a redelivery of that
//! mail passes and is deduplicated; the same token with any other mail (another sender,
//! subject or recipient) is refused. `timestamp` must be within 9 hours (the secret's
//! `max_age_secs` overrides it): Mailgun retries for 8 hours and resends the first
//! attempt's signature.
//!
//! What remains: the signing key is account-wide, so any party that sees another of the
//! account's webhooks (event webhooks, other routes) holds tokens this gateway has not bound
//! yet and can post one mail with each within the window. Keep the HTTP webhook signing key
//! for this route alone where Mailgun allows it, and never share it with other consumers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::mail::{self, InlineFile, Mail};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Auth, Context, Outcome, Provider, Window};
use crate::request::WebhookRequest;
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Algorithm, Scheme};

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
    window_secs: i64,
) -> Result<(), AuthError> {
    let timestamp = field(fields, "timestamp").ok_or(AuthError::Missing)?;
    let token = field(fields, "token").ok_or(AuthError::Missing)?;
    let signatures: Vec<&str> = ["signature", "parent-signature"]
        .iter()
        .filter_map(|name| field(fields, name))
        .collect();
    if signatures.is_empty() {
        return Err(AuthError::Missing);
    }
    let max_age = secret
        .options
        .get("max_age_secs")
        .and_then(Value::as_i64)
        .unwrap_or(window_secs);
    secret.accept_any(|key| {
        let mac = verify::hmac(
            Algorithm::Sha256,
            key.as_bytes(),
            &[timestamp.as_bytes(), token.as_bytes()],
        );
        signatures
            .iter()
            .fold(false, |ok, signature| verify::eq_hex(&mac, signature) | ok)
    })?;
    verify::check_timestamp(verify::parse_unix_secs(Some(timestamp))?, now, max_age)
}

/// The mail of a route post, as `normalise` stores it.
async fn parse(req: &WebhookRequest) -> Result<(Vec<(String, String)>, Mail), GatewayError> {
    let (fields, files) = mail::form_fields(req).await?;
    let get = |name: &str| field(&fields, name).map(str::to_string);
    let mut parsed = match get("body-mime") {
        Some(raw) => mail::parse_mime(raw.as_bytes())?,
        None => parsed_fields(&fields, files)?,
    };
    parsed.recipient = get("recipient").or(parsed.recipient);
    parsed.stripped_text = get("stripped-text");
    parsed.envelope_from = get("sender").or(parsed.envelope_from);
    parsed.checks = checks(&parsed);
    Ok((fields, parsed))
}

#[async_trait]
impl Provider for Mailgun {
    fn name(&self) -> &'static str {
        "mailgun"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    fn window(&self) -> Window {
        Window::Secs(DEFAULT_MAX_AGE_SECS)
    }

    /// The signature alone (form-encoded posts; `authenticate` reads multipart ones too).
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        let fields = req.form().map_err(|_| AuthError::Missing)?;
        check(&fields, secret, now, window_secs)
    }

    async fn authenticate(
        &self,
        req: &WebhookRequest,
        auth: &Auth<'_>,
    ) -> Result<(), GatewayError> {
        let (fields, _) = mail::form_fields(req)
            .await
            .map_err(|_| AuthError::Missing)?;
        check(&fields, auth.secret, auth.now, auth.window_secs)?;
        // A token is good for its first mail (and that mail's redeliveries) only.
        let (_, parsed) = parse(req).await?;
        let token = field(&fields, "token").unwrap_or_default();
        let identity = mail::identity(&parsed).ok_or_else(|| {
            GatewayError::malformed("the e-mail has no sender or recipient address")
        })?;
        // Kept for twice the window a token is accepted in, so it cannot outlive its binding.
        let expires_at =
            auth.now + chrono::Duration::seconds(2 * auth.window_secs.max(DEFAULT_MAX_AGE_SECS));
        if !auth
            .tokens
            .bind_once(&format!("mailgun-token#{token}"), &identity, expires_at)
            .await?
        {
            return Err(AuthError::Replayed.into());
        }
        Ok(())
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let (_, parsed) = parse(req).await?;
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
        provider_id: None,
        envelope_from: get("sender"),
        headers,
        checks: Default::default(),
    })
}

/// Mailgun's spam filter verdicts (with the domain set to "Mark spam with MIME headers"):
/// `X-Mailgun-Spf` and `X-Mailgun-Dkim-Check-Result`, trusted only above Mailgun's own
/// `Received … by mx*.mailgun.org` line (a sender can write the same headers into its mail,
/// and Mailgun posts every header as a form field too, so those fields are never read).
/// DKIM's result names no domain: it counts for the one `DKIM-Signature`'s `d=` when the
/// mail has exactly one.
fn checks(mail: &Mail) -> mail::SenderChecks {
    let border = mail::border_headers(&mail.headers, |received| received.contains("mailgun.org"));
    let dkim = mail::single_header(border, "X-Mailgun-Dkim-Check-Result").map(mail::verdict);
    let signers = mail::dkim_domains(&mail.headers);
    let signer = match signers.as_slice() {
        [one] => one.clone(),
        _ => None,
    };
    mail::SenderChecks {
        dmarc: None,
        spf: mail::single_header(border, "X-Mailgun-Spf").map(mail::verdict),
        spf_domain: mail.envelope_from.as_deref().and_then(mail::domain_of),
        dkim: dkim.map(|v| (v, signer)).into_iter().collect(),
    }
}
