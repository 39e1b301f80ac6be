//! The storage and queue ports, and in-memory adapters for unit tests of the pipeline.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::outbox::{self, Outbox, OutboxRecord, Queues};
use crate::schema::{Message, ObjectRef};
use crate::telemetry::MetricSink;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item unreadable: {0}")]
    Corrupt(String),
    /// A write the store will never accept, however often it is tried (an item over
    /// DynamoDB's size limit, a key too long for an index): permanent, not an outage.
    #[error("the store refuses this item for good: {0}")]
    Refused(String),
}

/// A queue's refusal: transient (retry later, in order) or permanent (the queue will never
/// take this message: it is quarantined rather than retried forever).
#[derive(Debug, thiserror::Error)]
#[error("queue refused the message: {message}")]
pub struct QueueError {
    pub message: String,
    pub permanent: bool,
}

impl QueueError {
    pub fn transient(message: impl Into<String>) -> Self {
        QueueError {
            message: message.into(),
            permanent: false,
        }
    }
    pub fn permanent(message: impl Into<String>) -> Self {
        QueueError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// A message with the raw provider payload it came from.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub message: Message,
    pub raw: Raw,
    pub raw_content_type: String,
    /// Its place among the messages of its request, so the outbox keeps their order.
    pub position: usize,
}

/// The provider's request body, kept beside the message so no provider field is lost.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Inline(Bytes),
    /// Too large for the table: kept in the gateway's bucket.
    Object(ObjectRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored now, with its outbox record.
    New,
    /// Already stored by an earlier or concurrent delivery; nothing written.
    Duplicate,
}

/// Durable, deduplicating message storage (port). It also keeps the state the few providers
/// that need some keep between requests, each behind a narrow port of its own.
#[async_trait]
pub trait MessageStore: PartStore + TokenBinding + Send + Sync {
    /// Stores the message and its outbox record in one atomic write, unless a message with
    /// its id exists (no read-then-write): the one durable write a webhook waits for.
    async fn insert(&self, item: &StoredMessage) -> Result<Insert, StoreError>;
}

/// Pieces of a message that arrives in several requests (a real-time transcript's
/// utterances), for the provider that assembles them, and the work it scheduled for later
/// (port). Each part is its own small item, so a group has no size limit.
#[async_trait]
pub trait PartStore: Send + Sync {
    /// Keeps one part under `group`, replacing a part of the same name, so a redelivered
    /// piece is kept once. The part expires on its own at `expires_at`.
    async fn put_part(
        &self,
        group: &str,
        name: &str,
        body: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Every part kept under `group`, by name (a consistent read).
    async fn parts(&self, group: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.parts_through(group, "\u{10ffff}", usize::MAX).await
    }
    /// The first `limit` parts of `group` whose names sort at or before `last`, by name.
    async fn parts_through(
        &self,
        group: &str,
        last: &str,
        limit: usize,
    ) -> Result<BTreeMap<String, String>, StoreError>;
    /// Removes one part (nothing there is not an error).
    async fn remove_part(&self, group: &str, name: &str) -> Result<(), StoreError>;
}

/// One-time bindings of signed tokens to the request they came with, for schemes whose
/// signature does not cover the body (port).
#[async_trait]
pub trait TokenBinding: Send + Sync {
    /// Binds `key` to `value` the first time `key` is seen, atomically, until `expires_at`.
    /// True when `key` is new or already bound to this same `value`; false when bound to
    /// another.
    async fn bind_once(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// In-memory store for unit tests. Its outbox keeps, like a stream, every record in the
/// order it was written; `publish` plays the publisher over what it has not delivered yet.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<String, StoredMessage>>,
    outbox: Mutex<BTreeMap<(String, String), OutboxRecord>>,
    stream: Mutex<(Vec<OutboxRecord>, usize)>,
    parts: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    bindings: Mutex<BTreeMap<String, String>>,
    /// When set, every call fails as if the service were down.
    pub down: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn messages(&self) -> Vec<Message> {
        let items = self.items.lock().unwrap();
        items.values().map(|m| m.message.clone()).collect()
    }
    pub fn stored(&self) -> Vec<StoredMessage> {
        let items = self.items.lock().unwrap();
        items.values().cloned().collect()
    }
    /// The records still in the outbox.
    pub fn outbox(&self) -> Vec<OutboxRecord> {
        self.outbox.lock().unwrap().values().cloned().collect()
    }
    /// Delivers the stream records not delivered yet to the publisher, as the stream's event
    /// source does: in order, retrying from the first failed record on the next call.
    pub async fn publish(
        &self,
        queues: &dyn Queues,
        metrics: &dyn MetricSink,
        now: DateTime<Utc>,
    ) -> usize {
        let (records, from) = {
            let stream = self.stream.lock().unwrap();
            (stream.0[stream.1..].to_vec(), stream.1)
        };
        let done = outbox::publish_batch(&records, self, queues, metrics, now)
            .await
            .unwrap_or(records.len());
        self.stream.lock().unwrap().1 = from + done;
        done
    }
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreError::Unavailable("memory store is down".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert(&self, item: &StoredMessage) -> Result<Insert, StoreError> {
        self.check()?;
        let record = OutboxRecord::of(&item.message, item.position)?;
        let mut items = self.items.lock().unwrap();
        if items.contains_key(&item.message.id) {
            return Ok(Insert::Duplicate);
        }
        items.insert(item.message.id.clone(), item.clone());
        self.outbox.lock().unwrap().insert(
            (record.conversation.clone(), record.seq.clone()),
            record.clone(),
        );
        self.stream.lock().unwrap().0.push(record);
        Ok(Insert::New)
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn clear(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        self.check()?;
        self.outbox
            .lock()
            .unwrap()
            .remove(&(record.conversation.clone(), record.seq.clone()));
        Ok(())
    }

    async fn quarantine(&self, record: &OutboxRecord, reason: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some(kept) = self
            .outbox
            .lock()
            .unwrap()
            .get_mut(&(record.conversation.clone(), record.seq.clone()))
        {
            kept.quarantined = Some(reason.to_string());
        }
        Ok(())
    }

    async fn waiting(&self, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        self.check()?;
        Ok(self
            .outbox
            .lock()
            .unwrap()
            .values()
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl PartStore for MemoryStore {
    async fn put_part(
        &self,
        group: &str,
        name: &str,
        body: &str,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.parts
            .lock()
            .unwrap()
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), body.to_string());
        Ok(())
    }

    async fn parts_through(
        &self,
        group: &str,
        last: &str,
        limit: usize,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        self.check()?;
        Ok(self
            .parts
            .lock()
            .unwrap()
            .get(group)
            .map(|parts| {
                parts
                    .range(..=last.to_string())
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn remove_part(&self, group: &str, name: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some(parts) = self.parts.lock().unwrap().get_mut(group) {
            parts.remove(name);
        }
        Ok(())
    }
}

#[async_trait]
impl TokenBinding for MemoryStore {
    async fn bind_once(
        &self,
        key: &str,
        value: &str,
        _expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.check()?;
        let mut bindings = self.bindings.lock().unwrap();
        let bound = bindings
            .entry(key.to_string())
            .or_insert_with(|| value.to_string());
        Ok(bound == value)
    }
}
