//! Typed configuration, read once at cold start from the environment.

use std::collections::BTreeMap;

use crate::channels::{ASSEMBLYAI_API_ENV, Endpoints, SNS_CERTIFICATES_ENV, TRANSCRIPT_GRACE_ENV};
use crate::providers::email::ses::CertPolicy;
use crate::schema::Channel;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

const MAX_CLAIM_CHECK_BYTES: usize = 240 * 1024;

/// A channel function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which channel this function serves (`CHANNEL`: `sms`, `social`, ...): one binary
    /// serves every channel, one function per channel runs it.
    pub channel: Channel,
    /// DynamoDB table shared by all channels (`TABLE_NAME`).
    pub table_name: String,
    /// The outbox table the messages are stored with, for the publisher (`OUTBOX_TABLE_NAME`).
    pub outbox_table_name: String,
    /// Secrets Manager id of this channel's JSON secret (`SECRET_ID`).
    pub secret_id: String,
    /// The public URL this function is reached at, without the provider segment
    /// (`PUBLIC_BASE_URL`, e.g. `https://hooks.example.com/sms`). Needed by URL-signing
    /// providers (Twilio, Plivo); without it the forwarded headers are used.
    pub public_base_url: Option<String>,
    /// Larger bodies are refused with 413 (`MAX_BODY_BYTES`, default 1 MiB).
    pub max_body_bytes: usize,
    /// Allowed clock difference for signed timestamps (`SIGNATURE_TOLERANCE_SECS`, default 300).
    pub signature_tolerance_secs: i64,
    /// Stored items expire after this many days (`RETENTION_DAYS`; unset or 0 keeps them).
    pub retention_days: Option<u32>,
    /// S3 bucket for claim checks, e-mail attachments and oversize raw bodies (`BUCKET_NAME`).
    pub bucket_name: String,
    /// Path-style S3 addressing, for local S3 emulators (`S3_FORCE_PATH_STYLE=true`).
    pub s3_force_path_style: bool,
    /// Messages whose JSON is larger go to S3 as claim checks (`CLAIM_CHECK_BYTES`, default
    /// 200 KiB, at most 240 KiB so the queued message and the table item stay under SQS's
    /// 256 KiB and DynamoDB's 400 KB).
    pub claim_check_bytes: usize,
    /// Where finished AssemblyAI transcripts are fetched (`ASSEMBLYAI_API_BASE_URL`, default
    /// the US API).
    pub assemblyai_api_base_url: String,
    /// Debug builds only (local runs): SNS certificates from this URL prefix instead of AWS's
    /// hosts (`LOCAL_SNS_CERT_BASE_URL`). Release builds, the ones deployed, never read it.
    pub local_sns_cert_base_url: Option<String>,
    /// The table of the parts of messages that arrive in pieces (`PARTS_TABLE_NAME`):
    /// required where a provider keeps parts (the registry says which).
    pub parts_table_name: Option<String>,
    /// How long after a real-time transcription's stop event its transcript is assembled,
    /// so utterances delivered late are in it (`TRANSCRIPT_GRACE_SECS`, default 60; 0
    /// assembles at the stop event).
    pub transcript_grace_secs: i64,
}

impl Config {
    /// Where this function's providers call out to.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            assemblyai_api: self.assemblyai_api_base_url.clone(),
            sns_certificates: match &self.local_sns_cert_base_url {
                Some(prefix) => CertPolicy::Prefix(prefix.clone()),
                None => CertPolicy::AwsSns,
            },
            transcript_grace: chrono::Duration::seconds(self.transcript_grace_secs),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let public_base_url = get("PUBLIC_BASE_URL").filter(|v| !v.trim().is_empty());
        if let Some(url) = &public_base_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid(
                "PUBLIC_BASE_URL",
                "must start with https:// or http://".into(),
            ));
        }
        Ok(Config {
            channel: required("CHANNEL")?
                .trim()
                .parse()
                .map_err(|e: String| ConfigError::Invalid("CHANNEL", e))?,
            table_name: required("TABLE_NAME")?,
            outbox_table_name: required("OUTBOX_TABLE_NAME")?,
            secret_id: required("SECRET_ID")?,
            public_base_url,
            max_body_bytes: parse(&get, "MAX_BODY_BYTES", 1024 * 1024)?,
            signature_tolerance_secs: parse(&get, "SIGNATURE_TOLERANCE_SECS", 300)?,
            retention_days: Some(parse(&get, "RETENTION_DAYS", 0u32)?).filter(|d| *d > 0),
            bucket_name: required("BUCKET_NAME")?,
            s3_force_path_style: parse(&get, "S3_FORCE_PATH_STYLE", false)?,
            claim_check_bytes: match parse(&get, "CLAIM_CHECK_BYTES", 200 * 1024)? {
                n @ 1024..=MAX_CLAIM_CHECK_BYTES => n,
                n => {
                    return Err(ConfigError::Invalid(
                        "CLAIM_CHECK_BYTES",
                        format!("{n} is outside 1024..={MAX_CLAIM_CHECK_BYTES}"),
                    ));
                }
            },
            assemblyai_api_base_url: get(ASSEMBLYAI_API_ENV)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "https://api.assemblyai.com".into()),
            local_sns_cert_base_url: if cfg!(debug_assertions) {
                get(SNS_CERTIFICATES_ENV).filter(|v| !v.trim().is_empty())
            } else {
                None
            },
            parts_table_name: get("PARTS_TABLE_NAME").filter(|v| !v.trim().is_empty()),
            transcript_grace_secs: match parse(&get, TRANSCRIPT_GRACE_ENV, 60i64)? {
                n @ 0..=3600 => n,
                n => {
                    return Err(ConfigError::Invalid(
                        TRANSCRIPT_GRACE_ENV,
                        format!("{n} is outside 0..=3600"),
                    ));
                }
            },
        })
    }
}

/// The settings of the publisher (which tails the outbox's stream) and of the sweep (which
/// publishes what the stream could not deliver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherConfig {
    /// The outbox table (`OUTBOX_TABLE_NAME`).
    pub outbox_table_name: String,
    /// Queue per channel, from `QUEUE_URL_<CHANNEL>` variables (`QUEUE_URL_SMS`, ...).
    pub queues: BTreeMap<Channel, String>,
    /// The sweep only takes records older than this (`SWEEP_MIN_AGE_SECS`, default 900):
    /// younger ones are the stream's, which retries them itself, in order.
    pub min_age_secs: i64,
    /// Most records one sweep reads (`SWEEP_BATCH`, default 1000).
    pub batch: usize,
}

impl PublisherConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_vars(&vars)
    }

    pub fn from_vars(vars: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).cloned();
        let mut queues = BTreeMap::new();
        for (name, url) in vars {
            if let Some(channel) = name.strip_prefix("QUEUE_URL_") {
                let channel = channel
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|e: String| ConfigError::Invalid("QUEUE_URL_<CHANNEL>", e))?;
                queues.insert(channel, url.clone());
            }
        }
        if queues.is_empty() {
            return Err(ConfigError::Missing("QUEUE_URL_<CHANNEL>"));
        }
        Ok(PublisherConfig {
            outbox_table_name: get("OUTBOX_TABLE_NAME")
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError::Missing("OUTBOX_TABLE_NAME"))?,
            queues,
            min_age_secs: parse(&get, "SWEEP_MIN_AGE_SECS", 900)?,
            batch: parse(&get, "SWEEP_BATCH", 1000)?,
        })
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::Invalid(name, format!("{v:?} is not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn every_registry_setting_is_read_with_the_default_the_templates_give() {
        let c = Config::from_lookup(env(&[
            ("CHANNEL", "voice"),
            ("TABLE_NAME", "messages"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("SECRET_ID", "gateway/voice"),
            ("BUCKET_NAME", "gateway-blobs"),
        ]))
        .unwrap();
        for spec in crate::channels::CHANNELS {
            for setting in spec.settings {
                let read = match setting.env {
                    ASSEMBLYAI_API_ENV => c.assemblyai_api_base_url.clone(),
                    TRANSCRIPT_GRACE_ENV => c.transcript_grace_secs.to_string(),
                    other => panic!("{other} is a stack parameter the configuration never reads"),
                };
                assert_eq!(read, setting.default, "{}", setting.env);
            }
        }
    }

    #[test]
    fn reads_required_and_defaults() {
        let c = Config::from_lookup(env(&[
            ("CHANNEL", "sms"),
            ("TABLE_NAME", "messages"),
            ("OUTBOX_TABLE_NAME", "outbox"),
            ("SECRET_ID", "gateway/sms"),
            ("BUCKET_NAME", "gateway-blobs"),
        ]))
        .unwrap();
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.claim_check_bytes, 200 * 1024);
        assert!(!c.s3_force_path_style);
        assert_eq!(c.signature_tolerance_secs, 300);
        assert_eq!(c.retention_days, None);
        assert_eq!(c.public_base_url, None);
    }

    #[test]
    fn reports_missing_and_invalid() {
        assert_eq!(
            Config::from_lookup(env(&[("CHANNEL", "sms"), ("TABLE_NAME", "t")])),
            Err(ConfigError::Missing("OUTBOX_TABLE_NAME"))
        );
        assert!(matches!(
            Config::from_lookup(env(&[("CHANNEL", "fax"), ("TABLE_NAME", "t")])),
            Err(ConfigError::Invalid("CHANNEL", _))
        ));
        let bad = Config::from_lookup(env(&[
            ("CHANNEL", "sms"),
            ("TABLE_NAME", "t"),
            ("OUTBOX_TABLE_NAME", "o"),
            ("SECRET_ID", "s"),
            ("BUCKET_NAME", "b"),
            ("MAX_BODY_BYTES", "lots"),
        ]));
        assert!(matches!(
            bad,
            Err(ConfigError::Invalid("MAX_BODY_BYTES", _))
        ));
        let bad_url = Config::from_lookup(env(&[
            ("CHANNEL", "sms"),
            ("TABLE_NAME", "t"),
            ("OUTBOX_TABLE_NAME", "o"),
            ("SECRET_ID", "s"),
            ("BUCKET_NAME", "b"),
            ("PUBLIC_BASE_URL", "hooks.example.com"),
        ]));
        assert!(matches!(
            bad_url,
            Err(ConfigError::Invalid("PUBLIC_BASE_URL", _))
        ));
        let too_big = Config::from_lookup(env(&[
            ("CHANNEL", "sms"),
            ("TABLE_NAME", "t"),
            ("OUTBOX_TABLE_NAME", "o"),
            ("SECRET_ID", "s"),
            ("BUCKET_NAME", "b"),
            ("CLAIM_CHECK_BYTES", "1000000"),
        ]));
        assert!(matches!(
            too_big,
            Err(ConfigError::Invalid("CLAIM_CHECK_BYTES", _))
        ));
    }

    #[test]
    fn publisher_collects_queues_per_channel() {
        let vars: BTreeMap<String, String> = [
            ("OUTBOX_TABLE_NAME", "o"),
            ("QUEUE_URL_SMS", "http://sms"),
            ("QUEUE_URL_CHAT", "http://chat"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let c = PublisherConfig::from_vars(&vars).unwrap();
        assert_eq!(c.queues[&Channel::Sms], "http://sms");
        assert_eq!(c.queues[&Channel::Chat], "http://chat");
        assert_eq!(c.min_age_secs, 900);
    }
}
