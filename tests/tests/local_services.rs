//! The storage and queue promises against the real local services: DynamoDB Local and moto's
//! SQS and Secrets Manager, through the same adapters the functions use. Run by
//! `scripts/test.sh`, which starts the services; each test provisions its own table and queue.

use gateway_shared::aws::{DynamoStore, S3Blobs, SecretsManagerSource, SqsQueue};
use gateway_shared::pipeline::{Gateway, Ports};
use gateway_shared::redrive;
use gateway_shared::schema::{Channel, Kind, Message, Party};
use gateway_shared::store::{MessageStore, StoredMessage};
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, Sample, find, sms_events};
use gateway_tests::local::{self, Provisioned};
use gateway_tests::proxy::FaultProxy;
use gateway_tests::{gateway, incoming, schema_validator};
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;

struct Env {
    sdk: aws_config::SdkConfig,
    p: Provisioned,
}

async fn env() -> Env {
    let sdk = local::sdk().await;
    let name = local::unique("it");
    let p = local::provision(&sdk, &name, &name, &name, &name, &fixtures::sms_secret())
        .await
        .expect("provisioned the local services");
    Env { sdk, p }
}

impl Env {
    fn store(&self) -> DynamoStore {
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.p.table,
            Some(30),
        )
    }
    fn queue(&self) -> SqsQueue {
        SqsQueue::new(aws_sdk_sqs::Client::new(&self.sdk), &self.p.queue_url)
    }
    fn blobs(&self) -> S3Blobs {
        S3Blobs::new(local::s3(&self.sdk), &self.p.bucket)
    }
    fn gateway(&self, metrics: MemorySink) -> Gateway {
        self.gateway_for(Channel::Sms, metrics)
    }
    fn gateway_for(&self, channel: Channel, metrics: MemorySink) -> Gateway {
        gateway_tests::gateway_with_blobs(
            channel,
            Arc::new(self.store()),
            Arc::new(self.queue()),
            Arc::new(self.blobs()),
            metrics,
        )
    }
    async fn drain(&self) -> Vec<local::Queued> {
        local::drain(&self.sdk, &self.p.queue_url)
            .await
            .expect("drained")
    }
    async fn items(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        local::scan(&self.sdk, &self.p.table)
            .await
            .expect("scanned")
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn every_sample_is_stored_once_and_queued_once_in_fifo_order() {
    let env = env().await;
    let gateway = env.gateway(MemorySink::default());
    let samples = sms_events(now());
    let mut expected = 0;
    for sample in &samples {
        let response = gateway.handle(incoming(sample)).await;
        assert_eq!(
            response.status.as_u16(),
            sample.expect.status,
            "{}",
            sample.file_name()
        );
        expected += sample.expect.messages;
    }
    let queued = env.drain().await;
    let items = env.items().await;
    assert_eq!(
        queued.len(),
        expected,
        "one queued message per valid sample"
    );
    assert_eq!(items.len(), expected, "one stored item per valid sample");
    let validator = schema_validator();
    for q in &queued {
        let errors: Vec<String> = validator
            .iter_errors(&q.body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "queued message violates the schema: {errors:?}"
        );
        let m: Message = serde_json::from_value(q.body.clone()).unwrap();
        assert_eq!(q.group_id, m.conversation_id, "grouped by conversation");
        assert_eq!(q.dedup_id, m.id, "deduplicated by id");
        assert_eq!(q.attributes["channel"], "sms");
        assert_eq!(q.attributes["provider"], m.provider);
        assert_eq!(q.attributes["kind"], m.kind.as_str());
        assert_eq!(q.attributes["schema_version"], m.schema_version);
    }
    for item in &items {
        assert!(
            !item.contains_key("pending"),
            "published items are no longer pending"
        );
        assert!(
            item.contains_key("expires_at"),
            "retention sets the TTL attribute"
        );
        let m: Message = serde_json::from_str(item["message"].as_s().unwrap()).unwrap();
        let raw = item["raw"].as_b().unwrap().as_ref();
        let sample = samples
            .iter()
            .find(|s| s.provider == m.provider && s.body() == raw)
            .expect("the raw provider payload is kept byte for byte");
        assert_ne!(sample.case, "tampered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_and_concurrent_duplicates_give_one_item_and_one_queued_message() {
    let env = env().await;
    let metrics = MemorySink::default();
    let gateway = Arc::new(env.gateway(metrics.clone()));
    let sample = find(&sms_events(now()), "telnyx", "inbound-text");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (gateway, sample) = (gateway.clone(), sample.clone());
        tasks.push(tokio::spawn(async move {
            gateway.handle(incoming(&sample)).await
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.unwrap().status.as_u16(),
            200,
            "every delivery is acknowledged"
        );
    }
    for _ in 0..3 {
        assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 200);
    }
    let lines: Vec<Value> = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let accepted: u64 = lines.iter().map(|l| l["Accepted"].as_u64().unwrap()).sum();
    let duplicates: u64 = lines
        .iter()
        .map(|l| l["Duplicates"].as_u64().unwrap())
        .sum();
    assert_eq!(
        (accepted, duplicates),
        (1, 14),
        "the conditional write admits exactly one"
    );
    assert_eq!(env.items().await.len(), 1);
    assert_eq!(env.drain().await.len(), 1);
}

#[tokio::test]
async fn an_sqs_outage_loses_nothing_and_the_redrive_queues_each_message_once() {
    let env = env().await;
    let proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_SQS"))
        .await
        .unwrap();
    let sqs_via_proxy = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&env.sdk)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let queue = Arc::new(SqsQueue::new(sqs_via_proxy, &env.p.queue_url));
    let store = Arc::new(env.store());
    let gateway = gateway(
        Channel::Sms,
        store.clone(),
        queue.clone(),
        MemorySink::default(),
    );
    let samples = sms_events(now());

    proxy.down();
    let during: Vec<Sample> = ["twilio", "plivo", "vonage"]
        .iter()
        .map(|p| find(&samples, p, "inbound-text"))
        .collect();
    for sample in &during {
        let response = gateway.handle(incoming(sample)).await;
        assert_eq!(
            response.status.as_u16(),
            200,
            "stored durably, so acknowledged"
        );
    }
    // A provider retry during the outage is still a duplicate, not a second item.
    assert_eq!(
        gateway.handle(incoming(&during[0])).await.status.as_u16(),
        200
    );
    assert!(env.drain().await.is_empty(), "nothing reached the queue");
    let items = env.items().await;
    assert_eq!(items.len(), 3);
    assert!(
        items.iter().all(|i| i.contains_key("pending")),
        "all marked pending"
    );

    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    let failed = redrive::sweep(store.as_ref(), queue.as_ref(), Channel::Sms, later, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        (failed.found, failed.published),
        (3, 0),
        "a sweep during the outage publishes nothing"
    );

    proxy.up();
    let report = redrive::sweep(store.as_ref(), queue.as_ref(), Channel::Sms, later, 0, 100)
        .await
        .unwrap();
    assert_eq!((report.found, report.published), (3, 3));
    let again = redrive::sweep(store.as_ref(), queue.as_ref(), Channel::Sms, later, 0, 100)
        .await
        .unwrap();
    assert_eq!(again.found, 0, "nothing left pending");
    let queued = env.drain().await;
    assert_eq!(queued.len(), 3, "each message queued exactly once");
    let mut ids: Vec<String> = queued.iter().map(|q| q.dedup_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert!(env.items().await.iter().all(|i| !i.contains_key("pending")));
    // Young pending messages are left to the request that is still publishing them.
    let young = redrive::sweep(
        store.as_ref(),
        queue.as_ref(),
        Channel::Sms,
        chrono::Utc::now(),
        60,
        100,
    )
    .await
    .unwrap();
    assert_eq!(young.found, 0);
}

#[tokio::test]
async fn a_dynamodb_outage_answers_503_and_queues_nothing() {
    let env = env().await;
    let proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_DYNAMODB"))
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let gateway = gateway(
        Channel::Sms,
        Arc::new(DynamoStore::new(ddb, &env.p.table, None)),
        Arc::new(env.queue()),
        MemorySink::default(),
    );
    let sample = find(&sms_events(now()), "vonage", "inbound-text");
    proxy.down();
    assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 503);
    assert!(env.drain().await.is_empty());
    proxy.up();
    assert_eq!(
        gateway.handle(incoming(&sample)).await.status.as_u16(),
        200,
        "the retry lands"
    );
    assert_eq!(env.drain().await.len(), 1);
}

#[tokio::test]
async fn secrets_are_read_from_secrets_manager_and_a_failed_read_is_retried() {
    let env = env().await;
    let secret_id = local::unique("missing-secret");
    let gateway = Gateway::new(
        Channel::Sms,
        gateway_tests::providers(Channel::Sms),
        gateway_tests::settings(Channel::Sms),
        Ports {
            store: Arc::new(env.store()),
            queue: Arc::new(env.queue()),
            blobs: Arc::new(env.blobs()),
            secrets: Arc::new(SecretsManagerSource::new(
                aws_sdk_secretsmanager::Client::new(&env.sdk),
                &secret_id,
            )),
            metrics: Arc::new(MemorySink::default()),
            clock: Arc::new(chrono::Utc::now),
        },
    );
    let sample = find(&sms_events(now()), "plivo", "inbound-media");
    let before = gateway.handle(incoming(&sample)).await;
    assert_eq!(
        before.status.as_u16(),
        503,
        "no secret yet: the provider should retry"
    );
    local::put_secret(&env.sdk, &secret_id, &fixtures::sms_secret())
        .await
        .unwrap();
    let after = gateway.handle(incoming(&sample)).await;
    assert_eq!(
        after.status.as_u16(),
        200,
        "the next request loads the secret"
    );
    assert_eq!(env.drain().await.len(), 1);
}

#[tokio::test]
async fn one_customer_reads_back_across_channels_in_time_order() {
    let env = env().await;
    let store = env.store();
    let customer_key = format!("phone:{}", fixtures::CUSTOMER_PHONE);
    let ctx = |channel, provider: &'static str, secs| gateway_shared::provider::Context {
        channel,
        provider,
        received_at: chrono::DateTime::from_timestamp(1_795_435_200 + secs, 0).unwrap(),
        secret: Default::default(),
        parts: Arc::new(gateway_shared::store::MemoryStore::default()),
    };
    let message = |channel: Channel, provider: &'static str, secs: i64, id: &str| {
        let c = ctx(channel, provider, secs);
        let mut customer = Party::from_id(channel, provider, fixtures::CUSTOMER_PHONE);
        customer.key = customer_key.clone();
        let mut m = c.message(
            Kind::Message,
            gateway_shared::schema::Direction::Inbound,
            id,
            id,
            customer,
            c.party("business"),
        );
        m.text = Some(format!("{provider} {secs}"));
        StoredMessage {
            message: m,
            raw: gateway_shared::store::Raw::Inline(bytes::Bytes::from_static(b"{}")),
            raw_content_type: "application/json".into(),
        }
    };
    // Stored out of order, on two channels.
    for m in [
        message(Channel::Chat, "webchat", 30, "c-30"),
        message(Channel::Sms, "twilio", 10, "s-10"),
        message(Channel::Sms, "telnyx", 20, "s-20"),
    ] {
        store.insert(&m).await.unwrap();
    }
    let other = message(Channel::Sms, "twilio", 15, "other");
    let mut other = other;
    other.message.customer.key = "phone:+447911123456".into();
    store.insert(&other).await.unwrap();

    let timeline = store.timeline(&customer_key).await.unwrap();
    let texts: Vec<_> = timeline.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(texts, ["twilio 10", "telnyx 20", "webchat 30"]);
    assert_eq!(timeline[2].channel, Channel::Chat);
}

#[tokio::test]
async fn an_oversize_transcript_is_a_claim_check_whose_s3_object_holds_the_whole_message() {
    let env = env().await;
    let gateway = env.gateway_for(Channel::Voice, MemorySink::default());
    let sample = fixtures::retell_long_call(now(), 3_000);
    let response = gateway.handle(incoming(&sample)).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);

    let queued = env.drain().await;
    assert_eq!(queued.len(), 1);
    let q = &queued[0];
    assert_eq!(q.attributes["claim_check"], "s3");
    assert!(schema_validator().is_valid(&q.body));
    let slim: Message = serde_json::from_value(q.body.clone()).unwrap();
    let check = slim.claim_check.clone().expect("a claim check");
    assert_eq!(check.object.bucket, env.p.bucket);
    assert!(check.omitted.contains(&"transcript.segments".to_string()));
    let object = local::get_object(&env.sdk, &check.object.bucket, &check.object.key)
        .await
        .expect("the claim-checked object is in S3");
    assert_eq!(object.len() as u64, check.object.size);
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&object)),
        check.object.sha256
    );
    let whole: Message = serde_json::from_slice(&object).unwrap();
    assert_eq!(whole.id, slim.id);
    assert_eq!(whole.transcript.unwrap().segments.len(), 3_000);

    // The table item holds the slim message and points at the raw body in S3.
    let store = env.store();
    let item = store.get_item(&slim.id).await.unwrap().expect("stored");
    let raw_object = item["raw_object"].as_s().unwrap();
    let key = raw_object
        .strip_prefix(&format!("s3://{}/", env.p.bucket))
        .expect("an s3 URL in the gateway's bucket");
    let raw = local::get_object(&env.sdk, &env.p.bucket, key)
        .await
        .unwrap();
    assert_eq!(raw, sample.body(), "the raw body is kept whole");
    let stored: Message = serde_json::from_str(item["message"].as_s().unwrap()).unwrap();
    assert_eq!(stored, slim);

    // A redelivery rewrites nothing new and queues nothing.
    assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 200);
    assert!(env.drain().await.is_empty());
}

#[tokio::test]
async fn twilio_realtime_parts_are_kept_in_the_table_until_the_session_stops() {
    let env = env().await;
    let samples = fixtures::voice_events(now());
    // Each event on a fresh gateway (a fresh Lambda instance): only the table links them.
    for case in [
        "realtime-started",
        "realtime-customer",
        "realtime-agent",
        "realtime-customer",
        "realtime-stopped",
    ] {
        let gateway = env.gateway_for(Channel::Voice, MemorySink::default());
        let sample = find(&samples, "twilio", case);
        assert_eq!(
            gateway.handle(incoming(&sample)).await.status.as_u16(),
            200,
            "{case}"
        );
    }
    let queued = env.drain().await;
    assert_eq!(queued.len(), 1);
    let m: Message = serde_json::from_value(queued[0].body.clone()).unwrap();
    let t = m.transcript.unwrap();
    assert_eq!(t.segments.len(), 2);
    assert_eq!(
        t.segments[0].speaker,
        gateway_shared::schema::Speaker::Customer
    );
    assert_eq!(
        t.segments[1].speaker,
        gateway_shared::schema::Speaker::Agent
    );
    // The parts item is not a message: the timeline and the redrive never see it.
    let store = env.store();
    assert_eq!(
        store
            .timeline(&format!("phone:{}", fixtures::CUSTOMER_PHONE))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn email_attachments_land_in_s3_and_mailgun_tokens_bind_in_the_table() {
    let env = env().await;
    let gateway = env.gateway_for(Channel::Email, MemorySink::default());
    let samples = fixtures::email_events(now(), &gateway_tests::standins::url());

    let with_pdf = find(&samples, "sendgrid", "parsed-attachment");
    assert_eq!(
        gateway.handle(incoming(&with_pdf)).await.status.as_u16(),
        200
    );
    let queued = env.drain().await;
    assert_eq!(queued.len(), 1);
    let m: Message = serde_json::from_value(queued[0].body.clone()).unwrap();
    let content = m.attachments[0].content.clone().expect("a reference");
    let pdf = local::get_object(&env.sdk, &content.bucket, &content.key)
        .await
        .expect("the attachment is in S3");
    assert_eq!(pdf, fixtures::receipt(4096));
    assert_eq!(hex::encode(sha2::Sha256::digest(&pdf)), content.sha256);

    // A Mailgun token is bound to its body in DynamoDB: a fresh instance (another gateway)
    // still refuses the token on another body.
    let original = find(&samples, "mailgun", "form-text");
    assert_eq!(
        gateway.handle(incoming(&original)).await.status.as_u16(),
        200
    );
    let other_instance = env.gateway_for(Channel::Email, MemorySink::default());
    let forged = fixtures::tamper(
        original.clone(),
        "m1.mailgun%40mail.example",
        "m9.mailgun%40mail.example",
    );
    assert_eq!(
        other_instance
            .handle(incoming(&forged))
            .await
            .status
            .as_u16(),
        401
    );
    assert_eq!(
        other_instance
            .handle(incoming(&original))
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(env.drain().await.len(), 1, "the redelivery is a duplicate");
}
