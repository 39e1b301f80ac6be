//! Signature building blocks shared by the providers. Every comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::error::AuthError;

/// The hash functions providers sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
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
        .decode(given.trim())
        .is_ok_and(|given| ct_eq(expected, &given))
}

/// `expected` equals the hex text `given` (either case).
pub fn eq_hex(expected: &[u8], given: &str) -> bool {
    hex::decode(given.trim()).is_ok_and(|given| ct_eq(expected, &given))
}

pub fn base64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

/// Refuses a signed timestamp (Unix seconds) further than `tolerance_secs` from `now`,
/// in either direction (a clock ahead of ours is as suspect as a replay).
pub fn check_timestamp(
    unix_secs: i64,
    now: DateTime<Utc>,
    tolerance_secs: i64,
) -> Result<(), AuthError> {
    if (now.timestamp() - unix_secs).abs() > tolerance_secs {
        Err(AuthError::Stale)
    } else {
        Ok(())
    }
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
}
