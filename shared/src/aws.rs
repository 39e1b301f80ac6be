//! AWS adapters: DynamoDB store, SQS FIFO queue, Secrets Manager secrets.
//!
//! The standard AWS configuration chain applies, so `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_SQS` and `AWS_ENDPOINT_URL_SECRETS_MANAGER` point the same binary at
//! local emulators, and leaving them unset uses AWS.

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, StreamSpecification,
    StreamViewType, TransactWriteItem,
};
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

use crate::blob::{BlobStore, object_ref};
use crate::outbox::{Outbox, OutboxRecord, Queues};
use crate::schema::ObjectRef;
use crate::schema::{Channel, Message};
use crate::secrets::{ChannelSecrets, SecretSource};
use crate::store::{
    Insert, MessageStore, PartStore, QueueError, Raw, StoreError, StoredMessage, TokenBinding,
};

/// Index of every message of one customer identity, in time order.
pub const TIMELINE_INDEX: &str = "by-customer";

/// DynamoDB's item limit is 400 KB; above this the raw payload is left out of the item.
const MAX_ITEM_BYTES: usize = 380 * 1024;

/// The SDK configuration every adapter shares: bounded timeouts (providers give up on slow
/// webhooks after 2 to 15 s) and a few retries. No network call happens here.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

pub use crate::outbox::sortable_time;

/// The messages table and its outbox table (and, for channels whose providers keep parts,
/// the parts table).
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    outbox_table: String,
    parts_table: Option<String>,
    retention_days: Option<u32>,
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        outbox_table: impl Into<String>,
        retention_days: Option<u32>,
    ) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            outbox_table: outbox_table.into(),
            parts_table: None,
            retention_days,
        }
    }

    /// With the parts table (`PARTS_TABLE_NAME`): one item per part, keyed by group and name.
    pub fn with_parts_table(mut self, table: Option<impl Into<String>>) -> Self {
        self.parts_table = table.map(Into::into);
        self
    }

    fn parts_table(&self) -> Result<&str, StoreError> {
        // The function refuses to start without it when a provider keeps parts
        // (`lambda::run`); reaching here without it is a wiring mistake, not an outage.
        self.parts_table
            .as_deref()
            .ok_or_else(|| StoreError::Refused("no parts table is configured".into()))
    }

    fn item(&self, stored: &StoredMessage) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let m = &stored.message;
        let json = serde_json::to_string(m).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let s = |v: &str| AttributeValue::S(v.to_string());
        let time = m.sent_at.unwrap_or(m.received_at);
        let mut item = HashMap::from([
            ("id".to_string(), s(&m.id)),
            ("channel".to_string(), s(m.channel.as_str())),
            ("provider".to_string(), s(&m.provider)),
            ("kind".to_string(), s(m.kind.as_str())),
            ("schema_version".to_string(), s(&m.schema_version)),
            ("conversation_id".to_string(), s(&m.conversation_id)),
            ("customer_key".to_string(), s(&m.customer.key)),
            (
                "timeline".to_string(),
                s(&format!("{}#{}", sortable_time(time), m.id)),
            ),
            ("received_at".to_string(), s(&sortable_time(m.received_at))),
            ("raw_content_type".to_string(), s(&stored.raw_content_type)),
        ]);
        match &stored.raw {
            Raw::Inline(raw) if json.len() + raw.len() <= MAX_ITEM_BYTES => {
                item.insert("raw".into(), AttributeValue::B(raw.to_vec().into()));
            }
            // The pipeline sends bodies this large to the bucket first; this is a backstop.
            Raw::Inline(_) => {
                item.insert("raw_omitted".into(), AttributeValue::Bool(true));
            }
            Raw::Object(object) => {
                item.insert(
                    "raw_object".into(),
                    AttributeValue::S(format!("s3://{}/{}", object.bucket, object.key)),
                );
            }
        }
        item.insert("message".into(), AttributeValue::S(json));
        if let Some(days) = self.retention_days {
            let expires = m.received_at.timestamp() + i64::from(days) * 86_400;
            item.insert("expires_at".into(), AttributeValue::N(expires.to_string()));
        }
        Ok(item)
    }

    /// Every message of one customer identity (`phone:+…`, `email:…`, ...) across all
    /// channels, in time order: the omnichannel timeline.
    pub async fn timeline(&self, customer_key: &str) -> Result<Vec<Message>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TIMELINE_INDEX)
            .key_condition_expression("customer_key = :k")
            .expression_attribute_values(":k", AttributeValue::S(customer_key.to_string()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        items
            .iter()
            .filter(|item| item.contains_key("message"))
            .map(message_of)
            .collect()
    }

    /// The stored item of one message id, as DynamoDB returns it.
    pub async fn get_item(
        &self,
        id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(out.item)
    }
}

fn message_of(item: &HashMap<String, AttributeValue>) -> Result<Message, StoreError> {
    let json = item
        .get("message")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("item has no message attribute".into()))?;
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn insert(&self, stored: &StoredMessage) -> Result<Insert, StoreError> {
        let record = OutboxRecord::of(&stored.message, stored.position)?;
        let message = Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.item(stored)?))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let outbox = Put::builder()
            .table_name(&self.outbox_table)
            .set_item(Some(outbox_item(&record)))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // One transaction: the message and its outbox record are stored together or not at
        // all. The SDK gives it an idempotency token, so its own retry of a transaction that
        // was applied but whose answer was lost succeeds instead of looking like a duplicate.
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(message).build())
            .transact_items(TransactWriteItem::builder().put(outbox).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Insert::New),
            Err(err) => {
                use aws_sdk_dynamodb::error::ProvideErrorMetadata;
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let reasons: Vec<&str> = match err.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .filter(|code| *code != "None")
                        .collect(),
                    _ => Vec::new(),
                };
                let text = DisplayErrorContext(&err).to_string();
                if reasons.first() == Some(&"ConditionalCheckFailed") {
                    Ok(Insert::Duplicate)
                } else if reasons.contains(&"ValidationError")
                    || err.code() == Some("ValidationException")
                {
                    // Too large, a key too long for an index: no retry will change it.
                    Err(StoreError::Refused(text))
                } else {
                    Err(StoreError::Unavailable(text))
                }
            }
        }
    }
}

fn outbox_item(record: &OutboxRecord) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_string());
    let mut item = HashMap::from([
        ("conversation".to_string(), s(&record.conversation)),
        ("seq".to_string(), s(&record.seq)),
        ("id".to_string(), s(&record.id)),
        ("channel".to_string(), s(record.channel.as_str())),
        ("message".to_string(), s(&record.message)),
    ]);
    if let Some(reason) = &record.quarantined {
        item.insert("quarantined".into(), s(reason));
    }
    if let Some(at) = &record.stored_at {
        item.insert("stored_at".into(), s(at));
    }
    item
}

/// An outbox record from its item (as a scan or a stream record's new image gives it).
pub fn outbox_record(item: &HashMap<String, AttributeValue>) -> Result<OutboxRecord, String> {
    let get = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| format!("outbox item without {name}"))
    };
    Ok(OutboxRecord {
        conversation: get("conversation")?,
        seq: get("seq")?,
        id: get("id")?,
        channel: get("channel")?.parse()?,
        message: get("message")?,
        quarantined: get("quarantined").ok(),
        stored_at: get("stored_at").ok(),
    })
}

/// An outbox item this release cannot read, as a quarantined record of its channel: the sweep
/// leaves it alone and counts it, so the channel's quarantine alarm fires.
fn unreadable_record(item: &HashMap<String, AttributeValue>, reason: &str) -> Option<OutboxRecord> {
    let get = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    Some(OutboxRecord {
        conversation: get("conversation")?,
        seq: get("seq")?,
        id: get("id").unwrap_or_default(),
        channel: get("channel")?.parse().ok()?,
        message: String::new(),
        quarantined: Some(format!("unreadable: {reason}")),
        stored_at: get("stored_at"),
    })
}

#[async_trait]
impl Outbox for DynamoStore {
    async fn clear(&self, record: &OutboxRecord) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.outbox_table)
            .key(
                "conversation",
                AttributeValue::S(record.conversation.clone()),
            )
            .key("seq", AttributeValue::S(record.seq.clone()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn quarantine(&self, record: &OutboxRecord, reason: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.outbox_table)
            .key(
                "conversation",
                AttributeValue::S(record.conversation.clone()),
            )
            .key("seq", AttributeValue::S(record.seq.clone()))
            .update_expression("SET quarantined = :r")
            .condition_expression("attribute_exists(seq)")
            .expression_attribute_values(":r", AttributeValue::S(reason.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn waiting(&self, limit: usize) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.outbox_table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            for item in page.items() {
                match outbox_record(item) {
                    Ok(record) => found.push(record),
                    // Written by another release or by hand: never fatal, and reported as
                    // quarantined (so alarmed) when its channel is known.
                    Err(reason) => match unreadable_record(item, &reason) {
                        Some(record) => found.push(record),
                        None => tracing::error!(reason = %reason, "unreadable outbox item skipped"),
                    },
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}

#[async_trait]
impl PartStore for DynamoStore {
    async fn put_part(
        &self,
        group: &str,
        name: &str,
        body: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(self.parts_table()?)
            .item("group", AttributeValue::S(group.to_string()))
            .item("part", AttributeValue::S(name.to_string()))
            .item("body", AttributeValue::S(body.to_string()))
            .item(
                "expires_at",
                AttributeValue::N(expires_at.timestamp().to_string()),
            )
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }

    async fn parts_through(
        &self,
        group: &str,
        last: &str,
        limit: usize,
    ) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let mut parts = std::collections::BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.parts_table()?)
                .key_condition_expression("#g = :g AND #p <= :last")
                .expression_attribute_names("#g", "group")
                .expression_attribute_names("#p", "part")
                .expression_attribute_values(":g", AttributeValue::S(group.to_string()))
                .expression_attribute_values(":last", AttributeValue::S(last.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .set_limit(i32::try_from(limit - parts.len()).ok())
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
            for item in out.items() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(name), Some(body)) = (text("part"), text("body")) {
                    parts.insert(name, body);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() || parts.len() >= limit {
                return Ok(parts);
            }
        }
    }

    async fn remove_part(&self, group: &str, name: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.parts_table()?)
            .key("group", AttributeValue::S(group.to_string()))
            .key("part", AttributeValue::S(name.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl TokenBinding for DynamoStore {
    async fn bind_once(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let expires = expires_at.timestamp();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(format!("bind#{key}")))
            .item("bound", AttributeValue::S(value.to_string()))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(id) OR bound = :v")
            .expression_attribute_values(":v", AttributeValue::S(value.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(StoreError::Unavailable(
                DisplayErrorContext(&err).to_string(),
            )),
        }
    }
}

/// A string attribute of a key schema.
fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

/// An on-demand table keyed by two strings (`hash`, then `range`).
fn keyed_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    hash: &str,
    range: &str,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(hash))
        .attribute_definitions(attr(range))
        .key_schema(key(hash, KeyType::Hash))
        .key_schema(key(range, KeyType::Range))
}

/// Creates the gateway's table with its indexes (local runs and tests; AWS gets it from the
/// templates in `infra/`, which must match).
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    let index = |name: &str, pk: &str, sk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash))
            .key_schema(key(sk, KeyType::Range))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .expect("index fields are set")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("id"))
        .attribute_definitions(attr("customer_key"))
        .attribute_definitions(attr("timeline"))
        .key_schema(key("id", KeyType::Hash))
        .global_secondary_indexes(index(TIMELINE_INDEX, "customer_key", "timeline"))
        .send()
        .await?;
    Ok(())
}

/// Creates the outbox table: one partition per conversation, records in arrival order, and
/// the stream the publisher tails (new images).
pub async fn create_outbox_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    keyed_table(client, table, "conversation", "seq")
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("enabled is set"),
        )
        .send()
        .await?;
    Ok(())
}

/// Creates the parts table: one item per part, keyed by its group and name, expiring on its
/// own (`expires_at`, the TTL attribute in the templates).
pub async fn create_parts_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), aws_sdk_dynamodb::Error> {
    keyed_table(client, table, "group", "part").send().await?;
    Ok(())
}

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
    }
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data type is set")
}

/// The body SQS is sent: the message's JSON, with the two characters SQS refuses that JSON
/// may carry raw (U+FFFE, U+FFFF; its controls are already escaped) written as JSON escapes,
/// so the queued document is the stored one, character for character.
pub fn queue_body(message: &Message) -> Result<String, QueueError> {
    let body = serde_json::to_string(message).map_err(|e| QueueError::permanent(e.to_string()))?;
    if body.contains(['\u{FFFE}', '\u{FFFF}']) {
        return Ok(body
            .replace('\u{FFFE}', "\\ufffe")
            .replace('\u{FFFF}', "\\uffff"));
    }
    Ok(body)
}

impl SqsQueue {
    /// One FIFO message: grouped by conversation (order per conversation) and deduplicated by
    /// the message id (a second send within SQS's 5-minute window is dropped by SQS).
    pub async fn publish(&self, message: &Message) -> Result<(), QueueError> {
        let body = queue_body(message)?;
        let mut send = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_group_id(&message.conversation_id)
            .message_deduplication_id(&message.id)
            .message_attributes("channel", string_attribute(message.channel.as_str()))
            .message_attributes("provider", string_attribute(&message.provider))
            .message_attributes("kind", string_attribute(message.kind.as_str()))
            .message_attributes("schema_version", string_attribute(&message.schema_version));
        if message.claim_check.is_some() {
            send = send.message_attributes("claim_check", string_attribute("s3"));
        }
        send.send().await.map_err(|e| {
            use aws_sdk_sqs::error::ProvideErrorMetadata;
            let text = aws_sdk_sqs::error::DisplayErrorContext(&e).to_string();
            // What SQS will never accept, however often it is sent: invalid characters, a
            // body over its size limit or another invalid parameter.
            let permanent = e.as_service_error().is_some_and(|s| {
                s.is_invalid_message_contents()
                    || matches!(
                        s.code(),
                        Some("InvalidParameterValue" | "InvalidMessageContents")
                    )
            });
            QueueError {
                message: text,
                permanent,
            }
        })?;
        Ok(())
    }
}

/// Each channel's queue, for the publisher and the sweep.
pub struct SqsQueues(pub HashMap<Channel, SqsQueue>);

impl SqsQueues {
    pub fn new(
        client: &aws_sdk_sqs::Client,
        urls: &std::collections::BTreeMap<Channel, String>,
    ) -> Self {
        SqsQueues(
            urls.iter()
                .map(|(channel, url)| (*channel, SqsQueue::new(client.clone(), url)))
                .collect(),
        )
    }
}

#[async_trait]
impl Queues for SqsQueues {
    async fn publish(&self, channel: Channel, message: &Message) -> Result<(), QueueError> {
        match self.0.get(&channel) {
            Some(queue) => queue.publish(message).await,
            // A deployment without this channel's queue: retried (and alarmed) until fixed.
            None => Err(QueueError::transient(format!(
                "no queue configured for {channel}"
            ))),
        }
    }
}

/// The gateway's S3 bucket: claim checks, e-mail attachments and oversize raw bodies.
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Blobs {
            client,
            bucket: bucket.into(),
        }
    }

    /// An S3 client from the shared configuration; path-style addressing for local emulators.
    pub fn client(sdk: &SdkConfig, force_path_style: bool) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(force_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<ObjectRef, StoreError> {
        let stored = object_ref(&self.bucket, key, &bytes);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(s3_unavailable)?;
        Ok(stored)
    }

    async fn fetch(&self, key: &str) -> Result<Option<bytes::Bytes>, StoreError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(s3_unavailable(e)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Some(body.into_bytes()))
    }

    async fn list(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(limit.min(1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(s3_unavailable)?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect())
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_unavailable)?;
        Ok(())
    }
}

fn s3_unavailable<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// A channel's JSON secret from Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        SecretsManagerSource {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn load(&self) -> Result<ChannelSecrets, String> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string())?;
        let text = out
            .secret_string()
            .ok_or("the secret has no SecretString (binary secrets are not supported)")?;
        ChannelSecrets::from_json(text)
    }
}
