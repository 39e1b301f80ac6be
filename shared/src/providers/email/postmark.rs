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
use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::AuthVerdict;
use crate::verify::{Scheme, TokenAt, TokenScheme};

pub struct Postmark;

#[async_trait]
impl Provider for Postmark {
    fn name(&self) -> &'static str {
        "postmark"
    }

    fn scheme(&self) -> Scheme {
        // Basic credentials in the inbound webhook URL (`https://user:password@…`).
        Scheme::Token(TokenScheme {
            at: &[TokenAt::Basic],
        })
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
            parsed.checks = checks(&parsed);
            parsed.provider_id = text(&body["MessageID"]);
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
            provider_id: text(&body["MessageID"]),
            envelope_from: None,
            headers: body["Headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| Some((text(&h["Name"])?, h["Value"].as_str()?.to_string())))
                .collect(),
            checks: Default::default(),
        };
        let mut parsed = parsed;
        parsed.checks = checks(&parsed);
        mail::store(ctx, parsed)
    }
}

/// Postmark's verdicts, from the headers it adds above its own `Received … by
/// *.inbound.postmarkapp.com` line (a sender can write the same headers into its mail):
/// `Received-SPF` (its result and `envelope-from`) and SpamAssassin's `X-Spam-Tests`, whose
/// `DKIM_VALID_AU` is a valid signature from the author's (`From`) domain. Postmark checks no
/// DMARC, and sometimes skips spam scoring (then there is no DKIM result).
fn checks(parsed: &Mail) -> mail::SenderChecks {
    let border = mail::border_headers(&parsed.headers, |received| {
        received.contains("inbound.postmarkapp.com")
    });
    let received_spf = mail::single_header(border, "Received-SPF");
    let spf_domain = received_spf.and_then(|v| {
        v.split([';', ' '])
            .find_map(|part| part.trim().strip_prefix("envelope-from="))
            .and_then(mail::domain_of)
    });
    let tests: Vec<&str> = mail::single_header(border, "X-Spam-Tests")
        .map(|t| t.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let author = parsed.from.as_deref().and_then(mail::domain_of);
    let dkim = if tests.contains(&"DKIM_VALID_AU") {
        vec![(AuthVerdict::Pass, author)]
    } else if tests.contains(&"DKIM_VALID") {
        vec![(AuthVerdict::Pass, None)]
    } else if tests.contains(&"DKIM_INVALID") {
        vec![(AuthVerdict::Fail, None)]
    } else {
        Vec::new()
    };
    mail::SenderChecks {
        dmarc: None,
        spf: received_spf
            .and_then(|v| v.split_whitespace().next())
            .map(mail::verdict),
        spf_domain,
        dkim,
    }
}
