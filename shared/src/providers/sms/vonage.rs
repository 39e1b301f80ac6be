//! Vonage: the Messages API's signed webhooks and the legacy SMS API's signed parameters,
//! both at `/vonage`.
//!
//! - Messages API: `Authorization: Bearer <JWT>`, HS256 with the account's signature secret;
//!   the `payload_hash` claim is the hex SHA-256 of the body and `iat` must be recent.
//! - SMS API: a `sig` parameter beside `timestamp` (and `nonce`) in the query, form or JSON
//!   body: every other parameter sorted by name as `&name=value` (`&` and `=` in values
//!   replaced by `_`), then HMAC with the signature secret (hex), or, for the dashboard's
//!   "MD5 hash" method, MD5 of that text followed by the secret. The method is the secret's
//!   `sms_signature_method` option: `md5hash` (default), `md5`, `sha1`, `sha256`, `sha512`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use http::Method;
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{AuthError, GatewayError};
use crate::provider::Window;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{Fields, parse_json};
use crate::request::WebhookRequest;
use crate::schema::{
    Attachment, AttachmentKind, DeliveryState, Direction, Kind, Message, StatusUpdate,
};
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Algorithm, Scheme};

/// The SMS API signature methods an account can choose.
const SMS_METHODS: [&str; 5] = ["md5hash", "md5", "sha1", "sha256", "sha512"];

pub struct Vonage;

#[derive(Deserialize)]
struct Claims {
    payload_hash: Option<String>,
    iat: Option<i64>,
}

#[async_trait]
impl Provider for Vonage {
    fn name(&self) -> &'static str {
        "vonage"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    /// Vonage retries a failed webhook for 24 hours; whether a retry is signed afresh is not
    /// documented, so a retry that keeps its first `iat` (or SMS API `timestamp`) must pass.
    /// Replays inside the window are deduplicated by message id.
    fn window(&self) -> Window {
        Window::Secs(25 * 3600)
    }

    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        secret.check_keys(KeyKind::Secret)?;
        match secret.options.get("sms_signature_method") {
            None => Ok(()),
            Some(Value::String(m)) if SMS_METHODS.contains(&m.as_str()) => Ok(()),
            Some(_) => {
                Err("option sms_signature_method is not md5hash, md5, sha1, sha256 or sha512")
            }
        }
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        match bearer(req) {
            Some(token) => verify_jwt(token, &req.body, secret, now, window_secs),
            None => verify_sig(&legacy_params(req)?, secret, now, window_secs),
        }
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let message = if bearer(req).is_some() {
            messages_api(ctx, &parse_json(&req.body)?)?
        } else {
            let params = legacy_params(req)
                .map_err(|_| GatewayError::malformed("parameters do not decode"))?;
            sms_api(ctx, &params)?
        };
        Ok(Outcome::Store(vec![message]))
    }
}

fn bearer(req: &WebhookRequest) -> Option<&str> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn verify_jwt(
    token: &str,
    body: &[u8],
    secret: &ProviderSecret,
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let mut validation = Validation::new(JwtAlgorithm::HS256);
    validation.required_spec_claims.clear();
    validation.leeway = window_secs.unsigned_abs();
    let mut claims = None;
    secret.accept_any(|key| {
        match jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        ) {
            Ok(data) => {
                claims = Some(data.claims);
                true
            }
            Err(_) => false,
        }
    })?;
    let claims = claims.ok_or(AuthError::Invalid)?;
    // The JWT only proves who signed; the hash claim ties it to these bytes.
    let hash = claims.payload_hash.ok_or(AuthError::Invalid)?;
    if !verify::ct_eq(
        verify::sha256_hex(body).as_bytes(),
        hash.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(AuthError::Invalid);
    }
    verify::check_timestamp(claims.iat.ok_or(AuthError::Invalid)?, now, window_secs)
}

/// The SMS API's parameters, from wherever the account setting put them.
fn legacy_params(req: &WebhookRequest) -> Result<Fields, AuthError> {
    if req.method == Method::GET {
        return Ok(Fields(req.query()));
    }
    match req.content_type().as_str() {
        "application/json" => {
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(&req.body).map_err(|_| AuthError::Invalid)?;
            Ok(Fields(
                object
                    .into_iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, text)
                    })
                    .collect(),
            ))
        }
        _ => req.form().map(Fields).map_err(|_| AuthError::Invalid),
    }
}

fn verify_sig(
    params: &Fields,
    secret: &ProviderSecret,
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let sig = params.get("sig").ok_or(AuthError::Missing)?;
    let method = secret.option("sms_signature_method").unwrap_or("md5hash");
    let text = signed_text(params);
    let check = |key: &str| -> bool {
        let expected = match method {
            "md5hash" => verify::digest(Algorithm::Md5, &[text.as_bytes(), key.as_bytes()]),
            "md5" => verify::hmac(Algorithm::Md5, key.as_bytes(), &[text.as_bytes()]),
            "sha1" => verify::hmac(Algorithm::Sha1, key.as_bytes(), &[text.as_bytes()]),
            "sha256" => verify::hmac(Algorithm::Sha256, key.as_bytes(), &[text.as_bytes()]),
            "sha512" => verify::hmac(Algorithm::Sha512, key.as_bytes(), &[text.as_bytes()]),
            _ => return false,
        };
        verify::eq_hex(&expected, sig)
    };
    secret.accept_any(check)?;
    let timestamp = verify::parse_unix_secs(params.get("timestamp"))?;
    verify::check_timestamp(timestamp, now, window_secs)
}

/// `&name=value` for every parameter but `sig`, sorted by name.
pub fn signed_text(params: &Fields) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "sig")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect()
}

#[derive(Deserialize)]
struct Inbound {
    message_uuid: String,
    from: Option<Value>,
    to: Option<Value>,
    timestamp: Option<DateTime<Utc>>,
    message_type: Option<String>,
    text: Option<String>,
    status: Option<String>,
    profile: Option<Profile>,
    context: Option<ReplyContext>,
    error: Option<VonageError>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct ReplyContext {
    message_uuid: Option<String>,
}

#[derive(Deserialize)]
struct VonageError {
    #[serde(rename = "type")]
    kind: Option<String>,
    title: Option<Value>,
    detail: Option<String>,
}

/// `from`/`to` are strings for SMS and WhatsApp, `{ "type": ..., "number"|"id": ... }` on
/// some channels.
fn endpoint(value: Option<&Value>, field: &'static str) -> Result<String, GatewayError> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Object(o)) => o
            .get("number")
            .or_else(|| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GatewayError::malformed(format!("field {field} has no number or id"))),
        _ => Err(GatewayError::malformed(format!("missing field {field}"))),
    }
}

fn messages_api(ctx: &Context, body: &Value) -> Result<Message, GatewayError> {
    let m: Inbound = serde_json::from_value(body.clone())
        .map_err(|_| GatewayError::malformed("not a Messages API webhook"))?;
    let from = endpoint(m.from.as_ref(), "from")?;
    let to = endpoint(m.to.as_ref(), "to")?;
    if let Some(state) = &m.status {
        let event_key = format!("{}:{state}", m.message_uuid);
        let mut msg = ctx.message(
            Kind::Status,
            Direction::Outbound,
            &m.message_uuid,
            &event_key,
            ctx.phone_party(&to),
            ctx.phone_party(&from),
        );
        msg.sent_at = m.timestamp;
        msg.status = Some(StatusUpdate {
            state: match state.as_str() {
                "submitted" => DeliveryState::Sent,
                "delivered" => DeliveryState::Delivered,
                "read" => DeliveryState::Read,
                "rejected" | "undeliverable" | "failed" => DeliveryState::Failed,
                _ => DeliveryState::Unknown,
            },
            provider_state: state.clone(),
            error_code: m.error.as_ref().and_then(|e| {
                e.title
                    .as_ref()
                    .map(|t| t.as_str().map_or_else(|| t.to_string(), str::to_string))
                    .or_else(|| e.kind.clone())
            }),
            error_message: m.error.as_ref().and_then(|e| e.detail.clone()),
        });
        return Ok(msg);
    }
    let mut customer = ctx.phone_party(&from);
    customer.display_name = m.profile.and_then(|p| p.name);
    let mut msg = ctx.message(
        Kind::Message,
        Direction::Inbound,
        &m.message_uuid,
        &m.message_uuid,
        customer,
        ctx.phone_party(&to),
    );
    msg.sent_at = m.timestamp;
    msg.reply_to = m.context.and_then(|c| c.message_uuid);
    let message_type = m.message_type.as_deref().unwrap_or("text");
    match message_type {
        "text" => msg.text = m.text,
        "image" | "audio" | "video" | "file" | "vcard" | "sticker" => {
            let media = m.rest.get(message_type);
            let text = |k: &str| media.and_then(|v| v.get(k)).and_then(Value::as_str);
            msg.text = text("caption").map(str::to_string);
            msg.attachments.push(Attachment {
                kind: match message_type {
                    "image" => AttachmentKind::Image,
                    "audio" => AttachmentKind::Audio,
                    "video" => AttachmentKind::Video,
                    "vcard" => AttachmentKind::Contact,
                    "sticker" => AttachmentKind::Sticker,
                    _ => AttachmentKind::File,
                },
                id: None,
                url: text("url").map(str::to_string),
                mime_type: None,
                size: None,
                name: text("name").map(str::to_string),
                ..Default::default()
            });
        }
        "location" => {
            let loc = m.rest.get("location");
            let num = |k: &str| loc.and_then(|v| v.get(k)).and_then(Value::as_f64);
            if let (Some(lat), Some(long)) = (num("lat"), num("long")) {
                msg.attachments.push(Attachment {
                    kind: AttachmentKind::Location,
                    id: None,
                    url: Some(format!("geo:{lat},{long}")),
                    mime_type: None,
                    size: None,
                    name: None,
                    ..Default::default()
                });
            }
        }
        _ => msg.text = m.text,
    }
    Ok(msg)
}

fn sms_api(ctx: &Context, p: &Fields) -> Result<Message, GatewayError> {
    let id = p.require("messageId")?;
    let customer = p.require("msisdn")?;
    let business = p.require("to")?;
    // `message-timestamp` is UTC as `YYYY-MM-DD HH:MM:SS`.
    let sent_at = p
        .get("message-timestamp")
        .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
        .map(|t| t.and_utc());
    if let (Some(state), None) = (p.get("status"), p.get("text")) {
        // A delivery receipt: `msisdn` is the handset the business wrote to.
        let event_key = format!("{id}:{state}");
        let mut msg = ctx.message(
            Kind::Status,
            Direction::Outbound,
            id,
            &event_key,
            ctx.phone_party(customer),
            ctx.phone_party(business),
        );
        msg.sent_at = sent_at;
        msg.status = Some(StatusUpdate {
            state: match state {
                "accepted" | "buffered" => DeliveryState::Queued,
                "delivered" => DeliveryState::Delivered,
                "expired" | "failed" | "rejected" => DeliveryState::Failed,
                _ => DeliveryState::Unknown,
            },
            provider_state: state.to_string(),
            error_code: p.get("err-code").filter(|c| *c != "0").map(str::to_string),
            error_message: None,
        });
        return Ok(msg);
    }
    let mut msg = ctx.message(
        Kind::Message,
        Direction::Inbound,
        id,
        id,
        ctx.phone_party(customer),
        ctx.phone_party(business),
    );
    msg.sent_at = sent_at;
    msg.text = p.get("text").map(str::to_string);
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_text_sorts_and_escapes() {
        let f = Fields(vec![
            ("text".into(), "a=b&c".into()),
            ("sig".into(), "x".into()),
            ("msisdn".into(), "447700900123".into()),
        ]);
        assert_eq!(signed_text(&f), "&msisdn=447700900123&text=a_b_c");
    }
}
