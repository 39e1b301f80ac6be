//! The sweep, on a schedule: publishes the outbox records the stream could not deliver (its
//! retries ran out, its retention passed), each conversation in order, and reports the
//! outbox's oldest age and quarantined count for the alarms.

use gateway_shared::aws::{self, DynamoStore, SqsQueues};
use gateway_shared::config::PublisherConfig;
use gateway_shared::{outbox, telemetry};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config = PublisherConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "",
        &config.outbox_table_name,
        None,
    );
    let queues = SqsQueues::new(&aws_sdk_sqs::Client::new(&sdk), &config.queues);
    let (store, queues, config) = (&store, &queues, &config);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = outbox::sweep(
            store,
            queues,
            &telemetry::StdoutSink,
            chrono::Utc::now(),
            chrono::Duration::seconds(config.min_age_secs),
            config.batch,
        )
        .await?;
        Ok::<_, lambda_runtime::Error>(json!(report))
    }))
    .await
}
