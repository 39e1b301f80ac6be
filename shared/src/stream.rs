//! The publisher's side of the outbox stream: a DynamoDB Streams event (as Lambda's event
//! source mapping delivers it, or the local stream reader) in, the batch's failures out.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};

use crate::outbox::{self, Outbox, OutboxRecord, Queues};
use crate::telemetry::MetricSink;

/// The record an insert into the outbox carries, or why it cannot be read.
fn record_of(image: &serde_dynamo::Item) -> Result<OutboxRecord, String> {
    #[derive(serde::Deserialize)]
    struct Image {
        conversation: String,
        seq: String,
        id: String,
        channel: String,
        message: String,
        quarantined: Option<String>,
        stored_at: Option<String>,
    }
    let image: Image = serde_dynamo::from_item(image.clone()).map_err(|e| e.to_string())?;
    Ok(OutboxRecord {
        conversation: image.conversation,
        seq: image.seq,
        id: image.id,
        channel: image.channel.parse()?,
        message: image.message,
        quarantined: image.quarantined,
        stored_at: image.stored_at,
    })
}

/// Publishes the inserts of one stream batch, in order. On the first record that cannot be
/// published now, reports it as the batch's failure: the event source retries from that
/// record (and everything after it in the shard), so no conversation is overtaken. Updates
/// and removals (quarantine marks, cleared records) are not publications.
pub async fn handle(
    event: Event,
    outbox: &dyn Outbox,
    queues: &dyn Queues,
    metrics: &dyn MetricSink,
    now: DateTime<Utc>,
) -> DynamoDbEventResponse {
    let mut records = Vec::new();
    let mut sequence_numbers = Vec::new();
    for record in event.records {
        if record.event_name != "INSERT" {
            continue;
        }
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        match record_of(&record.change.new_image) {
            Ok(outboxed) => {
                records.push(outboxed);
                sequence_numbers.push(sequence);
            }
            // Not an outbox record this release can read: skipped (counted in the log); the
            // item stays in the table, where the sweep reports it.
            Err(reason) => {
                tracing::error!(sequence = %sequence, reason = %reason, "unreadable outbox stream record skipped")
            }
        }
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some(failed) = outbox::publish_batch(&records, outbox, queues, metrics, now).await {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence_numbers[failed].clone());
        response.batch_item_failures.push(failure);
    }
    response
}
