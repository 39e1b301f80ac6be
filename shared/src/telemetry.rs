//! JSON logs and CloudWatch Embedded Metric Format (EMF) lines.
//!
//! Logs carry ids, reasons and counts only: never message text, phone numbers, e-mail
//! addresses or secrets. Metric dimensions are bounded: an unknown provider is reported as
//! `unknown`, so callers cannot mint new dimension values.

use chrono::{DateTime, Utc};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::schema::Channel;

/// CloudWatch namespace of every metric the gateway emits.
pub const NAMESPACE: &str = "ChannelGateway";

/// Starts JSON logging on stdout, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .try_init();
}

/// Where metric lines go (port): stdout in Lambda, where CloudWatch extracts them.
pub trait MetricSink: Send + Sync {
    fn emit(&self, line: String);
}

pub struct StdoutSink;

impl MetricSink for StdoutSink {
    fn emit(&self, line: String) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// Keeps the lines, for tests.
#[derive(Default, Clone)]
pub struct MemorySink(pub Arc<Mutex<Vec<String>>>);

impl MetricSink for MemorySink {
    fn emit(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }
}

/// One EMF line for a provider whose secret entry was refused when the secrets were loaded
/// (a blank or short key, a blank option): `SecretRejected` by channel and provider.
pub fn secret_rejected(at: DateTime<Utc>, channel: Channel, provider: &str) -> String {
    json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["channel"], ["channel", "provider"]],
                "Metrics": [{ "Name": "SecretRejected", "Unit": "Count" }],
            }],
        },
        "channel": channel.as_str(),
        "provider": provider,
        "SecretRejected": 1,
    })
    .to_string()
}

/// How one request ended, for its metric line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    pub accepted: u32,
    pub duplicates: u32,
    /// Verified events a normaliser made nothing of: not stored (see `Message::has_content`).
    pub unrecognised: u32,
    /// Messages the store refuses for good: their request is kept in the bucket instead.
    pub unstorable: u32,
    /// Verified requests kept for replay because the store was down (see `intake`).
    pub kept: u32,
}

/// One EMF line for a handled request: counts by channel, and by channel and provider, and,
/// for a rejection, also by reason (the alarms on rejected signatures use channel and reason).
pub fn request_metrics(
    at: DateTime<Utc>,
    channel: Channel,
    provider: &str,
    counts: RequestCounts,
    rejected: Option<&str>,
    latency_ms: f64,
) -> String {
    let mut dimensions = vec![json!(["channel"]), json!(["channel", "provider"])];
    if rejected.is_some() {
        dimensions.push(json!(["channel", "reason"]));
        dimensions.push(json!(["channel", "provider", "reason"]));
    }
    let mut line = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [
                    {"Name": "Accepted", "Unit": "Count"},
                    {"Name": "Duplicates", "Unit": "Count"},
                    {"Name": "Rejected", "Unit": "Count"},
                    {"Name": "Unrecognised", "Unit": "Count"},
                    {"Name": "Unstorable", "Unit": "Count"},
                    {"Name": "Kept", "Unit": "Count"},
                    {"Name": "Latency", "Unit": "Milliseconds"},
                ],
            }],
        },
        "channel": channel.as_str(),
        "provider": provider,
        "Accepted": counts.accepted,
        "Duplicates": counts.duplicates,
        "Rejected": u32::from(rejected.is_some()),
        "Unrecognised": counts.unrecognised,
        "Unstorable": counts.unstorable,
        "Kept": counts.kept,
        "Latency": latency_ms,
    });
    if let Some(reason) = rejected {
        line["reason"] = json!(reason);
    }
    line.to_string()
}

fn channel_line(
    at: DateTime<Utc>,
    channel: Channel,
    metrics: &[(&str, &str, serde_json::Value)],
) -> String {
    let mut line = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["channel"]],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        },
        "channel": channel.as_str(),
    });
    for (name, _, value) in metrics {
        line[*name] = value.clone();
    }
    line.to_string()
}

/// A message the publisher put on its queue: how long after it was received, and after it was
/// stored (where its record says; the difference is the time to store it, which includes a
/// stay in the intake while the store was down).
pub fn published(
    at: DateTime<Utc>,
    channel: Channel,
    latency_ms: f64,
    since_stored_ms: Option<f64>,
) -> String {
    let mut metrics = vec![
        ("Published", "Count", json!(1)),
        ("PublishLatency", "Milliseconds", json!(latency_ms)),
    ];
    if let Some(ms) = since_stored_ms {
        metrics.push(("QueueLatency", "Milliseconds", json!(ms)));
    }
    channel_line(at, channel, &metrics)
}

/// A publication that failed for now (the stream or the sweep retries it).
pub fn publish_failed(at: DateTime<Utc>, channel: Channel) -> String {
    channel_line(at, channel, &[("PublishFailed", "Count", json!(1))])
}

/// A message the queue refused for good, now quarantined in the outbox.
pub fn quarantined(at: DateTime<Utc>, channel: Channel) -> String {
    channel_line(at, channel, &[("Quarantined", "Count", json!(1))])
}

/// The outbox as the sweep saw it: the age of its oldest record not quarantined (0 when
/// none) and how many records are quarantined. Emitted every run for every channel, so
/// missing data means the sweep did not run.
pub fn outbox_state(
    at: DateTime<Utc>,
    channel: Channel,
    oldest_age_secs: i64,
    quarantined: u32,
) -> String {
    channel_line(
        at,
        channel,
        &[
            ("OutboxOldestAge", "Seconds", json!(oldest_age_secs)),
            ("OutboxQuarantined", "Count", json!(quarantined)),
        ],
    )
}

/// Messages stored by providers' scheduled work in one run (assembled transcripts), and the
/// work done without its closing event (orphaned sessions, alarmed).
pub fn assembled(at: DateTime<Utc>, channel: Channel, count: u32, orphaned: u32) -> String {
    channel_line(
        at,
        channel,
        &[
            ("Assembled", "Count", json!(count)),
            ("Orphaned", "Count", json!(orphaned)),
        ],
    )
}

/// What a replay run of the intake did, and what still waits: the age of the oldest kept
/// request (0 when none). Emitted every run, so missing data means the replay did not run.
pub fn intake_metrics(
    at: DateTime<Utc>,
    channel: Channel,
    report: &crate::intake::ReplayReport,
) -> String {
    channel_line(
        at,
        channel,
        &[
            ("IntakeReplayed", "Count", json!(report.replayed)),
            ("IntakeRefused", "Count", json!(report.refused)),
            ("IntakeWaiting", "Count", json!(report.waiting)),
            ("IntakeOldestAge", "Seconds", json!(report.oldest_age_secs)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_lines_carry_the_reason_dimension() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let line = request_metrics(
            at,
            Channel::Sms,
            "twilio",
            RequestCounts::default(),
            Some("signature_invalid"),
            1.5,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Rejected"], 1);
        assert_eq!(v["reason"], "signature_invalid");
        assert_eq!(
            v["_aws"]["Timestamp"], 1_764_000_000_000_i64,
            "the clock's time"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([
                ["channel"],
                ["channel", "provider"],
                ["channel", "reason"],
                ["channel", "provider", "reason"]
            ])
        );
        let ok = request_metrics(
            at,
            Channel::Sms,
            "twilio",
            RequestCounts {
                accepted: 2,
                ..Default::default()
            },
            None,
            1.0,
        );
        let v: serde_json::Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(
            (v["Accepted"].as_u64(), v["Rejected"].as_u64()),
            (Some(2), Some(0))
        );
        assert!(v.get("reason").is_none());
    }
}
