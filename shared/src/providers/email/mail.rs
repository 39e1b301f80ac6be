//! What the e-mail providers share: MIME parsing, multipart form bodies, the quoted-history
//! cut, threading and the e-mail message.

use bytes::Bytes;
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};

use crate::error::GatewayError;
use crate::identity::normalise_email;
use crate::provider::Context;
use crate::request::WebhookRequest;
use crate::schema::{
    self, Attachment, AttachmentKind, AuthVerdict, Direction, Email, EmailAuthentication, Kind,
    Message,
};

/// An e-mail as the providers deliver it, parsed fields or parsed MIME alike.
#[derive(Debug, Default, Clone)]
pub struct Mail {
    /// The sender's address as given (`Jane <jane@example.com>` reduced to the address).
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// The address the mail was delivered to (the envelope recipient when the provider gives it).
    pub recipient: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// The new text without the quoted history, when the provider already cut it.
    pub stripped_text: Option<String>,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub attachments: Vec<InlineFile>,
    /// The receiving provider's own id for the mail (Postmark's `MessageID`, SES's
    /// `messageId`), which support staff look it up by; the `Message-ID` header otherwise.
    pub provider_id: Option<String>,
    /// The envelope sender (SMTP `MAIL FROM`), which SPF checks, when the provider gives it.
    pub envelope_from: Option<String>,
    /// The header fields in order, names and raw values (for the providers' verdict headers).
    pub headers: Vec<(String, String)>,
    /// What the receiving provider found of the sender's authentication.
    pub checks: SenderChecks,
}

/// The sender authentication a receiving provider reports: each provider fills what it has,
/// from fields it sets itself or headers it added above its own `Received` line (never from
/// headers the sender could have written).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SenderChecks {
    pub dmarc: Option<AuthVerdict>,
    pub spf: Option<AuthVerdict>,
    /// The domain SPF checked: the envelope sender's.
    pub spf_domain: Option<String>,
    /// Each DKIM result, with the signing domain where the provider names it.
    pub dkim: Vec<(AuthVerdict, Option<String>)>,
}

impl SenderChecks {
    /// The conclusion for a mail from `from`: DMARC's verdict where the provider evaluated it;
    /// otherwise a passing SPF or DKIM check for the `From` domain itself (strict alignment:
    /// without the public-suffix list, a parent or sibling domain is not taken as the same
    /// organisation, which only ever errs towards "not verified").
    pub fn conclude(&self, from: &str) -> EmailAuthentication {
        let from_domain = domain_of(from);
        let aligned = |domain: &Option<String>| {
            from_domain.is_some() && domain.as_deref().and_then(domain_of) == from_domain
        };
        let sender_verified = match self.dmarc {
            Some(AuthVerdict::Pass) => true,
            Some(AuthVerdict::Fail | AuthVerdict::Error) => false,
            _ => {
                (self.spf == Some(AuthVerdict::Pass) && aligned(&self.spf_domain))
                    || self
                        .dkim
                        .iter()
                        .any(|(verdict, domain)| *verdict == AuthVerdict::Pass && aligned(domain))
            }
        };
        let dkim = [AuthVerdict::Pass, AuthVerdict::Fail, AuthVerdict::Error]
            .into_iter()
            .find(|v| self.dkim.iter().any(|(d, _)| d == v))
            .or(self.dkim.first().map(|(v, _)| *v));
        EmailAuthentication {
            spf: self.spf,
            dkim,
            dmarc: self.dmarc,
            sender_verified,
        }
    }
}

/// The domain of an address or a bare domain (`@example.com`, `example.com.`), lower-cased.
pub fn domain_of(text: &str) -> Option<String> {
    let text = text
        .trim()
        .trim_matches(|c| c == '<' || c == '>' || c == '"');
    let domain = text.rsplit_once('@').map_or(text, |(_, d)| d);
    let domain = domain.trim().trim_end_matches('.').to_lowercase();
    (domain.contains('.') && !domain.contains(char::is_whitespace)).then_some(domain)
}

/// A verdict word as providers write it (`Pass`, `softfail`, `PROCESSING_FAILED`, ...).
pub fn verdict(word: &str) -> AuthVerdict {
    match word.trim().to_ascii_lowercase().as_str() {
        "pass" => AuthVerdict::Pass,
        "fail" | "hardfail" => AuthVerdict::Fail,
        "softfail" => AuthVerdict::SoftFail,
        "neutral" => AuthVerdict::Neutral,
        "none" | "gray" => AuthVerdict::None,
        _ => AuthVerdict::Error,
    }
}

/// The header fields a provider added at its border: those above its own `Received` line
/// (the first one `is_border` recognises). Without such a line nothing can be trusted.
pub fn border_headers(
    headers: &[(String, String)],
    is_border: impl Fn(&str) -> bool,
) -> &[(String, String)] {
    match headers
        .iter()
        .position(|(name, value)| name.eq_ignore_ascii_case("received") && is_border(value))
    {
        Some(end) => &headers[..end],
        None => &[],
    }
}

/// The one value of `name` among `headers`; `None` when absent or repeated (a repeated
/// verdict cannot be attributed).
pub fn single_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = found.next()?;
    found.next().is_none().then_some(first.1.trim())
}

/// The `d=` domain of each `DKIM-Signature` header.
pub fn dkim_domains(headers: &[(String, String)]) -> Vec<Option<String>> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("dkim-signature"))
        .map(|(_, value)| {
            value.split(';').find_map(|tag| {
                let (name, v) = tag.split_once('=')?;
                (name.trim() == "d").then(|| domain_of(v.trim())).flatten()
            })
        })
        .collect()
}

/// An attachment's bytes as received.
#[derive(Debug, Clone)]
pub struct InlineFile {
    pub name: Option<String>,
    pub mime_type: Option<String>,
    pub data: Bytes,
}

/// Parses a raw RFC 5322 message. Its text is the plain part, or the HTML part made text.
pub fn parse_mime(raw: &[u8]) -> Result<Mail, GatewayError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| GatewayError::malformed("the e-mail is not a MIME message"))?;
    let first_address = |address: Option<&Address>| {
        address
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    let all_addresses = |address: Option<&Address>| -> Vec<String> {
        address
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ids = |value: &HeaderValue| -> Vec<String> {
        match value {
            HeaderValue::Text(id) => vec![id.to_string()],
            HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    // mail-parser lists a text part as the HTML body of a text-only mail: only a real HTML
    // part counts.
    let has_html = message.html_body.iter().any(|&id| {
        matches!(
            message.parts.get(id as usize).map(|p| &p.body),
            Some(PartType::Html(_))
        )
    });
    let attachments = message
        .attachments()
        .map(|part| InlineFile {
            name: part.attachment_name().map(str::to_string),
            mime_type: part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            }),
            data: Bytes::copy_from_slice(part.contents()),
        })
        .collect();
    Ok(Mail {
        from: first_address(message.from()),
        from_name: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name())
            .map(str::to_string),
        recipient: None,
        to: all_addresses(message.to()),
        cc: all_addresses(message.cc()),
        subject: message.subject().map(str::to_string),
        message_id: message.message_id().map(str::to_string),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        text: message.body_text(0).map(|t| t.into_owned()),
        html: has_html
            .then(|| message.body_html(0).map(|h| h.into_owned()))
            .flatten(),
        stripped_text: None,
        sent_at: message
            .date()
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0)),
        attachments,
        provider_id: None,
        envelope_from: None,
        headers: message
            .headers_raw()
            .map(|(name, value)| (name.to_string(), value.trim().to_string()))
            .collect(),
        checks: SenderChecks::default(),
    })
}

/// Message ids from a header value (`<a@x> <b@y>`), without angle brackets.
pub fn message_ids(header: &str) -> Vec<String> {
    header
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|id| id.trim().trim_start_matches('<').trim_end_matches('>'))
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}

/// The address of `Name <address>` or a bare address.
pub fn address_of(text: &str) -> Option<String> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.rfind('>')) {
        (Some(start), Some(end)) if start < end => &text[start + 1..end],
        _ => text,
    };
    let address = address.trim().trim_matches('"');
    address.contains('@').then(|| address.to_string())
}

/// The display name of `Name <address>`, when there is one.
pub fn name_of(text: &str) -> Option<String> {
    let start = text.find('<')?;
    let name = text[..start].trim().trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// Every address of a comma-separated header (`a@x, "B" <b@y>`).
pub fn address_list(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => {
                out.extend(address_of(&current));
                current.clear();
            }
            _ => current.push(c),
        }
    }
    out.extend(address_of(&current));
    out
}

/// The new text of a reply: everything before the quoted history. Cuts at the first line that
/// introduces a quote in the common clients' styles (`On … wrote:`, `-----Original Message-----`,
/// an Outlook `From:` block, a run of `>` lines) and drops the trailing signature marker.
pub fn reply_text(full: &str) -> String {
    let lines: Vec<&str> = full.lines().collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_lowercase();
        let attribution = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.starts_with("le ") && lower.ends_with("a écrit :"))
            || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
            || (lower.starts_with("el ") && lower.ends_with("escribió:"));
        let original = lower.starts_with("-----original message-----")
            || lower.starts_with("________________________________");
        let outlook = lower.starts_with("from:")
            && lines.get(i + 1).is_some_and(|next| {
                let next = next.trim().to_lowercase();
                next.starts_with("sent:") || next.starts_with("date:")
            });
        let quote_block = t.starts_with('>')
            && lines[i..]
                .iter()
                .all(|l| l.trim().is_empty() || l.trim().starts_with('>'));
        // A wrapped attribution: "On …, Jane" / "<jane@…> wrote:".
        let wrapped = lower.starts_with("on ")
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim().to_lowercase().ends_with("wrote:"));
        if attribution || original || outlook || quote_block || wrapped {
            cut = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..cut].to_vec();
    if let Some(signature) = kept.iter().position(|l| *l == "-- ") {
        kept.truncate(signature);
    }
    kept.join("\n").trim().to_string()
}

/// The message of one e-mail. The customer is the sender; the business endpoint is the
/// address it was sent to. Replies share a conversation: its id derives from the thread's
/// root, the first of `References`, else `In-Reply-To`, else the mail's own `Message-ID`.
pub fn email_message(ctx: &Context, mail: Mail) -> Result<Message, GatewayError> {
    // The `From` address; when it is not one, the envelope sender (the bounce address).
    let from = [mail.from.as_deref(), mail.envelope_from.as_deref()]
        .into_iter()
        .flatten()
        .find(|a| normalise_email(a).is_some())
        .ok_or_else(|| GatewayError::malformed("the e-mail has no sender address"))?;
    let authentication = mail.checks.conclude(from);
    let recipient = mail
        .recipient
        .clone()
        .or_else(|| mail.to.first().cloned())
        .ok_or_else(|| GatewayError::malformed("the e-mail has no recipient address"))?;
    let party = |address: &str, name: Option<String>| {
        let mut p = ctx.party(address);
        p.email = normalise_email(address);
        p.display_name = name;
        p.key = p.identity_key(ctx.channel, ctx.provider);
        p
    };
    let mut customer = party(from, mail.from_name.clone());
    if !authentication.sender_verified {
        // Anyone can write any `From`: an unauthenticated sender is not the customer whose
        // verified address it names, and must not join that customer's timeline.
        customer.key = format!(
            "unverified-email:{}",
            customer.email.as_deref().unwrap_or(from)
        );
    }
    let business = party(&recipient, None);
    let event_key = identity(&mail)
        .ok_or_else(|| GatewayError::malformed("the e-mail has no sender or recipient address"))?;
    let root = mail
        .references
        .first()
        .or(mail.in_reply_to.first())
        .or(mail.message_id.as_ref())
        .cloned()
        .unwrap_or_else(|| event_key.clone());
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        mail.provider_id
            .clone()
            .or_else(|| mail.message_id.clone())
            .unwrap_or_else(|| event_key.clone()),
        &event_key,
        customer,
        business,
    );
    m.conversation_id =
        schema::conversation_id(ctx.channel, &m.business.key, &format!("thread:{root}"));
    m.reply_to = mail.in_reply_to.first().cloned();
    m.sent_at = mail.sent_at;
    let full_text = mail.text.clone().or_else(|| {
        mail.html
            .as_deref()
            .map(crate::providers::html::html_to_text)
    });
    m.text = mail
        .stripped_text
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| full_text.as_deref().map(reply_text))
        .filter(|t| !t.is_empty());
    let normalised = |list: &[String]| list.iter().filter_map(|a| normalise_email(a)).collect();
    m.email = Some(Email {
        subject: mail.subject.clone(),
        message_id: mail.message_id.clone(),
        in_reply_to: mail.in_reply_to.clone(),
        references: mail.references.clone(),
        to: normalised(&mail.to),
        cc: normalised(&mail.cc),
        full_text,
        html: mail.html.clone(),
        authentication: Some(authentication),
    });
    m.attachments = mail
        .attachments
        .iter()
        .map(|file| Attachment {
            kind: file
                .mime_type
                .as_deref()
                .map(AttachmentKind::from_mime)
                .unwrap_or(AttachmentKind::File),
            mime_type: file.mime_type.clone(),
            name: file.name.clone(),
            size: Some(file.data.len() as u64),
            data: Some(file.data.clone()),
            ..Default::default()
        })
        .collect();
    Ok(m)
}

/// What deduplicates a mail (its message's event key): the address it was delivered to and
/// its `Message-ID` (one mail sent to two of the business's addresses is two deliveries, each
/// stored), else a hash of sender, recipient, date, subject and text (the same words sent
/// again later are another mail). `None` without a sender or a recipient.
pub fn identity(mail: &Mail) -> Option<String> {
    let recipient = mail
        .recipient
        .as_deref()
        .or(mail.to.first().map(String::as_str))
        .map(str::to_ascii_lowercase);
    if let Some(id) = &mail.message_id {
        return Some(match recipient {
            Some(recipient) => format!("{recipient}|{id}"),
            None => id.clone(),
        });
    }
    let from = mail.from.as_deref()?;
    let recipient = recipient?;
    Some(crate::verify::sha256_hex(
        format!(
            "{from}|{recipient}|{:?}|{:?}|{:?}",
            mail.sent_at.map(|t| t.timestamp()),
            mail.subject,
            mail.text
        )
        .as_bytes(),
    ))
}

/// The single message of a mail, ready to store.
pub fn store(ctx: &Context, mail: Mail) -> Result<crate::provider::Outcome, GatewayError> {
    Ok(crate::provider::Outcome::Store(vec![email_message(
        ctx, mail,
    )?]))
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The parts of a `multipart/form-data` body, in order.
pub async fn multipart(req: &WebhookRequest) -> Result<Vec<FormPart>, GatewayError> {
    let content_type = req.header("content-type").unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| GatewayError::malformed("multipart body without a boundary"))?;
    let body = req.body.clone();
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut reader = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    while let Some(field) = reader
        .next_field()
        .await
        .map_err(|_| GatewayError::malformed("multipart body does not decode"))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field
            .bytes()
            .await
            .map_err(|_| GatewayError::malformed("multipart body does not decode"))?;
        parts.push(FormPart {
            name,
            file_name,
            content_type,
            data,
        });
    }
    Ok(parts)
}

/// The form fields of a body that is either `multipart/form-data` or form-encoded, with the
/// file parts apart.
pub async fn form_fields(
    req: &WebhookRequest,
) -> Result<(Vec<(String, String)>, Vec<FormPart>), GatewayError> {
    if req.content_type() == "multipart/form-data" {
        let parts = multipart(req).await?;
        let (files, fields): (Vec<_>, Vec<_>) =
            parts.into_iter().partition(|p| p.file_name.is_some());
        let fields = fields
            .into_iter()
            .map(|p| (p.name, String::from_utf8_lossy(&p.data).into_owned()))
            .collect();
        Ok((fields, files))
    } else {
        let fields = req
            .form()
            .map_err(|_| GatewayError::malformed("form body does not decode"))?;
        Ok((fields, Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mail_to_two_addresses_is_two_deliveries_and_the_same_words_later_another_mail() {
        let mail = |to: &str, date: &str, id: Option<&str>| Mail {
            from: Some("jane@mail.example".into()),
            recipient: Some(to.into()),
            subject: Some("order 4411".into()),
            text: Some("still waiting".into()),
            message_id: id.map(str::to_string),
            sent_at: Some(date.parse().unwrap()),
            ..Default::default()
        };
        let (a, b) = ("2026-11-30T10:00:00Z", "2026-12-01T10:00:00Z");
        let support = identity(&mail("support@shop.example", a, Some("m1@mail.example")));
        let sales = identity(&mail("Sales@shop.example", a, Some("m1@mail.example")));
        assert_ne!(support, sales, "each delivery is stored");
        assert_eq!(
            support,
            identity(&mail("SUPPORT@shop.example", b, Some("m1@mail.example"))),
            "a redelivery is the same mail"
        );
        assert_ne!(
            identity(&mail("support@shop.example", a, None)),
            identity(&mail("support@shop.example", b, None)),
            "without a Message-ID, the same words a day later are another mail"
        );
    }

    #[test]
    fn quoted_history_is_cut() {
        let reply = "Thanks, that works.\n\nJane\n\nOn Mon, 23 Nov 2026 at 10:00, Support <help@shop.example> wrote:\n> Could you try again?\n> Best";
        assert_eq!(reply_text(reply), "Thanks, that works.\n\nJane");
        let outlook =
            "Yes please.\n\nFrom: Support <help@shop.example>\nSent: Monday\nSubject: Re: order";
        assert_eq!(reply_text(outlook), "Yes please.");
        let quoted_only = "Top\n> a\n>\n> b\n";
        assert_eq!(reply_text(quoted_only), "Top");
        let inline = "> question?\nanswer\n> another?\nanswer two";
        assert_eq!(
            reply_text(inline),
            inline,
            "interleaved replies are kept whole"
        );
        assert_eq!(reply_text("Hello\n-- \nJane Doe\nACME"), "Hello");
    }

    #[test]
    fn addresses_and_ids() {
        assert_eq!(
            address_of("\"Doe, Jane\" <Jane.Doe@Example.COM>").as_deref(),
            Some("Jane.Doe@Example.COM")
        );
        assert_eq!(
            name_of("\"Doe, Jane\" <j@x.com>").as_deref(),
            Some("Doe, Jane")
        );
        assert_eq!(
            address_list("\"Doe, Jane\" <j@x.com>, help@shop.example"),
            ["j@x.com", "help@shop.example"]
        );
        assert_eq!(message_ids("<a@x> <b@y>"), ["a@x", "b@y"]);
    }

    #[test]
    fn mime_with_html_only_and_an_attachment() {
        let raw = b"From: Jane <Jane.Doe@Example.COM>\r\nTo: help@shop.example\r\nSubject: Re: order 4411\r\nMessage-ID: <r2@mail.example>\r\nIn-Reply-To: <r1@shop.example>\r\nReferences: <r0@mail.example> <r1@shop.example>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>It <b>still</b> hasn&#39;t come</p>\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"receipt.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjcK\r\n--b--\r\n";
        let mail = parse_mime(raw).unwrap();
        assert_eq!(mail.from.as_deref(), Some("Jane.Doe@Example.COM"));
        assert_eq!(mail.message_id.as_deref(), Some("r2@mail.example"));
        assert_eq!(mail.in_reply_to, ["r1@shop.example"]);
        assert_eq!(mail.references, ["r0@mail.example", "r1@shop.example"]);
        assert!(
            mail.text.as_deref().unwrap().contains("still"),
            "{:?}",
            mail.text
        );
        assert!(mail.html.as_deref().unwrap().contains("<b>still</b>"));
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].name.as_deref(), Some("receipt.pdf"));
        assert_eq!(
            mail.attachments[0].mime_type.as_deref(),
            Some("application/pdf")
        );
        assert_eq!(&mail.attachments[0].data[..], b"%PDF-1.7\n");
        assert!(parse_mime(b"").is_err());
    }
}
