//! The publisher: DynamoDB Streams on the outbox table invoke it with batches of records (one
//! shard at a time, in order); it sends each message to its channel's FIFO queue and reports
//! the first record it could not send, so the stream retries from there.

use aws_lambda_events::event::dynamodb::Event;
use gateway_shared::aws::{self, DynamoStore, SqsQueues};
use gateway_shared::config::PublisherConfig;
use gateway_shared::{stream, telemetry};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config = PublisherConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    // Only the outbox is touched: the messages table's name is not needed.
    let outbox = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "",
        &config.outbox_table_name,
        None,
    );
    let queues = SqsQueues::new(&aws_sdk_sqs::Client::new(&sdk), &config.queues);
    let (outbox, queues) = (&outbox, &queues);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let response = stream::handle(
            event.payload,
            outbox,
            queues,
            &telemetry::StdoutSink,
            chrono::Utc::now(),
        )
        .await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
