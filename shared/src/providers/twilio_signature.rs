//! Twilio's request signatures, for every Twilio product's webhooks (SMS and voice alike).
//!
//! Signature (`X-Twilio-Signature`): base64 HMAC over the public URL followed by every form
//! parameter as `name` + `value`, names sorted, each name's distinct values sorted. JSON-bodied
//! requests carry `bodySHA256` in the query instead: the URL alone is signed and the body's
//! SHA-256 must match. The URL is `PUBLIC_BASE_URL` + `/twilio` + the query (never one built
//! from request headers); Twilio is inconsistent about the port and about the query's
//! encoding, so, as twilio-node does, the URL is tried with and without the default port,
//! each also with its query re-encoded as Node's `querystring` would.
//!
//! Keys: without `X-Twilio-Webhooks-Signature-Settings`, Twilio signs with the account's Auth
//! Token and HMAC-SHA1 (the secret's `keys`). With it, a Webhook Setting's shared key signs,
//! with the algorithm the header names (`key=…,algorithm=HMAC_SHA256`): those keys are the
//! secret's `shared_keys` option, used only then, never the Auth Tokens.

use http::Method;
use serde_json::Value;

use crate::error::AuthError;
use crate::providers::Fields;
use crate::request::WebhookRequest;
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::{self, Algorithm};

/// Checks `X-Twilio-Signature` (shared by every Twilio product's webhooks).
pub fn verify_signature(req: &WebhookRequest, secret: &ProviderSecret) -> Result<(), AuthError> {
    let signature = req.header("x-twilio-signature").ok_or(AuthError::Missing)?;
    let url = req.public_url.as_deref().ok_or(AuthError::NotConfigured)?;
    let (algorithm, keys) = match req.header("x-twilio-webhooks-signature-settings") {
        None => (Algorithm::Sha1, secret.clone()),
        Some(settings) => (
            signature_algorithm(settings).ok_or(AuthError::Invalid)?,
            ProviderSecret::new(shared_keys(secret)),
        ),
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
    let urls = url_variants(url);
    keys.accept_any(|key| {
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

/// The Webhook Settings' shared keys: the secret's `shared_keys` option (one or a list).
fn shared_keys(secret: &ProviderSecret) -> Vec<String> {
    match secret.options.get("shared_keys") {
        Some(Value::String(key)) => vec![key.clone()],
        Some(Value::Array(keys)) => keys
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The secret's Auth Tokens and shared keys: shared secrets, the shared keys text only.
pub fn check_secret(secret: &ProviderSecret) -> Result<(), &'static str> {
    secret.check_keys(KeyKind::Secret)?;
    match secret.options.get("shared_keys") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(keys)) if keys.iter().all(Value::is_string) => {}
        Some(_) => return Err("option shared_keys is not a key or a list of keys"),
    }
    shared_keys(secret)
        .iter()
        .try_for_each(|key| KeyKind::Secret.check(key))
}

/// The algorithm `X-Twilio-Webhooks-Signature-Settings` names; `None` when it names none or
/// one we do not know (refused rather than guessed).
fn signature_algorithm(settings: &str) -> Option<Algorithm> {
    let named = settings.split(',').find_map(|part| {
        let (name, value) = part.split_once('=')?;
        (name.trim() == "algorithm").then(|| value.trim())
    });
    match named.map(str::to_ascii_uppercase).as_deref() {
        Some("HMAC_SHA1") => Some(Algorithm::Sha1),
        Some("HMAC_SHA256") => Some(Algorithm::Sha256),
        _ => None,
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

/// The URLs twilio-node accepts for one request: as given, without its port, with the
/// scheme's default port, and each of those with its query re-encoded by Node's `querystring`
/// (`stringify(parse(query))`), which is how Twilio signs some URLs whose query it encodes
/// differently from the wire.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = Vec::new();
    for variant in port_variants(url) {
        let legacy = variant
            .split_once('?')
            .map(|(base, query)| format!("{base}?{}", node_querystring(query)));
        for v in std::iter::once(variant).chain(legacy) {
            if !variants.contains(&v) {
                variants.push(v);
            }
        }
    }
    variants
}

/// The URL as given, without its port and with the scheme's default port.
fn port_variants(url: &str) -> Vec<String> {
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

/// Node's `querystring.stringify(querystring.parse(query))`: pairs decoded (`+` is a space),
/// repeated names gathered at their first place, names that are array indices first in
/// numeric order (a JavaScript object's key order), then re-encoded keeping only
/// `A-Za-z0-9-_.!~*'()` as they are.
fn node_querystring(query: &str) -> String {
    let mut names: Vec<String> = Vec::new();
    let mut values: std::collections::HashMap<String, Vec<String>> = Default::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (node_unescape(name), node_unescape(value));
        if !values.contains_key(&name) {
            names.push(name.clone());
        }
        values.entry(name).or_default().push(value);
    }
    let index = |name: &str| -> Option<u32> {
        let canonical = name == "0" || (!name.starts_with('0') && !name.is_empty());
        name.parse::<u32>()
            .ok()
            .filter(|n| canonical && *n < u32::MAX && n.to_string() == name)
    };
    let (mut indices, others): (Vec<_>, Vec<_>) =
        names.into_iter().partition(|n| index(n).is_some());
    indices.sort_by_key(|n| index(n));
    indices
        .into_iter()
        .chain(others)
        .flat_map(|name| {
            let escaped = node_escape(&name);
            values[&name]
                .iter()
                .map(|v| format!("{escaped}={}", node_escape(v)))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn node_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn node_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
        assert_eq!(
            signature_algorithm("key=KS0001,algorithm=HMAC_SHA256"),
            Some(Algorithm::Sha256)
        );
        assert_eq!(
            signature_algorithm("algorithm=HMAC_SHA1"),
            Some(Algorithm::Sha1)
        );
        assert_eq!(signature_algorithm("algorithm=ROT13"), None);
        assert_eq!(signature_algorithm("key=KS0001"), None);
        assert_eq!(signature_algorithm(""), None);
    }

    #[test]
    fn node_querystring_re_encodes_as_node_does() {
        // What `querystring.stringify(querystring.parse(q))` prints in Node.
        let cases = [
            ("a=b+c&d=%7E'!", "a=b%20c&d=~'!"),
            ("b=2&a=1&b=3", "b=2&b=3&a=1"),
            ("z=1&10=2&2=3&01=4", "2=3&10=2&z=1&01=4"),
            ("x&y=&=z", "x=&y=&=z"),
            ("p=%E2%82%AC%zz", "p=%E2%82%AC%25zz"),
        ];
        for (query, node) in cases {
            assert_eq!(node_querystring(query), node, "{query}");
        }
    }
}
