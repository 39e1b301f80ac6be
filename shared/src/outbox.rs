//! Publication off the request path: the outbox and its publisher.
//!
//! A webhook is answered once its messages are stored. Each message is stored together with
//! an outbox record, in one transaction, in a table keyed by conversation (partition) and
//! arrival (sort key). DynamoDB Streams delivers the records of one partition in the order
//! they were written, so the publisher that tails the stream sends a conversation's messages
//! to its FIFO queue in the order the gateway received them, also after an outage: a record
//! that cannot be sent is reported as the batch's failure and the stream is retried from it.
//!
//! A message the queue refuses for good (too large, invalid) is quarantined: kept, counted,
//! alarmed and left out, so it blocks nothing. A record is deleted once its message is on the
//! queue; what the stream could not deliver (its retries ran out, its 24 h retention passed)
//! is published by the sweep, which only takes records older than a long minimum age.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashSet};

use crate::schema::{Channel, Message};
use crate::store::{QueueError, StoreError};
use crate::telemetry::{self, MetricSink};

/// One message waiting for publication, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Partition key: `<channel>#<conversation id>`.
    pub conversation: String,
    /// Sort key: arrival time (sortable), the message's place in its request, its id.
    pub seq: String,
    pub id: String,
    pub channel: Channel,
    /// The message as it is queued (claim-checked when large), JSON.
    pub message: String,
    /// Why the queue refused it for good, once quarantined.
    pub quarantined: Option<String>,
    /// When it was stored (RFC 3339): later than its arrival for a request kept while the store
    /// was down, or work done on the schedule. Absent on records of earlier releases.
    pub stored_at: Option<String>,
}

impl OutboxRecord {
    /// The record of `message`, the `position`-th message of the request received at
    /// `received_at`.
    pub fn of(message: &Message, position: usize) -> Result<Self, StoreError> {
        Ok(OutboxRecord {
            conversation: format!("{}#{}", message.channel, message.conversation_id),
            seq: seq(message.received_at, position, &message.id),
            id: message.id.clone(),
            channel: message.channel,
            message: serde_json::to_string(message)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            quarantined: None,
            stored_at: Some(sortable_time(Utc::now())),
        })
    }

    /// When it was stored, if its record says.
    pub fn stored_at(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.stored_at.as_deref()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// When the gateway received the message, from the sort key.
    pub fn received_at(&self) -> Option<DateTime<Utc>> {
        let time = self.seq.split('#').next()?;
        DateTime::parse_from_rfc3339(time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// The sort key: sorts as arrival does, then by place in the request; the id makes it unique.
pub fn seq(received_at: DateTime<Utc>, position: usize, id: &str) -> String {
    format!("{}#{position:05}#{id}", sortable_time(received_at))
}

/// RFC 3339 UTC with fixed microsecond precision, so the strings sort as the times do.
pub fn sortable_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The outbox, as the publisher and the sweep use it (port).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Removes a published record.
    async fn clear(&self, record: &OutboxRecord) -> Result<(), StoreError>;
    /// Marks a record the queue refused for good; it stays until someone re-publishes it.
    async fn quarantine(&self, record: &OutboxRecord, reason: &str) -> Result<(), StoreError>;
    /// Every record still in the outbox (quarantined ones included), at most `limit`.
    async fn waiting(&self, limit: usize) -> Result<Vec<OutboxRecord>, StoreError>;
}

/// The queues, by channel (port): each channel's FIFO queue.
#[async_trait]
pub trait Queues: Send + Sync {
    async fn publish(&self, channel: Channel, message: &Message) -> Result<(), QueueError>;
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    Sent,
    Quarantined(String),
    /// Not sent now (the queue or the outbox is unavailable): to be retried, in order.
    Retry(String),
}

/// Sends one record's message and removes the record; a message the queue refuses for good
/// is quarantined instead.
pub async fn publish_one(
    record: &OutboxRecord,
    outbox: &dyn Outbox,
    queues: &dyn Queues,
    metrics: &dyn MetricSink,
    now: DateTime<Utc>,
) -> Published {
    let message: Message = match serde_json::from_str(&record.message) {
        Ok(message) => message,
        Err(err) => {
            return quarantine(record, outbox, metrics, now, &format!("unreadable: {err}")).await;
        }
    };
    match queues.publish(record.channel, &message).await {
        Ok(()) => {}
        Err(err) if err.permanent => {
            return quarantine(record, outbox, metrics, now, &err.message).await;
        }
        Err(err) => return Published::Retry(err.message),
    }
    // On the queue: a failure to remove the record means it is sent again when retried,
    // which SQS drops as a duplicate within its five-minute window.
    match outbox.clear(record).await {
        Ok(()) => {
            if let Some(received) = record.received_at() {
                let since = |t: DateTime<Utc>| (now - t).num_milliseconds().max(0) as f64;
                let stored = record.stored_at().map(since);
                metrics.emit(telemetry::published(
                    now,
                    record.channel,
                    since(received),
                    stored,
                ));
            }
            Published::Sent
        }
        Err(err) => Published::Retry(err.to_string()),
    }
}

async fn quarantine(
    record: &OutboxRecord,
    outbox: &dyn Outbox,
    metrics: &dyn MetricSink,
    now: DateTime<Utc>,
    reason: &str,
) -> Published {
    // The reason names what SQS or the parser said; it never quotes the message.
    let reason: String = reason.chars().take(300).collect();
    match outbox.quarantine(record, &reason).await {
        Ok(()) => {
            tracing::error!(channel = %record.channel, id = %record.id, reason = %reason, "message quarantined: the queue refuses it; it blocks nothing and waits in the outbox");
            metrics.emit(telemetry::quarantined(now, record.channel));
            Published::Quarantined(reason)
        }
        Err(err) => Published::Retry(err.to_string()),
    }
}

/// Publishes a batch of stream records in stream order. Returns the index of the first
/// record to retry (everything from it on is retried, so a conversation's order holds), or
/// None when the whole batch is done.
pub async fn publish_batch(
    records: &[OutboxRecord],
    outbox: &dyn Outbox,
    queues: &dyn Queues,
    metrics: &dyn MetricSink,
    now: DateTime<Utc>,
) -> Option<usize> {
    for (index, record) in records.iter().enumerate() {
        if let Published::Retry(reason) = publish_one(record, outbox, queues, metrics, now).await {
            tracing::warn!(channel = %record.channel, id = %record.id, reason = %reason, "publication failed: the stream retries from this record");
            metrics.emit(telemetry::publish_failed(now, record.channel));
            return Some(index);
        }
    }
    None
}

/// What one sweep saw and did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Records in the outbox (quarantined ones included).
    pub waiting: usize,
    pub quarantined: usize,
    /// Age of the oldest record not quarantined, in seconds (0 when none).
    pub oldest_age_secs: i64,
    pub published: usize,
    /// Records left for the next sweep (their conversation failed earlier in this one).
    pub deferred: usize,
}

/// The backstop: publishes the outbox records older than `min_age` that the stream did not
/// deliver, each conversation in order; a conversation whose record fails waits for the next
/// sweep, the others go on. Emits, per channel and every run, the outbox's oldest age and its
/// quarantined count, so an alarm sees a stuck or refused message even when nothing else runs.
pub async fn sweep(
    outbox: &dyn Outbox,
    queues: &dyn Queues,
    metrics: &dyn MetricSink,
    now: DateTime<Utc>,
    min_age: Duration,
    limit: usize,
) -> Result<SweepReport, StoreError> {
    let mut records = outbox.waiting(limit).await?;
    records.sort_by(|a, b| (&a.conversation, &a.seq).cmp(&(&b.conversation, &b.seq)));
    let mut report = SweepReport {
        waiting: records.len(),
        ..Default::default()
    };
    let mut per_channel: BTreeMap<Channel, (i64, u32)> =
        Channel::ALL.iter().map(|c| (*c, (0, 0))).collect();
    let mut blocked = HashSet::new();
    for record in &records {
        let age = record
            .received_at()
            .map(|t| (now - t).num_seconds().max(0))
            .unwrap_or(i64::MAX / 2);
        let entry = per_channel.entry(record.channel).or_default();
        if record.quarantined.is_some() {
            report.quarantined += 1;
            entry.1 += 1;
            continue;
        }
        entry.0 = entry.0.max(age);
        report.oldest_age_secs = report.oldest_age_secs.max(age);
        if age < min_age.num_seconds() || blocked.contains(&record.conversation) {
            // Young: the stream is still delivering it (or an older record of its
            // conversation is waiting, and order comes first).
            blocked.insert(record.conversation.clone());
            report.deferred += 1;
            continue;
        }
        match publish_one(record, outbox, queues, metrics, now).await {
            Published::Sent => report.published += 1,
            Published::Quarantined(_) => {}
            Published::Retry(reason) => {
                tracing::warn!(channel = %record.channel, id = %record.id, reason = %reason, "sweep: publication failed, the conversation waits for the next run");
                blocked.insert(record.conversation.clone());
                report.deferred += 1;
            }
        }
    }
    for (channel, (oldest, quarantined)) in per_channel {
        metrics.emit(telemetry::outbox_state(now, channel, oldest, quarantined));
    }
    tracing::info!(
        waiting = report.waiting,
        published = report.published,
        quarantined = report.quarantined,
        deferred = report.deferred,
        oldest_age_secs = report.oldest_age_secs,
        "outbox sweep"
    );
    Ok(report)
}

/// In-memory queues for unit tests: what each channel's queue received, in order. SQS's
/// deduplication is left out on purpose, so a test sees every send the gateway makes.
#[derive(Default)]
pub struct MemoryQueues {
    pub sent: std::sync::Mutex<Vec<Message>>,
    /// When set, every send fails as if SQS were down.
    pub down: std::sync::atomic::AtomicBool,
    /// Ids the queue refuses for good (as SQS refuses a message that is too large).
    pub refuse: std::sync::Mutex<HashSet<String>>,
    /// Ids whose next send fails once, for now (a throttle, a timeout).
    pub flaky: std::sync::Mutex<HashSet<String>>,
}

#[async_trait]
impl Queues for MemoryQueues {
    async fn publish(&self, _channel: Channel, message: &Message) -> Result<(), QueueError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError::transient("memory queue is down"));
        }
        if self.flaky.lock().unwrap().remove(&message.id) {
            return Err(QueueError::transient("memory queue: throttled"));
        }
        if self.refuse.lock().unwrap().contains(&message.id) {
            return Err(QueueError::permanent("InvalidParameterValue: refused"));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}
