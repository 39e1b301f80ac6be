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
    /// The URL the provider called, for schemes that sign it: see [`public_url`]. `None`
    /// when the function has no `PUBLIC_BASE_URL`; URL-signing providers then refuse.
    pub public_url: Option<String>,
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

/// The public URL the provider called, for URL-signing schemes (Twilio, Plivo): the configured
/// `public_base_url` (for example `https://hooks.example.com/sms`) plus `/<provider>` and the
/// query as sent. The Lambda never sees its public host reliably (custom domains, stages,
/// CloudFront), and `Host` or `X-Forwarded-Host` come from the client: a signature made for
/// another deployment's URL must not pass here, so without a base there is no URL.
pub fn public_url(
    public_base_url: Option<&str>,
    provider: &str,
    raw_query: &str,
) -> Option<String> {
    let mut url = format!("{}/{provider}", public_base_url?.trim_end_matches('/'));
    if !raw_query.is_empty() {
        url.push('?');
        url.push_str(raw_query);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_is_the_last_path_segment() {
        assert_eq!(provider_from_path("/twilio"), "twilio");
        assert_eq!(provider_from_path("/sms/twilio"), "twilio");
        assert_eq!(provider_from_path("/prod/sms/twilio/"), "twilio");
        assert_eq!(provider_from_path("/"), "");
    }

    #[test]
    fn the_url_is_the_configured_base_only() {
        assert_eq!(
            public_url(Some("https://hooks.example.com/sms/"), "twilio", "a=1").as_deref(),
            Some("https://hooks.example.com/sms/twilio?a=1")
        );
        assert_eq!(
            public_url(Some("https://hooks.example.com/sms"), "plivo", "").as_deref(),
            Some("https://hooks.example.com/sms/plivo")
        );
        // No fallback to Host or X-Forwarded-Host, which the client sets.
        assert_eq!(public_url(None, "twilio", "a=1"), None);
    }
}
