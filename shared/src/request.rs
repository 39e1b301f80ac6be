//! The transport-neutral webhook request the pipeline and the providers see.

use bytes::Bytes;
use http::{HeaderMap, Method};

/// One webhook delivery: the raw bytes as received plus what is needed to check a signature.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: Method,
    /// The provider named by the last path segment (`/twilio`, `/sms/twilio`).
    pub provider: String,
    /// The query string exactly as sent, without `?` (empty when none).
    pub raw_query: String,
    pub headers: HeaderMap,
    /// The body exactly as sent (already decoded from the event's base64, never re-serialised).
    pub body: Bytes,
    /// The URL the provider called, for schemes that sign it: see [`public_url`].
    pub public_url: String,
}

impl WebhookRequest {
    /// A header's value as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type of the body, lower-cased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The body's form fields in the order sent (for form-encoded bodies).
    pub fn form(&self) -> Result<Vec<(String, String)>, serde_urlencoded::de::Error> {
        serde_urlencoded::from_bytes(&self.body)
    }

    /// The query string's fields in the order sent.
    pub fn query(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(&self.raw_query).unwrap_or_default()
    }
}

/// The provider segment of a request path: its last non-empty segment.
pub fn provider_from_path(path: &str) -> &str {
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("")
}

/// The public URL the provider called, for URL-signing schemes (Twilio, Plivo).
///
/// With `public_base_url` configured (for example `https://hooks.example.com/sms`), the URL is
/// that base plus `/<provider>` and the query: the Lambda never sees its public host reliably
/// (custom domains, stages, CloudFront). Without it, the `x-forwarded-proto` and `host`
/// headers and the raw path are used.
pub fn public_url(
    public_base_url: Option<&str>,
    headers: &HeaderMap,
    raw_path: &str,
    provider: &str,
    raw_query: &str,
) -> String {
    let mut url = match public_base_url {
        Some(base) => format!("{}/{provider}", base.trim_end_matches('/')),
        None => {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let proto = header("x-forwarded-proto")
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .unwrap_or("https");
            let host = header("x-forwarded-host")
                .or_else(|| header("host"))
                .unwrap_or("localhost");
            format!("{proto}://{host}{raw_path}")
        }
    };
    if !raw_query.is_empty() {
        url.push('?');
        url.push_str(raw_query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn provider_is_the_last_path_segment() {
        assert_eq!(provider_from_path("/twilio"), "twilio");
        assert_eq!(provider_from_path("/sms/twilio"), "twilio");
        assert_eq!(provider_from_path("/prod/sms/twilio/"), "twilio");
        assert_eq!(provider_from_path("/"), "");
    }

    #[test]
    fn configured_base_wins_over_the_internal_host() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("abc.lambda-url.internal"));
        let url = public_url(
            Some("https://hooks.example.com/sms/"),
            &headers,
            "/sms/twilio",
            "twilio",
            "a=1",
        );
        assert_eq!(url, "https://hooks.example.com/sms/twilio?a=1");
    }

    #[test]
    fn forwarded_headers_are_the_fallback() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("api.example.com"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let url = public_url(None, &headers, "/prod/sms/plivo", "plivo", "");
        assert_eq!(url, "https://api.example.com/prod/sms/plivo");
    }
}
