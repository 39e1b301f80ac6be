//! Signature building blocks, and the signature schemes most providers share, as data.
//!
//! Most providers prove a request in one of two ways: an HMAC over parts of the request
//! (the body; or a timestamp and the body, within a window) written in a header, or a shared
//! secret sent back as is. A provider names its [`Scheme`] with its parameters and this module
//! checks it; only schemes of their own (URL signing, JWTs, public-key signatures,
//! certificates) are written in the provider. Every comparison is constant-time, every
//! configured key is tried (rotation), and no key at all fails closed.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::request::WebhookRequest;
use crate::secrets::{KeyKind, ProviderSecret};

/// The hash functions providers sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

/// How a MAC is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Hex digits in either case.
    Hex,
    /// Lower-case hex digits only, where the provider's official verifier compares the hex
    /// text itself.
    HexLower,
    Base64,
}

/// How a signed timestamp is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    UnixSecs,
    UnixMillis,
    /// Seconds or milliseconds, told apart by size (Crisp sends either).
    UnixSecsOrMillis,
    Rfc3339,
}

/// One piece of the signed text, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Body,
    /// The signed timestamp, exactly as sent.
    Timestamp,
    /// A header's value, exactly as sent.
    Header(&'static str),
    Text(&'static str),
}

/// An HMAC over parts of the request, in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmacScheme {
    pub header: &'static str,
    /// What precedes the MAC (`sha256=`, `v0=`, `v1,`); refused when absent.
    pub prefix: &'static str,
    /// Several signatures in one header, split on this (Standard Webhooks' rotation list).
    pub separator: Option<char>,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub signed: &'static [Part],
    /// The timestamp header and how it is written; checked against the provider's window.
    pub timestamp: Option<(&'static str, TimeFormat)>,
    /// How the configured key becomes the HMAC key.
    pub key: KeyKind,
}

/// Where a shared secret travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAt {
    Header(&'static str),
    /// A header the operator names in the secret's `option` (AssemblyAI, Vapi), with a
    /// default; a `Bearer ` prefix is ignored.
    ConfiguredHeader {
        option: &'static str,
        default: Option<&'static str>,
    },
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic`, compared with keys of the form `user:password`.
    Basic,
    /// A string field of the JSON body, by path (read alone, before anything else is parsed).
    JsonField(&'static [&'static str]),
}

/// A secret the provider sends back as is, from the first of these places the request has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenScheme {
    pub at: &'static [TokenAt],
}

/// How a provider's requests are proven genuine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Hmac(HmacScheme),
    Token(TokenScheme),
    /// A scheme of the provider's own, checked by its `verify`, with keys of this kind.
    Custom(KeyKind),
}

impl Scheme {
    /// What the configured keys must be.
    pub fn key_kind(&self) -> KeyKind {
        match self {
            Scheme::Hmac(h) => h.key,
            Scheme::Token(t) => {
                let basic = t.at.contains(&TokenAt::Basic);
                match (basic, t.at.len()) {
                    (true, 1) => KeyKind::BasicAuth,
                    (true, _) => KeyKind::BasicAuthOrSecret,
                    (false, _) => KeyKind::Secret,
                }
            }
            Scheme::Custom(kind) => *kind,
        }
    }

    /// Checks `req` against every configured key. `window_secs` bounds signed timestamps.
    pub fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        match self {
            Scheme::Hmac(h) => h.verify(req, &req.body, secret, now, window_secs),
            Scheme::Token(t) => t.verify(req, secret),
            Scheme::Custom(_) => Err(AuthError::NotConfigured),
        }
    }
}

impl HmacScheme {
    /// Checks the MAC over `body` (the request's body, or another form of it a provider's
    /// official verifier signs), then the timestamp.
    pub fn verify(
        &self,
        req: &WebhookRequest,
        body: &[u8],
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        let header = req.header(self.header).ok_or(AuthError::Missing)?;
        let timestamp = match self.timestamp {
            Some((name, _)) => Some(req.header(name).ok_or(AuthError::Missing)?),
            None => None,
        };
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.signed.len());
        for part in self.signed {
            parts.push(match part {
                Part::Body => body,
                Part::Timestamp => timestamp.ok_or(AuthError::Missing)?.as_bytes(),
                Part::Header(name) => req.header(name).ok_or(AuthError::Missing)?.as_bytes(),
                Part::Text(text) => text.as_bytes(),
            });
        }
        let given: Vec<&str> = match self.separator {
            Some(sep) => header
                .split(sep)
                .filter_map(|entry| entry.strip_prefix(self.prefix))
                .collect(),
            None => vec![header.strip_prefix(self.prefix).ok_or(AuthError::Invalid)?],
        };
        if given.is_empty() {
            return Err(AuthError::Invalid);
        }
        secret.accept_any(|key| {
            let Some(key) = self.key.hmac_key(key) else {
                return false;
            };
            let mac = hmac(self.algorithm, &key, &parts);
            given.iter().fold(false, |ok, sig| {
                (match self.encoding {
                    Encoding::Hex => eq_hex(&mac, sig),
                    Encoding::HexLower => eq_hex_lower(&mac, sig),
                    Encoding::Base64 => eq_base64(&mac, sig),
                }) | ok
            })
        })?;
        if let (Some((_, format)), Some(timestamp)) = (self.timestamp, timestamp) {
            check_time(parse_time(timestamp, format)?, now, window_secs)?;
        }
        Ok(())
    }
}

impl TokenScheme {
    pub fn verify(&self, req: &WebhookRequest, secret: &ProviderSecret) -> Result<(), AuthError> {
        let (basic, given) = self
            .at
            .iter()
            .find_map(|at| token_at(req, secret, *at))
            .ok_or(AuthError::Missing)?;
        // Basic credentials only match keys of the form `user:password`.
        secret.accept_any(|key| (!basic || KeyKind::is_basic(key)) & ct_eq(key.as_bytes(), &given))
    }
}

/// The token a request carries at `at`, and whether it is Basic credentials.
fn token_at(req: &WebhookRequest, secret: &ProviderSecret, at: TokenAt) -> Option<(bool, Vec<u8>)> {
    let bearer = |value: &str| match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_string(),
        _ => value.trim().to_string(),
    };
    let token = match at {
        TokenAt::Header(name) => req.header(name)?.to_string(),
        TokenAt::ConfiguredHeader { option, default } => {
            bearer(req.header(secret.option(option).or(default)?)?)
        }
        TokenAt::Bearer => {
            let value = req.header("authorization")?;
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())?
        }
        TokenAt::Basic => {
            let value = req.header("authorization")?;
            let (scheme, encoded) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return None;
            }
            return Some((true, decode_base64(encoded)?));
        }
        TokenAt::JsonField(path) => json_field(&req.body, path)?,
    };
    Some((false, token.into_bytes()))
}

/// A string at `path` in a JSON body, reading nothing else into memory.
fn json_field(body: &[u8], path: &[&str]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    path.iter()
        .try_fold(&value, |v, key| v.get(key))?
        .as_str()
        .map(str::to_string)
}

/// HMAC of the concatenated `parts` with `key`.
pub fn hmac(alg: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match alg {
        Algorithm::Md5 => run::<Hmac<md5::Md5>>(key, parts),
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Plain digest of the concatenated `parts`.
pub fn digest(alg: Algorithm, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut d = D::new();
        for part in parts {
            d.update(part);
        }
        d.finalize().to_vec()
    }
    match alg {
        Algorithm::Md5 => run::<md5::Md5>(parts),
        Algorithm::Sha1 => run::<sha1::Sha1>(parts),
        Algorithm::Sha256 => run::<sha2::Sha256>(parts),
        Algorithm::Sha512 => run::<sha2::Sha512>(parts),
    }
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest(Algorithm::Sha256, &[data]))
}

/// Constant-time equality of two byte strings (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `expected` equals the base64 text `given`.
pub fn eq_base64(expected: &[u8], given: &str) -> bool {
    STANDARD
        .decode(given)
        .is_ok_and(|given| ct_eq(expected, &given))
}

/// `expected` equals the hex text `given` (either case).
pub fn eq_hex(expected: &[u8], given: &str) -> bool {
    hex::decode(given).is_ok_and(|given| ct_eq(expected, &given))
}

/// `expected` equals the lower-case hex text `given`.
pub fn eq_hex_lower(expected: &[u8], given: &str) -> bool {
    ct_eq(hex::encode(expected).as_bytes(), given.as_bytes())
}

pub fn base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

/// Standard base64 with or without its `=` padding, as the official libraries decode keys.
pub fn decode_base64_any_padding(text: &str) -> Option<Vec<u8>> {
    const ANY: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ANY.decode(text.trim()).ok()
}

/// Refuses a signed time (Unix seconds) further than `window_secs` from `now`, in either
/// direction (a clock ahead of ours is as suspect as a replay). The difference is computed
/// without overflow whatever the sender wrote.
pub fn check_timestamp(
    unix_secs: i64,
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let distance = now.timestamp().abs_diff(unix_secs);
    if distance > window_secs.unsigned_abs() {
        Err(AuthError::Stale)
    } else {
        Ok(())
    }
}

/// [`check_timestamp`] for a time in milliseconds.
pub fn check_timestamp_millis(
    unix_millis: i64,
    now: DateTime<Utc>,
    window_secs: i64,
) -> Result<(), AuthError> {
    let distance = now.timestamp_millis().abs_diff(unix_millis);
    if distance > window_secs.unsigned_abs().saturating_mul(1000) {
        Err(AuthError::Stale)
    } else {
        Ok(())
    }
}

fn check_time(t: Time, now: DateTime<Utc>, window_secs: i64) -> Result<(), AuthError> {
    match t {
        Time::Secs(s) => check_timestamp(s, now, window_secs),
        Time::Millis(ms) => check_timestamp_millis(ms, now, window_secs),
    }
}

enum Time {
    Secs(i64),
    Millis(i64),
}

fn parse_time(text: &str, format: TimeFormat) -> Result<Time, AuthError> {
    let number = || text.trim().parse::<i64>().map_err(|_| AuthError::Invalid);
    Ok(match format {
        TimeFormat::UnixSecs => Time::Secs(number()?),
        TimeFormat::UnixMillis => Time::Millis(number()?),
        TimeFormat::UnixSecsOrMillis => match number()? {
            n if n.unsigned_abs() > 100_000_000_000 => Time::Millis(n),
            n => Time::Secs(n),
        },
        TimeFormat::Rfc3339 => Time::Secs(
            DateTime::parse_from_rfc3339(text.trim())
                .map_err(|_| AuthError::Invalid)?
                .timestamp(),
        ),
    })
}

/// Parses a Unix-seconds timestamp header, which is then checked with [`check_timestamp`].
pub fn parse_unix_secs(text: Option<&str>) -> Result<i64, AuthError> {
    text.ok_or(AuthError::Missing)?
        .trim()
        .parse()
        .map_err(|_| AuthError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac(
            Algorithm::Sha256,
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"],
        );
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_md5_and_sha1_match_rfc_2202() {
        let data: &[&[u8]] = &[b"what do ya want for nothing?"];
        assert_eq!(
            hex::encode(hmac(Algorithm::Md5, b"Jefe", data)),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex::encode(hmac(Algorithm::Sha1, b"Jefe", data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn encoded_comparisons() {
        let mac = hmac(Algorithm::Sha256, b"k", &[b"m"]);
        assert!(eq_hex(&mac, &hex::encode(&mac)));
        assert!(eq_hex(&mac, &hex::encode(&mac).to_uppercase()));
        assert!(eq_base64(&mac, &base64(&mac)));
        assert!(!eq_base64(&mac, "not base64!"));
        assert!(!eq_hex(&mac, "abcd"));
        assert!(!ct_eq(b"abc", b"abd"));
    }

    #[test]
    fn timestamps_outside_the_window_are_stale() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(check_timestamp(1_700_000_000 - 300, now, 300), Ok(()));
        assert_eq!(
            check_timestamp(1_700_000_000 - 301, now, 300),
            Err(AuthError::Stale)
        );
        assert_eq!(
            check_timestamp(1_700_000_000 + 301, now, 300),
            Err(AuthError::Stale)
        );
        assert_eq!(parse_unix_secs(None), Err(AuthError::Missing));
        assert_eq!(parse_unix_secs(Some("soon")), Err(AuthError::Invalid));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic_or_a_wrap() {
        // Before the fix, `(now - ts).abs()` overflowed: a panic in debug builds, and in
        // release i64::MIN.abs() == i64::MIN, which passed the window.
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1_700_000_000] {
            assert_eq!(check_timestamp(ts, now, 300), Err(AuthError::Stale), "{ts}");
            assert_eq!(
                check_timestamp_millis(ts, now, 300),
                Err(AuthError::Stale),
                "{ts}"
            );
        }
        assert_eq!(
            check_timestamp(1_700_000_000, now, i64::MAX),
            Ok(()),
            "a huge window is a huge window"
        );
    }

    #[test]
    fn keys_decode_with_or_without_padding() {
        assert_eq!(decode_base64_any_padding("aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64_any_padding("aGk").unwrap(), b"hi");
        assert!(decode_base64_any_padding("a!").is_none());
    }
}
