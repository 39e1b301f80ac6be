//! The redrive function: on a schedule, publishes every stored message whose publication to
//! its channel's queue failed, so nothing acknowledged to a provider is lost.

use gateway_shared::aws::{self, DynamoStore, SqsQueue};
use gateway_shared::config::RedriveConfig;
use gateway_shared::{redrive, telemetry};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_logging();
    let config = RedriveConfig::from_env()?;
    let sdk = aws::sdk_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.table_name,
        None,
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queues: Vec<_> = config
        .queues
        .iter()
        .map(|(channel, url)| (*channel, SqsQueue::new(sqs.clone(), url)))
        .collect();
    let (store, queues, config) = (&store, &queues, &config);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = redrive::sweep_all(
            store,
            queues,
            chrono::Utc::now(),
            config.min_age_secs,
            config.batch,
            &telemetry::StdoutSink,
        )
        .await?;
        Ok::<_, lambda_runtime::Error>(json!(report))
    }))
    .await
}
