//! Every way a webhook can fail, and the one place that maps failures to HTTP statuses.

use http::StatusCode;
use std::borrow::Cow;

/// Why a signature or handshake check failed. All of these answer 401 with no detail:
/// the reason goes to metrics and logs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("signature missing")]
    Missing,
    #[error("signature invalid")]
    Invalid,
    #[error("timestamp outside the allowed window")]
    Stale,
    #[error("provider secret not configured")]
    NotConfigured,
    /// A signed token seen before with another body (schemes that do not sign the body).
    #[error("token replayed with another body")]
    Replayed,
}

impl AuthError {
    pub fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "signature_missing",
            AuthError::Invalid => "signature_invalid",
            AuthError::Stale => "timestamp_stale",
            AuthError::NotConfigured => "not_configured",
            AuthError::Replayed => "token_replayed",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("unknown provider")]
    UnknownProvider,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("body is not valid base64")]
    InvalidBase64,
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    /// A subscription handshake with the wrong verify token (Meta expects 403).
    #[error("handshake refused")]
    HandshakeRefused,
    /// The payload is not what the provider sends. The text must never quote the payload
    /// (it is logged): name the field or the structure instead.
    #[error("malformed payload: {0}")]
    Malformed(Cow<'static, str>),
    #[error("secrets unavailable: {0}")]
    SecretsUnavailable(String),
    #[error("storage failed: {0}")]
    Storage(#[from] crate::store::StoreError),
    /// A call back to the provider's API failed (fetching a finished transcript): answered
    /// with 502 so the provider redelivers the webhook.
    #[error("provider API failed: {0}")]
    ProviderApi(String),
}

impl GatewayError {
    pub fn malformed(what: impl Into<Cow<'static, str>>) -> Self {
        GatewayError::Malformed(what.into())
    }

    /// The HTTP status providers see. 5xx only where a retry can succeed (our dependencies),
    /// so providers retry exactly what was not stored.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::UnknownProvider => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::InvalidBase64 | GatewayError::Malformed(_) => StatusCode::BAD_REQUEST,
            GatewayError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            GatewayError::HandshakeRefused => StatusCode::FORBIDDEN,
            // Refused for good outside the message write (which keeps such requests in the
            // bucket instead): a retry would fail the same way.
            GatewayError::Storage(crate::store::StoreError::Refused(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            GatewayError::SecretsUnavailable(_) | GatewayError::Storage(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::ProviderApi(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// A short, stable reason code for metrics, logs and the response body.
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::UnknownProvider => "unknown_provider",
            GatewayError::MethodNotAllowed => "method_not_allowed",
            GatewayError::PayloadTooLarge => "payload_too_large",
            GatewayError::InvalidBase64 => "invalid_base64",
            GatewayError::Unauthorized(e) => e.reason(),
            GatewayError::HandshakeRefused => "handshake_refused",
            GatewayError::Malformed(_) => "malformed_payload",
            GatewayError::SecretsUnavailable(_) => "secrets_unavailable",
            GatewayError::Storage(crate::store::StoreError::Refused(_)) => "unstorable",
            GatewayError::Storage(_) => "storage_failed",
            GatewayError::ProviderApi(_) => "provider_api_failed",
        }
    }

    /// The body sent back: a reason code, except for 401 which reveals nothing.
    pub fn public_code(&self) -> &'static str {
        match self {
            GatewayError::Unauthorized(_) => "unauthorized",
            GatewayError::HandshakeRefused => "forbidden",
            GatewayError::Storage(crate::store::StoreError::Refused(_)) => "unstorable",
            GatewayError::SecretsUnavailable(_)
            | GatewayError::Storage(_)
            | GatewayError::ProviderApi(_) => "unavailable",
            other => other.reason(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_documented_contract() {
        use crate::store::StoreError;
        let cases: [(GatewayError, u16); 11] = [
            (GatewayError::HandshakeRefused, 403),
            (GatewayError::UnknownProvider, 404),
            (GatewayError::MethodNotAllowed, 405),
            (GatewayError::PayloadTooLarge, 413),
            (GatewayError::InvalidBase64, 400),
            (GatewayError::malformed("x"), 400),
            (AuthError::Invalid.into(), 401),
            (AuthError::NotConfigured.into(), 401),
            (GatewayError::SecretsUnavailable("down".into()), 503),
            (StoreError::Unavailable("down".into()).into(), 503),
            (GatewayError::ProviderApi("timeout".into()), 502),
        ];
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err}");
        }
        assert_eq!(
            GatewayError::from(AuthError::Stale).public_code(),
            "unauthorized"
        );
    }
}
