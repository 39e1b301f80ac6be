//! Provider secrets: one JSON secret per channel, keyed by provider.
//!
//! ```json
//! { "twilio": ["current-auth-token", "previous-auth-token"],
//!   "telnyx": "base64-public-key",
//!   "vonage": { "keys": ["signature-secret"], "sms_signature_method": "sha256" } }
//! ```
//! A provider's value is one key, a list of keys (current first, then the previous one while
//! a rotation is under way), or an object with `keys` plus provider options.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::error::AuthError;

/// One provider's keys and options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSecret {
    /// Accepted keys, current first. Every check accepts a match with any of them.
    pub keys: Vec<String>,
    /// Provider-specific settings (signature method, verify token, ...).
    pub options: Map<String, Value>,
}

impl ProviderSecret {
    pub fn new(keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ProviderSecret {
            keys: keys.into_iter().map(Into::into).collect(),
            options: Map::new(),
        }
    }

    /// An option's text value.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(Value::as_str)
    }

    /// Ok when `check` accepts any configured key; fails closed when there is none.
    pub fn accept_any(&self, mut check: impl FnMut(&str) -> bool) -> Result<(), AuthError> {
        if self.keys.is_empty() {
            return Err(AuthError::NotConfigured);
        }
        // Check every key, so timing does not reveal which one matched.
        let matched = self
            .keys
            .iter()
            .fold(false, |matched, key| check(key) | matched);
        if matched {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// All provider secrets of one channel.
#[derive(Debug, Clone, Default)]
pub struct ChannelSecrets {
    providers: HashMap<String, ProviderSecret>,
}

impl ChannelSecrets {
    pub fn from_json(json: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            One(String),
            Many(Vec<String>),
            Full {
                keys: KeysField,
                #[serde(flatten)]
                options: Map<String, Value>,
            },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum KeysField {
            One(String),
            Many(Vec<String>),
        }
        // serde's message would quote the secret's text: keep only the position.
        let raw: HashMap<String, Entry> = serde_json::from_str(json).map_err(|e| {
            format!(
                "secret is not a JSON object of provider entries (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let providers = raw
            .into_iter()
            .map(|(name, entry)| {
                let secret = match entry {
                    Entry::One(key) => ProviderSecret::new([key]),
                    Entry::Many(keys) => ProviderSecret::new(keys),
                    Entry::Full { keys, options } => ProviderSecret {
                        keys: match keys {
                            KeysField::One(k) => vec![k],
                            KeysField::Many(ks) => ks,
                        },
                        options,
                    },
                };
                let keys = secret.keys.into_iter().filter(|k| !k.is_empty()).collect();
                (name, ProviderSecret { keys, ..secret })
            })
            .collect();
        Ok(ChannelSecrets { providers })
    }

    /// The provider's secret; an empty one (which every check refuses) when not configured.
    pub fn provider(&self, name: &str) -> ProviderSecret {
        self.providers.get(name).cloned().unwrap_or_default()
    }
}

/// Where a channel's secrets come from (port).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn load(&self) -> Result<ChannelSecrets, String>;
}

/// Fixed secrets, for tests and local tools.
pub struct StaticSecrets(pub ChannelSecrets);

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn load(&self) -> Result<ChannelSecrets, String> {
        Ok(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_entry_form() {
        let s = ChannelSecrets::from_json(
            r#"{"a":"k1","b":["k1","k2"],"c":{"keys":["k3"],"method":"sha256"},"d":{"keys":"k4"},"e":[""]}"#,
        )
        .unwrap();
        assert_eq!(s.provider("a").keys, ["k1"]);
        assert_eq!(s.provider("b").keys, ["k1", "k2"]);
        assert_eq!(s.provider("c").keys, ["k3"]);
        assert_eq!(s.provider("c").option("method"), Some("sha256"));
        assert_eq!(s.provider("d").keys, ["k4"]);
        assert!(s.provider("e").keys.is_empty(), "empty keys are not keys");
        assert!(s.provider("missing").keys.is_empty());
    }

    #[test]
    fn parse_errors_do_not_quote_the_secret() {
        let err = ChannelSecrets::from_json(r#"{"a": 42, "b": "hunter2"}"#).unwrap_err();
        assert!(!err.contains("hunter2") && !err.contains("42"), "{err}");
    }

    #[test]
    fn any_key_matches_and_none_fails_closed() {
        let s = ProviderSecret::new(["new", "old"]);
        assert_eq!(s.accept_any(|k| k == "old"), Ok(()));
        assert_eq!(s.accept_any(|k| k == "other"), Err(AuthError::Invalid));
        assert_eq!(
            ProviderSecret::default().accept_any(|_| true),
            Err(AuthError::NotConfigured)
        );
    }
}
