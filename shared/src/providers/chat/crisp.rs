//! Crisp web hooks, at `/crisp`.
//!
//! `X-Crisp-Signature` is the hex HMAC-SHA256 of `[{X-Crisp-Request-Timestamp};{body}]` with
//! the hook secret, where Crisp's official verifier (node-crisp-api) takes the body as
//! `JSON.stringify` of the parsed JSON: the raw bytes are tried, then that form of them. The
//! timestamp (milliseconds, or seconds) must be within 24 hours: Crisp retries hooks, and
//! does not say whether a retry is signed afresh (its verifier checks no time at all).
//! `message:send` events from the visitor (`from: user`) are stored, text and files; the
//! operator's messages (`message:received` with `from: operator`) are not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{AuthError, GatewayError};
use crate::identity;
use crate::provider::Window;
use crate::provider::{Context, Outcome, Provider};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::KeyKind;
use crate::secrets::ProviderSecret;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme, TimeFormat};

const SIGNATURE: HmacScheme = HmacScheme {
    header: "x-crisp-signature",
    prefix: "",
    separator: None,
    algorithm: Algorithm::Sha256,
    encoding: Encoding::HexLower,
    signed: &[
        Part::Text("["),
        Part::Timestamp,
        Part::Text(";"),
        Part::Body,
        Part::Text("]"),
    ],
    timestamp: Some(("x-crisp-request-timestamp", TimeFormat::UnixSecsOrMillis)),
    key: KeyKind::Secret,
};

pub struct Crisp;

#[async_trait]
impl Provider for Crisp {
    fn name(&self) -> &'static str {
        "crisp"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(SIGNATURE)
    }

    fn window(&self) -> Window {
        Window::Secs(24 * 3600)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        match SIGNATURE.verify(req, &req.body, secret, now, window_secs) {
            Err(AuthError::Invalid) => {
                let canonical = js_json::stringify(&req.body).ok_or(AuthError::Invalid)?;
                SIGNATURE.verify(req, canonical.as_bytes(), secret, now, window_secs)
            }
            other => other,
        }
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let data = &body["data"];
        if body["event"] != "message:send" || data["from"] != "user" {
            return Ok(Outcome::Store(Vec::new()));
        }
        let id = data["fingerprint"]
            .as_u64()
            .map(|f| f.to_string())
            .or_else(|| text(&data["fingerprint"]))
            .ok_or_else(|| GatewayError::malformed("missing field data.fingerprint"))?;
        let session = text(&data["session_id"])
            .ok_or_else(|| GatewayError::malformed("missing field data.session_id"))?;
        let user = &data["user"];
        let mut customer = ctx.party(text(&user["user_id"]).unwrap_or(session.clone()));
        customer.display_name = text(&user["nickname"]);
        customer.email = user["email"].as_str().and_then(identity::normalise_email);
        customer.key = customer.identity_key(ctx.channel, ctx.provider);
        let website = text(&body["website_id"])
            .or_else(|| text(&data["website_id"]))
            .unwrap_or_default();
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &id,
            &id,
            customer,
            ctx.party(website),
        );
        m.sent_at = data["timestamp"]
            .as_i64()
            .and_then(DateTime::from_timestamp_millis);
        m.visibility = Some(Visibility::Private);
        m.post_id = Some(session);
        match data["type"].as_str() {
            Some("file") | Some("audio") => {
                let content = &data["content"];
                m.attachments.push(Attachment {
                    kind: text(&content["type"]).map_or(AttachmentKind::File, |mime| {
                        AttachmentKind::from_mime(&mime)
                    }),
                    id: None,
                    url: text(&content["url"]),
                    mime_type: text(&content["type"]),
                    size: None,
                    name: text(&content["name"]),
                    ..Default::default()
                });
            }
            _ => m.text = text(&data["content"]),
        }
        Ok(Outcome::Store(vec![m]))
    }
}

/// JavaScript's `JSON.stringify(JSON.parse(text))`, which Crisp's official verifier signs:
/// no whitespace, keys in a JavaScript object's order (array-index keys first, in numeric
/// order, then the others as first seen; a repeated key keeps its first place and its last
/// value), numbers as JavaScript prints doubles, strings with only the escapes JSON requires.
mod js_json {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::fmt::{self, Write};

    enum Js {
        Null,
        Bool(bool),
        Number(f64),
        Text(String),
        Array(Vec<Js>),
        Object(Vec<(String, Js)>),
    }

    pub fn stringify(text: &[u8]) -> Option<String> {
        let value: Js = serde_json::from_slice(text).ok()?;
        let mut out = String::with_capacity(text.len());
        write(&value, &mut out);
        Some(out)
    }

    fn write(value: &Js, out: &mut String) {
        match value {
            Js::Null => out.push_str("null"),
            Js::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Js::Number(n) => out.push_str(ryu_js::Buffer::new().format(*n)),
            Js::Text(s) => quote(s, out),
            Js::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Js::Object(entries) => {
                let index = |k: &str| {
                    k.parse::<u32>()
                        .ok()
                        .filter(|n| *n < u32::MAX && n.to_string() == k)
                };
                let mut order: Vec<&(String, Js)> = entries.iter().collect();
                order.sort_by_key(|(k, _)| index(k).map_or((1, 0), |n| (0, n)));
                out.push('{');
                for (i, (key, item)) in order.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(key, out);
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
        }
    }

    fn quote(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    impl<'de> Deserialize<'de> for Js {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Js;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_unit<E>(self) -> Result<Js, E> {
                    Ok(Js::Null)
                }
                fn visit_bool<E>(self, b: bool) -> Result<Js, E> {
                    Ok(Js::Bool(b))
                }
                fn visit_i64<E>(self, n: i64) -> Result<Js, E> {
                    Ok(Js::Number(n as f64))
                }
                fn visit_u64<E>(self, n: u64) -> Result<Js, E> {
                    Ok(Js::Number(n as f64))
                }
                fn visit_f64<E>(self, n: f64) -> Result<Js, E> {
                    Ok(Js::Number(n))
                }
                fn visit_str<E>(self, s: &str) -> Result<Js, E> {
                    Ok(Js::Text(s.to_string()))
                }
                fn visit_string<E>(self, s: String) -> Result<Js, E> {
                    Ok(Js::Text(s))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Js, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = seq.next_element()? {
                        items.push(item);
                    }
                    Ok(Js::Array(items))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Js, A::Error> {
                    let mut entries: Vec<(String, Js)> = Vec::new();
                    while let Some((key, value)) = map.next_entry::<String, Js>()? {
                        match entries.iter_mut().find(|(k, _)| *k == key) {
                            Some(entry) => entry.1 = value,
                            None => entries.push((key, value)),
                        }
                    }
                    Ok(Js::Object(entries))
                }
            }
            d.deserialize_any(V)
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn matches_what_node_prints() {
            // Each expected string is what `JSON.stringify(JSON.parse(input))` prints in Node.
            let cases = [
                (
                    r#"{ "b" : 1, "a" : [1.0, 2.5e3, -0.0] }"#,
                    r#"{"b":1,"a":[1,2500,0]}"#,
                ),
                (
                    r#"{"z":1,"10":2,"2":3,"01":4}"#,
                    r#"{"2":3,"10":2,"z":1,"01":4}"#,
                ),
                (r#"{"a":1,"b":2,"a":3}"#, r#"{"a":3,"b":2}"#),
                (
                    r#"{"u":"\u00e9\/\u2028x\u0001"}"#,
                    "{\"u\":\"\u{e9}/\u{2028}x\\u0001\"}",
                ),
                (
                    r#"[1e21, 1e-7, 123456789012345680000, 0.1]"#,
                    r#"[1e+21,1e-7,123456789012345680000,0.1]"#,
                ),
            ];
            for (input, node) in cases {
                assert_eq!(
                    super::stringify(input.as_bytes()).as_deref(),
                    Some(node),
                    "{input}"
                );
            }
        }
    }
}
