//! Provider secrets: one JSON secret per channel, keyed by provider.
//!
//! ```json
//! { "twilio": ["current-auth-token", "previous-auth-token"],
//!   "telnyx": "base64-public-key",
//!   "vonage": { "keys": ["signature-secret"], "sms_signature_method": "sha256" } }
//! ```
//! A provider's value is one key, a list of keys (current first, then the previous one while
//! a rotation is under way), or an object with `keys` plus provider options.
//!
//! Each registered provider's entry is checked when the secret is loaded (see [`KeyKind`]):
//! a blank or short key, an empty `whsec_` key, Basic credentials without a password, a blank
//! option are configuration errors. The provider's whole entry is then refused (it fails
//! closed, answering 401 `not_configured`), and the reason is logged and counted by provider,
//! never the key.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

use crate::error::AuthError;
use crate::verify;

/// The shortest shared secret accepted, in characters (or decoded bytes for `whsec_` keys).
/// Providers generate longer ones; a shorter one is a mistake or a guessable secret.
pub const MIN_SECRET_LEN: usize = 16;

/// What a provider's configured keys must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A shared secret (an HMAC key or a token), used as its UTF-8 bytes.
    Secret,
    /// Standard Webhooks: `whsec_` then the base64 key bytes (padding optional).
    Whsec,
    /// `user:password` for HTTP Basic authentication.
    BasicAuth,
    /// Basic credentials or a bare secret (Deepgram: either can authenticate a callback).
    BasicAuthOrSecret,
    /// A base64 Ed25519 public key (Telnyx).
    Ed25519PublicKey,
    /// An SNS topic ARN, `arn:<partition>:sns:<region>:<account>:<topic>` (SES through SNS).
    TopicArn,
}

impl KeyKind {
    /// Why `key` cannot be a key of this kind; the reason never quotes the key.
    pub fn check(self, key: &str) -> Result<(), &'static str> {
        if key.trim().is_empty() {
            return Err("a key is blank");
        }
        match self {
            KeyKind::Secret => long_enough(key),
            KeyKind::Whsec => match self.hmac_key(key) {
                None => Err("a whsec_ key is not base64"),
                Some(bytes) if bytes.len() < MIN_SECRET_LEN => {
                    Err("a whsec_ key decodes to fewer than 16 bytes")
                }
                Some(_) => Ok(()),
            },
            KeyKind::BasicAuth => basic(key),
            KeyKind::BasicAuthOrSecret if key.contains(':') => basic(key),
            KeyKind::BasicAuthOrSecret => long_enough(key),
            KeyKind::Ed25519PublicKey => verify::decode_base64(key)
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .filter(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok())
                .map(|_| ())
                .ok_or("a key is not a base64 Ed25519 public key"),
            KeyKind::TopicArn => topic_arn(key),
        }
    }

    /// The HMAC key bytes of a configured key, `None` when it cannot be one.
    pub fn hmac_key(self, key: &str) -> Option<Vec<u8>> {
        match self {
            KeyKind::Whsec => {
                verify::decode_base64_any_padding(key.strip_prefix("whsec_").unwrap_or(key))
                    .filter(|bytes| !bytes.is_empty())
            }
            _ => Some(key.as_bytes().to_vec()),
        }
    }

    /// Whether `key` is Basic credentials: `user:password`, both present.
    pub fn is_basic(key: &str) -> bool {
        key.split_once(':')
            .is_some_and(|(user, password)| !user.is_empty() && !password.is_empty())
    }
}

fn long_enough(key: &str) -> Result<(), &'static str> {
    if key.trim().chars().count() < MIN_SECRET_LEN {
        Err("a key is shorter than 16 characters")
    } else {
        Ok(())
    }
}

fn basic(key: &str) -> Result<(), &'static str> {
    match key.split_once(':') {
        Some((user, password)) if !user.trim().is_empty() && !password.trim().is_empty() => {
            long_enough(password)
                .map_err(|_| "a Basic key's password is shorter than 16 characters")
        }
        _ => Err("a Basic key is not user:password"),
    }
}

fn topic_arn(key: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = key.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty();
    if ok {
        Ok(())
    } else {
        Err("a key is not an SNS topic ARN")
    }
}

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

    /// Every key checked against `kind` (at least one is required).
    pub fn check_keys(&self, kind: KeyKind) -> Result<(), &'static str> {
        self.keys.iter().try_for_each(|key| kind.check(key))
    }

    /// An option that must not be blank when it is set.
    pub fn check_option(&self, name: &str) -> Result<(), &'static str> {
        match self.options.get(name) {
            None => Ok(()),
            Some(Value::String(v)) if !v.trim().is_empty() => Ok(()),
            Some(_) => Err("an option is blank or not text"),
        }
    }

    /// The first key `check` accepts (every key is tried, so timing does not tell which).
    pub fn find_key(&self, mut check: impl FnMut(&str) -> bool) -> Option<&str> {
        self.keys
            .iter()
            .fold(None, |found, key| match (check(key), found) {
                (true, None) => Some(key.as_str()),
                (_, found) => found,
            })
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
                (name, secret)
            })
            .collect();
        Ok(ChannelSecrets { providers })
    }

    /// Checks the entry of provider `name` with `check`; a refused entry is removed (the
    /// provider then fails closed) and the reason returned. Absent entries are left absent.
    pub fn validate(
        &mut self,
        name: &str,
        check: impl FnOnce(&ProviderSecret) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        let Some(secret) = self.providers.get(name) else {
            return Ok(());
        };
        let result = check(secret);
        if result.is_err() {
            self.providers.remove(name);
        }
        result
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
        assert_eq!(s.provider("e").keys, [""], "kept, for validation to refuse");
        assert!(s.provider("missing").keys.is_empty());
    }

    #[test]
    fn blank_short_and_empty_keys_are_configuration_errors() {
        let long = "0123456789abcdef";
        let refused = [
            (KeyKind::Secret, ""),
            (KeyKind::Secret, " "),
            (KeyKind::Secret, "\t\n"),
            (KeyKind::Secret, "short"),
            (KeyKind::Whsec, "whsec_"),
            (KeyKind::Whsec, "whsec_ "),
            (KeyKind::Whsec, "whsec_AAAA"),
            (KeyKind::Whsec, "whsec_not base64!"),
            (KeyKind::BasicAuth, " "),
            (KeyKind::BasicAuth, "user"),
            (KeyKind::BasicAuth, "user:"),
            (KeyKind::BasicAuth, ":0123456789abcdef"),
            (KeyKind::BasicAuth, "user:short"),
            (KeyKind::BasicAuthOrSecret, "user:"),
            (KeyKind::BasicAuthOrSecret, "short"),
            (KeyKind::Ed25519PublicKey, "AAAA"),
            (KeyKind::TopicArn, "arn:aws:sns:us-east-1:123:topic"),
        ];
        for (kind, key) in refused {
            assert!(kind.check(key).is_err(), "{kind:?} {key:?}");
        }
        let accepted = [
            (KeyKind::Secret, long),
            (KeyKind::Whsec, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            // Unpadded, as the official libraries decode it.
            (KeyKind::Whsec, "whsec_MDEyMzQ1Njc4OWFiY2RlZg"),
            (KeyKind::Whsec, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            (KeyKind::BasicAuth, "user:0123456789abcdef"),
            (KeyKind::BasicAuthOrSecret, long),
            (KeyKind::BasicAuthOrSecret, "user:0123456789abcdef"),
            (
                KeyKind::Ed25519PublicKey,
                "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            ),
            (
                KeyKind::TopicArn,
                "arn:aws:sns:us-east-1:123456789012:inbound-mail",
            ),
        ];
        for (kind, key) in accepted {
            assert_eq!(kind.check(key), Ok(()), "{kind:?} {key:?}");
        }
    }

    #[test]
    fn a_refused_entry_is_removed_and_fails_closed() {
        let mut s = ChannelSecrets::from_json(
            r#"{"webchat": "whsec_", "slack": "0123456789abcdef0123", "meta": {"keys": ["0123456789abcdef"], "verify_token": " "}}"#,
        )
        .unwrap();
        assert!(
            s.validate("webchat", |p| p.check_keys(KeyKind::Whsec))
                .is_err()
        );
        assert_eq!(
            s.validate("slack", |p| p.check_keys(KeyKind::Secret)),
            Ok(())
        );
        assert!(
            s.validate("meta", |p| p.check_option("verify_token"))
                .is_err()
        );
        assert_eq!(s.validate("absent", |_| Err("never called")), Ok(()));
        assert_eq!(
            s.provider("webchat").accept_any(|_| true),
            Err(AuthError::NotConfigured)
        );
        assert!(s.provider("meta").options.is_empty());
        assert_eq!(s.provider("slack").keys.len(), 1);
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
