//! The storage and queue ports, and in-memory adapters for unit tests of the pipeline.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::schema::{Channel, Message, ObjectRef};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item unreadable: {0}")]
    Corrupt(String),
}

#[derive(Debug, thiserror::Error)]
#[error("queue unavailable: {0}")]
pub struct QueueError(pub String);

/// A message with the raw provider payload it came from.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub message: Message,
    pub raw: Raw,
    pub raw_content_type: String,
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
    /// Stored now, marked pending publication.
    New,
    /// Already stored by an earlier or concurrent delivery; nothing written.
    Duplicate,
}

/// Durable, deduplicating message storage (port). It also keeps the state the few providers
/// that need some keep between requests, each behind a narrow port of its own.
#[async_trait]
pub trait MessageStore: PartStore + TokenBinding + Send + Sync {
    /// Stores the message unless one with its id exists, atomically (no read-then-write).
    async fn insert(&self, item: &StoredMessage) -> Result<Insert, StoreError>;
    /// Clears the pending-publication mark once the message is on its queue.
    async fn mark_published(&self, id: &str) -> Result<(), StoreError>;
    /// Messages of `channel` still pending publication, received before `before`, oldest first.
    async fn pending(
        &self,
        channel: Channel,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
}

/// Pieces of a message that arrives in several requests (a real-time transcript's
/// utterances), for the provider that assembles them (port).
#[async_trait]
pub trait PartStore: Send + Sync {
    /// Keeps one part under `group`, replacing a part of the same name, so a redelivered
    /// piece is kept once. The group expires on its own at `expires_at`.
    async fn put_part(
        &self,
        group: &str,
        name: &str,
        body: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Every part kept under `group`, by name.
    async fn parts(&self, group: &str) -> Result<BTreeMap<String, String>, StoreError>;
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

/// The channel's ordered, deduplicating queue (port).
#[async_trait]
pub trait MessageQueue: Send + Sync {
    async fn publish(&self, message: &Message) -> Result<(), QueueError>;
}

/// In-memory store for unit tests.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<String, (StoredMessage, bool)>>,
    parts: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
    bindings: Mutex<BTreeMap<String, String>>,
    /// When set, every call fails as if the service were down.
    pub down: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    pub fn messages(&self) -> Vec<Message> {
        let items = self.items.lock().unwrap();
        items.values().map(|(m, _)| m.message.clone()).collect()
    }
    pub fn stored(&self) -> Vec<StoredMessage> {
        let items = self.items.lock().unwrap();
        items.values().map(|(m, _)| m.clone()).collect()
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
        let mut items = self.items.lock().unwrap();
        if items.contains_key(&item.message.id) {
            return Ok(Insert::Duplicate);
        }
        items.insert(item.message.id.clone(), (item.clone(), true));
        Ok(Insert::New)
    }

    async fn mark_published(&self, id: &str) -> Result<(), StoreError> {
        self.check()?;
        if let Some((_, pending)) = self.items.lock().unwrap().get_mut(id) {
            *pending = false;
        }
        Ok(())
    }

    async fn pending(
        &self,
        channel: Channel,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.check()?;
        let items = self.items.lock().unwrap();
        let mut found: Vec<Message> = items
            .values()
            .filter(|(m, pending)| {
                *pending && m.message.channel == channel && m.message.received_at < before
            })
            .map(|(m, _)| m.message.clone())
            .collect();
        found.sort_by_key(|m| m.received_at);
        found.truncate(limit);
        Ok(found)
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

    async fn parts(&self, group: &str) -> Result<BTreeMap<String, String>, StoreError> {
        self.check()?;
        Ok(self
            .parts
            .lock()
            .unwrap()
            .get(group)
            .cloned()
            .unwrap_or_default())
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

/// In-memory queue for unit tests.
#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<Message>>,
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn publish(&self, message: &Message) -> Result<(), QueueError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("memory queue is down".into()));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}
