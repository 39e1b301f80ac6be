//! Provider modules, in one room per channel (`sms/`, `social/`, ...): each holds its verifier
//! and normaliser, and nothing else knows its quirks. A room may share helpers among its own
//! providers (`voice/calls.rs`, `email/mail.rs`); what two channels share sits here
//! (`twilio_signature.rs`: Twilio signs its SMS and voice webhooks alike; `html.rs`).

pub mod chat;
pub mod email;
pub mod html;
pub mod sms;
pub mod social;
pub mod twilio_signature;
pub mod voice;

use crate::error::GatewayError;
use crate::request::WebhookRequest;

/// Form or query fields as a multi-map lookup, in the order sent.
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The request's fields: the form body for form posts, the query string for GETs.
    pub fn of(req: &WebhookRequest) -> Result<Self, GatewayError> {
        if req.method == http::Method::GET {
            return Ok(Fields(req.query()));
        }
        if req.content_type() != "application/x-www-form-urlencoded" {
            return Err(GatewayError::malformed("expected a form-encoded body"));
        }
        req.form()
            .map(Fields)
            .map_err(|_| GatewayError::malformed("form body does not decode"))
    }

    /// The first value of `name`, when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &'static str) -> Result<&str, GatewayError> {
        self.get(name)
            .ok_or_else(|| GatewayError::malformed(format!("missing field {name}")))
    }

    /// Names with all their values, names sorted and each name's values sorted
    /// (the order URL-signing schemes sign in).
    pub fn sorted_groups(&self) -> Vec<(&str, Vec<&str>)> {
        let mut map: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (k, v) in &self.0 {
            map.entry(k.as_str()).or_default().push(v.as_str());
        }
        map.into_iter()
            .map(|(k, mut vs)| {
                vs.sort_unstable();
                (k, vs)
            })
            .collect()
    }
}

/// A JSON string field, when present and not empty.
pub(crate) fn text(value: &serde_json::Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// A field that providers send as a string or as an integer (ids), as text.
pub(crate) fn id_text(value: &serde_json::Value) -> Option<String> {
    text(value).or_else(|| value.as_i64().map(|v| v.to_string()))
}

/// Parses a JSON body, with an error that names the position but never quotes the payload.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::malformed(format!(
            "body is not the expected JSON ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}
