//! Twilio Programmable Messaging: SMS, MMS and WhatsApp webhooks and status callbacks.
//!
//! Signature (`X-Twilio-Signature`): base64 HMAC-SHA1 with the Auth Token over the public URL
//! followed by every form parameter as `name` + `value`, names sorted, each name's distinct
//! values sorted. JSON-bodied requests carry `bodySHA256` in the query instead: the URL alone
//! is signed and the body's SHA-256 must match. Twilio is inconsistent about the port in the
//! signed URL, so the URL is tried with and without it, as Twilio's SDKs do.
//! `X-Twilio-Webhooks-Signature-Settings: algorithm=HMAC_SHA256` selects HMAC-SHA256.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};

use super::Fields;
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, Message, StatusUpdate,
};
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct Twilio;

/// Checks `X-Twilio-Signature` (shared by every Twilio product's webhooks).
pub fn verify_signature(req: &WebhookRequest, secret: &ProviderSecret) -> Result<(), AuthError> {
    let signature = req.header("x-twilio-signature").ok_or(AuthError::Missing)?;
    let algorithm = match signature_algorithm(req.header("x-twilio-webhooks-signature-settings")) {
        Some(alg) => alg,
        None => return Err(AuthError::Invalid),
    };
    let query = req.query();
    let body_hash = query
        .iter()
        .find(|(k, _)| k == "bodySHA256")
        .map(|(_, v)| v);
    let params = match body_hash {
        Some(expected) => {
            let actual = verify::sha256_hex(&req.body);
            if !verify::ct_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
                return Err(AuthError::Invalid);
            }
            Fields::default()
        }
        None if req.method == Method::POST
            && req.content_type() == "application/x-www-form-urlencoded" =>
        {
            Fields(req.form().map_err(|_| AuthError::Invalid)?)
        }
        None => Fields::default(),
    };
    let urls = url_variants(&req.public_url);
    secret.accept_any(|key| {
        urls.iter().fold(false, |ok, url| {
            let mac = verify::hmac(
                algorithm,
                key.as_bytes(),
                &[string_to_sign(url, &params).as_bytes()],
            );
            verify::eq_base64(&mac, signature) | ok
        })
    })
}

/// The algorithm named by `X-Twilio-Webhooks-Signature-Settings`; HMAC-SHA1 when absent,
/// `None` when it names one we do not know (refused rather than guessed).
fn signature_algorithm(settings: Option<&str>) -> Option<Algorithm> {
    let named = settings.unwrap_or_default().split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim() == "algorithm" && !value.trim().is_empty()).then(|| value.trim())
    });
    match named.map(str::to_ascii_uppercase).as_deref() {
        None | Some("HMAC_SHA1") => Some(Algorithm::Sha1),
        Some("HMAC_SHA256") => Some(Algorithm::Sha256),
        Some(_) => None,
    }
}

/// The signed text: the URL, then each parameter name and its distinct values, sorted.
pub fn string_to_sign(url: &str, params: &Fields) -> String {
    let mut text = url.to_string();
    for (name, mut values) in params.sorted_groups() {
        values.dedup();
        for value in values {
            text.push_str(name);
            text.push_str(value);
        }
    }
    text
}

/// The URL as given, without its port and with the scheme's default port.
fn url_variants(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_string()];
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    // An IPv6 literal's colons are not a port separator.
    let host_end = hostport.rfind(']').map_or(0, |i| i + 1);
    let (host, has_port) = match hostport[host_end..].rfind(':') {
        Some(i) => (&hostport[..host_end + i], true),
        None => (hostport, false),
    };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = if has_port {
        url.to_string()
    } else {
        format!("{scheme}://{userinfo}{host}:{default_port}{tail}")
    };
    let mut variants = vec![url.to_string()];
    for variant in [without, with] {
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

#[async_trait]
impl Provider for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        verify_signature(req, secret)
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
    let mut customer = ctx.party(from);
    customer.display_name = f.get("ProfileName").map(str::to_string);
    let mut m = ctx.message(
        Kind::Message,
        Direction::Inbound,
        sid,
        sid,
        customer,
        ctx.party(to),
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
        ctx.party(to),
        ctx.party(from),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_variants_cover_the_port_quirk() {
        assert_eq!(
            url_variants("https://hooks.example.com/sms/twilio?a=1"),
            [
                "https://hooks.example.com/sms/twilio?a=1",
                "https://hooks.example.com:443/sms/twilio?a=1"
            ]
        );
        assert_eq!(
            url_variants("https://u:p@hooks.example.com:8443/x"),
            [
                "https://u:p@hooks.example.com:8443/x",
                "https://u:p@hooks.example.com/x"
            ]
        );
        assert_eq!(url_variants("http://[::1]/x")[1], "http://[::1]:80/x");
    }

    #[test]
    fn string_to_sign_sorts_names_and_distinct_values() {
        let f = Fields(vec![
            ("To".into(), "+2".into()),
            ("Body".into(), "b".into()),
            ("Body".into(), "a".into()),
            ("Body".into(), "a".into()),
        ]);
        assert_eq!(
            string_to_sign("https://x/y", &f),
            "https://x/yBodyaBodybTo+2"
        );
    }

    #[test]
    fn unknown_algorithms_are_refused() {
        assert_eq!(signature_algorithm(None), Some(Algorithm::Sha1));
        assert_eq!(
            signature_algorithm(Some("key=k1,algorithm=HMAC_SHA256")),
            Some(Algorithm::Sha256)
        );
        assert_eq!(signature_algorithm(Some("algorithm=ROT13")), None);
    }
}
