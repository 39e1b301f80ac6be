//! The local AWS services (DynamoDB Local, moto) as the tests and the local run use them:
//! clients, provisioning of a table, a FIFO queue and a channel secret, and reading back.
//!
//! `gateway-local up` (stack.rs) starts the services and exports the `AWS_ENDPOINT_URL_*` variables;
//! everything here goes through the real SDK over the real wire protocols.

use aws_config::SdkConfig;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::collections::HashMap;

/// Fails with a clear message when the services are not running.
pub fn require_local_services() {
    for var in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        assert!(
            std::env::var(var).is_ok_and(|v| !v.is_empty()),
            "{var} is not set: run the integration tests with scripts/test.sh, or inside \
             `gateway-local up`, which start DynamoDB Local and moto and export their endpoints"
        );
    }
}

/// The functions' own SDK configuration; `gateway-local up` exports the endpoints, region
/// and dummy credentials it reads from the environment.
pub async fn sdk() -> SdkConfig {
    require_local_services();
    gateway_shared::aws::sdk_config().await
}

/// The host:port of a local service's endpoint variable (`AWS_ENDPOINT_URL_SQS`), for proxies.
pub fn endpoint_host(var: &str) -> String {
    let url = std::env::var(var).unwrap_or_default();
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A table (and its outbox), a bucket, a FIFO queue and a secret for one channel.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table: String,
    pub outbox: String,
    pub bucket: String,
    pub queue_url: String,
    pub secret_id: String,
}

pub async fn provision(
    sdk: &SdkConfig,
    table: &str,
    bucket: &str,
    queue: &str,
    secret_id: &str,
    secret: &Value,
) -> Result<Provisioned, Box<dyn std::error::Error>> {
    ensure_table(sdk, table).await?;
    ensure_outbox(sdk, &outbox_of(table)).await?;
    ensure_parts(sdk, &parts_of(table)).await?;
    ensure_bucket(sdk, bucket).await?;
    let queue_url = ensure_fifo_queue(sdk, queue).await?;
    put_secret(sdk, secret_id, secret).await?;
    Ok(Provisioned {
        table: table.into(),
        outbox: outbox_of(table),
        bucket: bucket.into(),
        queue_url,
        secret_id: secret_id.into(),
    })
}

/// The S3 client the functions use locally (path-style, for moto).
pub fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    gateway_shared::aws::S3Blobs::client(sdk, true)
}

pub async fn ensure_bucket(
    sdk: &SdkConfig,
    bucket: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = s3(sdk);
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    client.create_bucket().bucket(bucket).send().await?;
    Ok(())
}

/// An object's bytes from the local bucket.
pub async fn get_object(
    sdk: &SdkConfig,
    bucket: &str,
    key: &str,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let out = s3(sdk).get_object().bucket(bucket).key(key).send().await?;
    Ok(out.body.collect().await?.into_bytes().to_vec())
}

pub async fn ensure_table(sdk: &SdkConfig, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    if !exists(&client, table).await {
        gateway_shared::aws::create_table(&client, table).await?;
    }
    Ok(())
}

async fn exists(client: &aws_sdk_dynamodb::Client, table: &str) -> bool {
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
}

/// The outbox table that goes with a messages table, locally.
pub fn outbox_of(table: &str) -> String {
    format!("{table}-outbox")
}

pub async fn ensure_outbox(sdk: &SdkConfig, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    if !exists(&client, table).await {
        gateway_shared::aws::create_outbox_table(&client, table).await?;
    }
    Ok(())
}

/// The parts table that goes with a messages table, locally.
pub fn parts_of(table: &str) -> String {
    format!("{table}-parts")
}

pub async fn ensure_parts(sdk: &SdkConfig, table: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    if !exists(&client, table).await {
        gateway_shared::aws::create_parts_table(&client, table).await?;
    }
    Ok(())
}

/// The store a channel function uses on `table`, its outbox and its parts table.
pub fn store(sdk: &SdkConfig, table: &str) -> gateway_shared::aws::DynamoStore {
    gateway_shared::aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
        outbox_of(table),
        None,
    )
    .with_parts_table(Some(parts_of(table)))
}

/// Publishes what the outbox's stream holds, as the publisher function does in AWS: the
/// stream read through DynamoDB Local's Streams API, the batches handed to the publisher's
/// handler, each channel's messages sent to its queue in `queues`.
pub async fn publish(
    sdk: &SdkConfig,
    table: &str,
    queues: &std::collections::BTreeMap<gateway_shared::schema::Channel, String>,
) -> Result<crate::streams::Pass, Box<dyn std::error::Error>> {
    publish_via(sdk, table, queues, None).await
}

/// `publish`, with the publisher's AWS calls sent to `endpoint` (a recording proxy).
pub async fn publish_via(
    sdk: &SdkConfig,
    table: &str,
    queues: &std::collections::BTreeMap<gateway_shared::schema::Channel, String>,
    endpoint: Option<String>,
) -> Result<crate::streams::Pass, Box<dyn std::error::Error>> {
    Ok(publish_measured(sdk, table, queues, endpoint).await?.0)
}

/// What the publisher measured of each message it put on a queue: milliseconds from received
/// to stored, and from stored to on the queue.
pub type Timings = Vec<(f64, f64)>;

/// `publish_via`, with each published message's timings from the publisher's metric lines.
pub async fn publish_measured(
    sdk: &SdkConfig,
    table: &str,
    queues: &std::collections::BTreeMap<gateway_shared::schema::Channel, String>,
    endpoint: Option<String>,
) -> Result<(crate::streams::Pass, Timings), Box<dyn std::error::Error>> {
    let mut ddb = aws_sdk_dynamodb::config::Builder::from(sdk);
    let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
    if let Some(endpoint) = &endpoint {
        ddb = ddb.endpoint_url(endpoint);
        sqs = sqs.endpoint_url(endpoint);
    }
    let outbox = gateway_shared::aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(ddb.build()),
        table,
        outbox_of(table),
        None,
    );
    let queues =
        gateway_shared::aws::SqsQueues::new(&aws_sdk_sqs::Client::from_conf(sqs.build()), queues);
    let metrics = gateway_shared::telemetry::MemorySink::default();
    let clock = chrono::Utc::now;
    let publisher = crate::streams::Publisher {
        outbox: &outbox,
        queues: &queues,
        metrics: &metrics,
        clock: &clock,
    };
    let mut reader = crate::streams::StreamReader::via(sdk, &outbox_of(table), endpoint.as_deref());
    let pass = reader.drain(&publisher, 3).await?;
    let timings = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| {
            let line: serde_json::Value = serde_json::from_str(line).ok()?;
            let (whole, queued) = (
                line["PublishLatency"].as_f64()?,
                line["QueueLatency"].as_f64()?,
            );
            Some(((whole - queued).max(0.0), queued))
        })
        .collect();
    Ok((pass, timings))
}

/// The served functions' queues, from the variables `scripts/test.sh` sets
/// (`GATEWAY_<CHANNEL>_QUEUE_URL`).
pub fn served_queues() -> std::collections::BTreeMap<gateway_shared::schema::Channel, String> {
    gateway_shared::schema::Channel::ALL
        .iter()
        .filter_map(|c| {
            let var = format!("GATEWAY_{}_QUEUE_URL", c.as_str().to_uppercase());
            Some((*c, std::env::var(var).ok()?))
        })
        .collect()
}

/// Publishes what the served functions stored (the outbox of `GATEWAY_TABLE`), then drains
/// `queue_url`.
pub async fn drain_served(
    sdk: &SdkConfig,
    queue_url: &str,
) -> Result<Vec<Queued>, Box<dyn std::error::Error>> {
    let table = std::env::var("GATEWAY_TABLE").map_err(|_| "GATEWAY_TABLE is not set")?;
    // The publisher's calls go through a recording proxy of their own (`scripts/test.sh`), so
    // its role is checked against what it did, like the channel functions'.
    let endpoint = std::env::var("GATEWAY_PUBLISHER_ENDPOINT").ok();
    publish_via(sdk, &table, &served_queues(), endpoint).await?;
    drain(sdk, queue_url).await
}

/// A FIFO queue set up as the templates set it up: high throughput (deduplication and
/// throughput scoped per message group), no content-based deduplication.
pub async fn ensure_fifo_queue(
    sdk: &SdkConfig,
    name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let name = if name.ends_with(".fifo") {
        name.to_string()
    } else {
        format!("{name}.fifo")
    };
    let out = client
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await?;
    Ok(out.queue_url.unwrap_or_default())
}

pub async fn put_secret(
    sdk: &SdkConfig,
    secret_id: &str,
    secret: &Value,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let text = secret.to_string();
    let created = client
        .create_secret()
        .name(secret_id)
        .secret_string(&text)
        .send()
        .await;
    if created.is_err() {
        client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(&text)
            .send()
            .await?;
    }
    Ok(())
}

/// A message read from a queue: body as JSON plus the SQS attributes that matter here.
#[derive(Debug, Clone)]
pub struct Queued {
    pub body: Value,
    pub group_id: String,
    pub dedup_id: String,
    pub attributes: HashMap<String, String>,
}

/// Receives (and deletes) everything on the queue until it stays empty.
pub async fn drain(
    sdk: &SdkConfig,
    queue_url: &str,
) -> Result<Vec<Queued>, Box<dyn std::error::Error>> {
    let client = aws_sdk_sqs::Client::new(sdk);
    let mut all = Vec::new();
    loop {
        let out = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(all);
        }
        for m in messages {
            let system = m.attributes.clone().unwrap_or_default();
            let get = |name: aws_sdk_sqs::types::MessageSystemAttributeName| {
                system.get(&name).cloned().unwrap_or_default()
            };
            all.push(Queued {
                body: serde_json::from_str(m.body().unwrap_or("null"))?,
                group_id: get(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId),
                dedup_id: get(
                    aws_sdk_sqs::types::MessageSystemAttributeName::MessageDeduplicationId,
                ),
                attributes: m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.string_value.unwrap_or_default()))
                    .collect(),
            });
            if let Some(handle) = m.receipt_handle {
                client
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
}

/// Every item in the table (small local tables only).
pub async fn scan(
    sdk: &SdkConfig,
    table: &str,
) -> Result<Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>, Box<dyn std::error::Error>>
{
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let items = client
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await?;
    Ok(items)
}

/// A unique suffix for resources of one test, so tests can share the services.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// SQS's own checks of a message, which moto does not make: a body of at most 256 KiB, and
/// only the characters SQS allows. A message that breaks them is refused as SQS refuses it
/// (`InvalidParameterValue`, `InvalidMessageContents`: permanent); the others go on to `inner`.
pub struct SqsRules<Q>(pub Q);

/// SQS's largest message body.
pub const SQS_MAX_BODY: usize = 262_144;

#[async_trait::async_trait]
impl<Q: gateway_shared::outbox::Queues> gateway_shared::outbox::Queues for SqsRules<Q> {
    async fn publish(
        &self,
        channel: gateway_shared::schema::Channel,
        message: &gateway_shared::schema::Message,
    ) -> Result<(), gateway_shared::store::QueueError> {
        use gateway_shared::store::QueueError;
        let body = gateway_shared::aws::queue_body(message)?;
        if body.len() > SQS_MAX_BODY {
            return Err(QueueError::permanent(format!(
                "InvalidParameterValue: One or more parameters are invalid. Reason: Message must be shorter than {SQS_MAX_BODY} bytes."
            )));
        }
        let allowed = |c: char| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        if !body.chars().all(allowed) {
            return Err(QueueError::permanent(
                "InvalidMessageContents: Invalid characters found.",
            ));
        }
        self.0.publish(channel, message).await
    }
}
