//! The redrive: publishes stored messages whose publication failed (SQS down, a timeout, a
//! crash between the write and the send). Run on a schedule by the `redrive` function.

use chrono::{DateTime, Duration, Utc};

use crate::pipeline::publish_in_order;
use crate::schema::Channel;
use crate::store::{MessageQueue, MessageStore, StoreError};
use crate::telemetry::RequestCounts;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub found: usize,
    pub published: usize,
}

/// Publishes up to `limit` messages of `channel` that have been pending for at least
/// `min_age_secs`, oldest first.
pub async fn sweep(
    store: &dyn MessageStore,
    queue: &dyn MessageQueue,
    channel: Channel,
    now: DateTime<Utc>,
    min_age_secs: i64,
    limit: usize,
) -> Result<SweepReport, StoreError> {
    let pending = store
        .pending(channel, now - Duration::seconds(min_age_secs), limit)
        .await?;
    let mut counts = RequestCounts::default();
    let published = publish_in_order(store, queue, &pending, &mut counts).await;
    Ok(SweepReport {
        found: pending.len(),
        published,
    })
}

/// Sweeps every channel, each with its own queue; a failing channel does not stop the others.
/// Returns, per channel, how many messages were found and published.
pub async fn sweep_all<Q: MessageQueue>(
    store: &dyn MessageStore,
    queues: &[(Channel, Q)],
    now: DateTime<Utc>,
    min_age_secs: i64,
    limit: usize,
    metrics: &dyn crate::telemetry::MetricSink,
) -> Result<std::collections::BTreeMap<String, (usize, usize)>, StoreError> {
    let mut reports = std::collections::BTreeMap::new();
    let mut first_error = None;
    for (channel, queue) in queues {
        match sweep(store, queue, *channel, now, min_age_secs, limit).await {
            Ok(report) => {
                let failed = report.found - report.published;
                tracing::info!(channel = %channel, found = report.found, published = report.published, "redrive sweep");
                metrics.emit(crate::telemetry::redrive_metrics(
                    now,
                    *channel,
                    report.published as u32,
                    failed as u32,
                ));
                reports.insert(channel.to_string(), (report.found, report.published));
            }
            Err(err) => {
                tracing::error!(channel = %channel, error = %err, "redrive sweep failed");
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(reports),
    }
}
