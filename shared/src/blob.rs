//! Claim checks: content too large for the table or the queue goes to the gateway's S3 bucket,
//! and the message carries a reference to it.
//!
//! Keys derive from the message id (or the body's hash), so a retried webhook writes the same
//! bytes to the same key: the writes are idempotent and happen before the message is stored,
//! so an acknowledged message never points at a missing object.

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::schema::{Channel, ClaimCheck, Message, ObjectRef};
use crate::store::StoreError;

/// Object storage for content too large to store or queue inline, and for the requests kept
/// while the store is down (port).
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what is there.
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<ObjectRef, StoreError>;
    /// The bytes at `key`; `None` when nothing is there.
    async fn fetch(&self, key: &str) -> Result<Option<Bytes>, StoreError>;
    /// Up to `limit` keys under `prefix`, in key order.
    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Removes what is at `key` (nothing there is not an error).
    async fn remove(&self, key: &str) -> Result<(), StoreError>;
}

/// The reference an adapter returns for `bytes` stored at `bucket`/`key`.
pub fn object_ref(bucket: &str, key: &str, bytes: &[u8]) -> ObjectRef {
    ObjectRef {
        bucket: bucket.to_string(),
        key: key.to_string(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

/// Where a request body too large for the table is kept: one object per distinct body.
pub fn raw_key(channel: Channel, body: &[u8]) -> String {
    format!("{channel}/raw/{}", hex::encode(Sha256::digest(body)))
}

/// Where a verified request whose message the store refuses for good is kept.
pub fn unstorable_key(channel: Channel, body: &[u8]) -> String {
    format!("{channel}/unstorable/{}", hex::encode(Sha256::digest(body)))
}

/// Moves the inline bytes of `message`'s attachments to the bucket, leaving references.
pub async fn offload_attachments(
    blobs: &dyn BlobStore,
    message: &mut Message,
) -> Result<(), StoreError> {
    let prefix = format!("{}/attachments/{}", message.channel, message.id);
    for (index, attachment) in message.attachments.iter_mut().enumerate() {
        let Some(data) = attachment.data.take() else {
            continue;
        };
        let content_type = attachment
            .mime_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let stored = blobs
            .put(&format!("{prefix}/{index}"), content_type, data)
            .await?;
        attachment.size.get_or_insert(stored.size);
        attachment.content = Some(stored);
    }
    Ok(())
}

/// The fields a claim check leaves out, bulkiest first; attachments only when the rest was not
/// enough.
const BULKY: [&str; 5] = [
    "text",
    "transcript.full_text",
    "transcript.segments",
    "email.full_text",
    "email.html",
];

/// Returns `message` as it may be stored and queued: itself when its JSON is at most `limit`
/// bytes, otherwise a copy without its bulky fields whose `claim_check` points at the whole
/// message, written to the bucket first.
pub async fn claim_check(
    blobs: &dyn BlobStore,
    message: Message,
    limit: usize,
) -> Result<Message, StoreError> {
    let whole = serde_json::to_vec(&message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if whole.len() <= limit {
        return Ok(message);
    }
    let mut slim = message;
    let mut omitted: Vec<String> = BULKY
        .into_iter()
        .filter(|field| take(&mut slim, field))
        .map(String::from)
        .collect();
    let placeholder = ObjectRef {
        bucket: String::new(),
        key: String::new(),
        size: 0,
        sha256: String::new(),
    };
    slim.claim_check = Some(ClaimCheck {
        object: placeholder,
        omitted: omitted.clone(),
    });
    // A reference is at most a few hundred bytes; keep that much room for it.
    if json_len(&slim)? + 512 > limit && !slim.attachments.is_empty() {
        slim.attachments.clear();
        omitted.push("attachments".into());
    }
    // Keyed by the bytes too: a redelivery (whose `received_at` differs) writes its own
    // object and never rewrites the one the stored message points at.
    let digest = hex::encode(Sha256::digest(&whole));
    let key = format!("{}/messages/{}/{digest}.json", slim.channel, slim.id);
    let object = blobs
        .put(&key, "application/json", Bytes::from(whole))
        .await?;
    slim.claim_check = Some(ClaimCheck { object, omitted });
    if json_len(&slim)? > limit {
        return Err(StoreError::Refused(format!(
            "message {} exceeds {limit} bytes even without its bulky fields",
            slim.id
        )));
    }
    Ok(slim)
}

fn json_len(message: &Message) -> Result<usize, StoreError> {
    serde_json::to_vec(message)
        .map(|v| v.len())
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Clears the field at `path`; true when it held something.
fn take(message: &mut Message, path: &str) -> bool {
    match path {
        "text" => message.text.take().is_some(),
        "transcript.full_text" => message
            .transcript
            .as_mut()
            .is_some_and(|t| t.full_text.take().is_some()),
        "transcript.segments" => message
            .transcript
            .as_mut()
            .is_some_and(|t| !std::mem::take(&mut t.segments).is_empty()),
        "email.full_text" => message
            .email
            .as_mut()
            .is_some_and(|e| e.full_text.take().is_some()),
        "email.html" => message
            .email
            .as_mut()
            .is_some_and(|e| e.html.take().is_some()),
        _ => false,
    }
}

/// In-memory bucket for unit tests.
#[derive(Default)]
pub struct MemoryBlobs {
    objects: Mutex<BTreeMap<String, (String, Bytes)>>,
    /// When set, every call fails as if the service were down.
    pub down: AtomicBool,
}

impl MemoryBlobs {
    pub const BUCKET: &'static str = "memory";

    /// The content type and bytes stored at `key`.
    pub fn get(&self, key: &str) -> Option<(String, Bytes)> {
        self.objects.lock().unwrap().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory bucket is down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobs {
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: Bytes,
    ) -> Result<ObjectRef, StoreError> {
        self.check()?;
        let stored = object_ref(Self::BUCKET, key, &bytes);
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), (content_type.to_string(), bytes));
        Ok(stored)
    }

    async fn fetch(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        self.check()?;
        Ok(self.get(key).map(|(_, bytes)| bytes))
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.check()?;
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Context;
    use crate::schema::{
        Attachment, AttachmentKind, Direction, Kind, Segment, Speaker, Transcript,
    };

    fn transcript_message(segments: usize) -> Message {
        let ctx = Context {
            channel: Channel::Voice,
            provider: "test",
            received_at: chrono::Utc::now(),
            secret: Default::default(),
            parts: std::sync::Arc::new(crate::store::MemoryStore::default()),
        };
        let mut m = ctx.message(
            Kind::Transcript,
            Direction::Inbound,
            "CA1",
            "CA1",
            ctx.party("+14155550100"),
            ctx.party("+12025550123"),
        );
        let segments: Vec<Segment> = (0..segments)
            .map(|i| Segment {
                speaker: Speaker::Customer,
                start: i as f64,
                end: i as f64 + 1.0,
                text: "words spoken in this part of the call".into(),
                confidence: Some(0.9),
            })
            .collect();
        m.text = Some("x".repeat(segments.len() * 10));
        m.transcript = Some(Transcript {
            call_id: "CA1".into(),
            full_text: Some("y".repeat(segments.len() * 10)),
            segments,
            ..Default::default()
        });
        m
    }

    #[tokio::test]
    async fn small_messages_pass_unchanged() {
        let blobs = MemoryBlobs::default();
        let m = transcript_message(3);
        let out = claim_check(&blobs, m.clone(), 10_000).await.unwrap();
        assert_eq!(out, m);
        assert!(blobs.keys().is_empty());
    }

    #[tokio::test]
    async fn oversize_messages_become_a_reference_to_the_whole() {
        let blobs = MemoryBlobs::default();
        let m = transcript_message(2_000);
        let limit = 4_096;
        let out = claim_check(&blobs, m.clone(), limit).await.unwrap();
        assert!(serde_json::to_vec(&out).unwrap().len() <= limit);
        let check = out.claim_check.as_ref().expect("a claim check");
        assert_eq!(
            check.omitted,
            ["text", "transcript.full_text", "transcript.segments"]
        );
        assert!(out.text.is_none() && out.transcript.as_ref().unwrap().segments.is_empty());
        assert_eq!(out.transcript.as_ref().unwrap().call_id, "CA1");
        let (content_type, bytes) = blobs.get(&check.object.key).unwrap();
        assert_eq!(content_type, "application/json");
        assert_eq!(
            check.object.key,
            format!("voice/messages/{}/{}.json", m.id, check.object.sha256)
        );
        assert_eq!(check.object.size, bytes.len() as u64);
        assert_eq!(check.object.sha256, hex::encode(Sha256::digest(&bytes)));
        let whole: Message = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(whole, m);
    }

    #[tokio::test]
    async fn attachments_go_when_the_rest_is_not_enough() {
        let blobs = MemoryBlobs::default();
        let mut m = transcript_message(0);
        m.attachments = (0..200)
            .map(|i| Attachment {
                kind: AttachmentKind::File,
                name: Some(format!("file-{i}-with-a-long-descriptive-name.pdf")),
                ..Default::default()
            })
            .collect();
        let out = claim_check(&blobs, m, 2_048).await.unwrap();
        assert!(out.attachments.is_empty());
        assert!(
            out.claim_check
                .unwrap()
                .omitted
                .contains(&"attachments".to_string())
        );
    }

    #[tokio::test]
    async fn inline_attachment_bytes_move_to_the_bucket() {
        let blobs = MemoryBlobs::default();
        let mut m = transcript_message(0);
        m.attachments.push(Attachment {
            kind: AttachmentKind::File,
            mime_type: Some("application/pdf".into()),
            data: Some(Bytes::from_static(b"%PDF-1.7 ...")),
            ..Default::default()
        });
        offload_attachments(&blobs, &mut m).await.unwrap();
        let a = &m.attachments[0];
        assert!(a.data.is_none());
        assert_eq!(a.size, Some(12));
        let content = a.content.as_ref().unwrap();
        assert_eq!(content.key, format!("voice/attachments/{}/0", m.id));
        assert_eq!(
            blobs.get(&content.key).unwrap(),
            (
                "application/pdf".to_string(),
                Bytes::from_static(b"%PDF-1.7 ...")
            )
        );
    }

    #[tokio::test]
    async fn a_bucket_outage_is_an_error_not_a_silent_drop() {
        let blobs = MemoryBlobs::default();
        blobs.down.store(true, Ordering::SeqCst);
        let err = claim_check(&blobs, transcript_message(2_000), 4_096).await;
        assert!(matches!(err, Err(StoreError::Unavailable(_))));
    }
}
