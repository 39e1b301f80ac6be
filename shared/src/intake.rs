//! The intake: a verified request the store could not take (DynamoDB down or throttled) is
//! kept in the bucket and answered as accepted, then replayed through the pipeline once the
//! store is back. A 503 is not a retry for every provider (Twilio retries only with connection
//! overrides on its URL, LINE only with redelivery turned on), so answering one would lose
//! their messages for the length of an outage.
//!
//! Objects are `<channel>/intake/<received at>-<digest>.json`: listing order is arrival
//! order, so kept requests are replayed oldest first. The replay verifies each again with the
//! time it was received as the clock, so an object someone else put under the prefix is
//! refused, never stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::GatewayError;
use crate::request::{WebhookRequest, public_url};
use crate::schema::Channel;

/// The version of [`Kept`]'s JSON; a replay refuses versions it does not know.
pub const VERSION: u32 = 1;

const KEY_TIME: &str = "%Y%m%dT%H%M%S%.6fZ";

/// A verified request as kept: everything verification and normalisation read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub version: u32,
    pub provider: String,
    pub method: String,
    pub raw_query: String,
    /// Header names and values in the order received (values as the event carried them).
    pub headers: Vec<(String, String)>,
    /// The body's bytes, base64.
    pub body: String,
    pub received_at: DateTime<Utc>,
}

impl Kept {
    pub fn of(req: &WebhookRequest, received_at: DateTime<Utc>) -> Self {
        Kept {
            version: VERSION,
            provider: req.provider.clone(),
            method: req.method.as_str().to_string(),
            raw_query: req.raw_query.clone(),
            headers: req
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_string(), value)
                })
                .collect(),
            body: STANDARD.encode(&req.body),
            received_at,
        }
    }

    /// The request again, with the function's public base URL for URL-signing schemes.
    pub fn request(&self, public_base_url: Option<&str>) -> Result<WebhookRequest, GatewayError> {
        if self.version != VERSION {
            return Err(GatewayError::malformed(
                "kept request of an unknown version",
            ));
        }
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| GatewayError::malformed("kept request's method"))?;
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| GatewayError::malformed("kept request's header name"))?;
            let value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|_| GatewayError::malformed("kept request's header value"))?;
            headers.append(name, value);
        }
        let body = STANDARD
            .decode(&self.body)
            .map_err(|_| GatewayError::InvalidBase64)?;
        Ok(WebhookRequest {
            public_url: public_url(public_base_url, &self.provider, &self.raw_query),
            method,
            provider: self.provider.clone(),
            raw_query: self.raw_query.clone(),
            headers,
            body: Bytes::from(body),
        })
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a kept request always serialises"))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GatewayError> {
        serde_json::from_slice(bytes).map_err(|_| GatewayError::malformed("kept request's JSON"))
    }
}

/// Where a channel's kept requests are listed.
pub fn prefix(channel: Channel) -> String {
    format!("{channel}/intake/")
}

/// The object a kept request goes to: its arrival time first, so listing order is arrival
/// order; then a digest of what was received, so a request kept twice is one object.
pub fn key(channel: Channel, kept: &Kept) -> String {
    let mut digest = Sha256::new();
    for part in [&kept.provider, &kept.method, &kept.raw_query, &kept.body] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    format!(
        "{}{}-{}.json",
        prefix(channel),
        kept.received_at.format(KEY_TIME),
        &hex::encode(digest.finalize())[..32]
    )
}

/// When the request kept at `key` was received (for the intake's oldest-age metric).
pub fn received_at(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    let time = name.split('-').next()?;
    NaiveDateTime::parse_from_str(time, KEY_TIME)
        .ok()
        .map(|t| t.and_utc())
}

/// Where a kept request the replay refuses goes (forged, malformed, of a provider the
/// function no longer serves): out of the way of the others, kept for a person to look at.
pub fn refused_key(channel: Channel, key: &str) -> String {
    format!(
        "{channel}/intake-refused/{}",
        key.rsplit('/').next().unwrap_or(key)
    )
}

/// What one replay run did, for its log line and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Kept requests stored (or found already stored) and removed from the intake.
    pub replayed: u32,
    /// Kept requests the pipeline refused, moved to `intake-refused/`.
    pub refused: u32,
    /// Kept requests still waiting after the run (the store still down, or time ran out).
    pub waiting: u32,
    /// Age in seconds of the oldest request still waiting (0 when none).
    pub oldest_age_secs: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> WebhookRequest {
        let mut headers = HeaderMap::new();
        headers.insert("x-twilio-signature", HeaderValue::from_static("abc="));
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2"));
        WebhookRequest {
            method: Method::POST,
            provider: "twilio".into(),
            raw_query: "a=1&b=%20".into(),
            headers,
            body: Bytes::from_static(b"Body=hi\xff"),
            public_url: Some("https://attacker.example/twilio?a=1&b=%20".into()),
        }
    }

    #[test]
    fn a_kept_request_comes_back_as_received_with_the_configured_url() {
        let at = "2026-12-01T04:05:06.123456Z".parse().unwrap();
        let kept = Kept::of(&request(), at);
        let back = Kept::from_bytes(&kept.to_bytes()).unwrap();
        assert_eq!(back, kept);
        let req = back.request(Some("https://hooks.example.com/sms")).unwrap();
        let original = request();
        assert_eq!(req.body, original.body);
        assert_eq!(req.headers, original.headers);
        assert_eq!(req.method, original.method);
        assert_eq!(req.raw_query, original.raw_query);
        assert_eq!(
            req.public_url.as_deref(),
            Some("https://hooks.example.com/sms/twilio?a=1&b=%20"),
            "the URL comes from the function's configuration, never from the object"
        );
    }

    #[test]
    fn keys_sort_by_arrival_and_give_the_time_back() {
        let early = Kept::of(&request(), "2026-12-01T04:05:06.000001Z".parse().unwrap());
        let late = Kept::of(&request(), "2026-12-01T04:05:06.000002Z".parse().unwrap());
        let (a, b) = (key(Channel::Sms, &early), key(Channel::Sms, &late));
        assert!(a < b, "{a} < {b}");
        assert!(a.starts_with("sms/intake/20261201T040506.000001Z-"), "{a}");
        assert_eq!(received_at(&a), Some(early.received_at));
        assert_eq!(
            key(Channel::Sms, &early),
            a,
            "the same request, the same object"
        );
        assert_eq!(
            refused_key(Channel::Sms, &a),
            a.replace("/intake/", "/intake-refused/")
        );
    }

    #[test]
    fn a_broken_object_is_malformed_not_a_panic() {
        assert!(Kept::from_bytes(b"{").is_err());
        let mut kept = Kept::of(&request(), Utc::now());
        kept.version = 2;
        assert!(kept.request(None).is_err());
        let mut kept = Kept::of(&request(), Utc::now());
        kept.headers.push(("bad name".into(), "v".into()));
        assert!(kept.request(None).is_err());
        let mut kept = Kept::of(&request(), Utc::now());
        kept.body = "%%".into();
        assert!(kept.request(None).is_err());
    }
}
