//! Postmark inbound webhooks: JSON, authenticated with Basic auth credentials in the webhook
//! URL (`https://user:password@…/email/postmark`; a key is `user:password`). Postmark stops
//! retrying on 403 and retries anything else, so a refusal here is final only for bad
//! credentials.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::mail::{self, InlineFile, Mail};
use super::{parse_json, text};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider};
use crate::request::WebhookRequest;
use crate::secrets::ProviderSecret;
use crate::verify;

pub struct Postmark;

#[async_trait]
impl Provider for Postmark {
    fn name(&self) -> &'static str {
        "postmark"
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let given = super::deepgram::basic_credentials(req).ok_or(AuthError::Missing)?;
        secret.accept_any(|key| verify::ct_eq(key.as_bytes(), &given))
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        // With "include raw email content" on, the MIME message says everything.
        if let Some(raw) = body["RawEmail"].as_str().filter(|r| !r.is_empty()) {
            let mut parsed = mail::parse_mime(raw.as_bytes())?;
            parsed.recipient = text(&body["OriginalRecipient"]);
            parsed.stripped_text = text(&body["StrippedTextReply"]);
            return mail::store(ctx, parsed);
        }
        let header = |name: &str| {
            body["Headers"].as_array().and_then(|headers| {
                headers
                    .iter()
                    .find(|h| {
                        h["Name"]
                            .as_str()
                            .is_some_and(|n| n.eq_ignore_ascii_case(name))
                    })
                    .and_then(|h| h["Value"].as_str())
            })
        };
        let addresses = |full: &Value| -> Vec<String> {
            full.as_array()
                .map(|list| list.iter().filter_map(|a| text(&a["Email"])).collect())
                .unwrap_or_default()
        };
        let mut attachments = Vec::new();
        for a in body["Attachments"].as_array().into_iter().flatten() {
            let content = a["Content"].as_str().unwrap_or_default();
            let data = STANDARD
                .decode(content)
                .map_err(|_| GatewayError::malformed("an attachment's Content is not base64"))?;
            attachments.push(InlineFile {
                name: text(&a["Name"]),
                mime_type: text(&a["ContentType"]),
                data: data.into(),
            });
        }
        let parsed = Mail {
            from: text(&body["FromFull"]["Email"])
                .or_else(|| body["From"].as_str().and_then(mail::address_of)),
            from_name: text(&body["FromFull"]["Name"]).or_else(|| text(&body["FromName"])),
            recipient: text(&body["OriginalRecipient"]),
            to: addresses(&body["ToFull"]),
            cc: addresses(&body["CcFull"]),
            subject: text(&body["Subject"]),
            message_id: header("Message-ID")
                .map(mail::message_ids)
                .and_then(|ids| ids.into_iter().next())
                .or_else(|| text(&body["MessageID"])),
            in_reply_to: header("In-Reply-To")
                .map(mail::message_ids)
                .unwrap_or_default(),
            references: header("References")
                .map(mail::message_ids)
                .unwrap_or_default(),
            text: text(&body["TextBody"]),
            html: text(&body["HtmlBody"]),
            stripped_text: text(&body["StrippedTextReply"]),
            sent_at: body["Date"]
                .as_str()
                .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                .map(|d| d.with_timezone(&Utc)),
            attachments,
        };
        mail::store(ctx, parsed)
    }
}
