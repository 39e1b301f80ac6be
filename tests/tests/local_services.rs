//! The storage and queue promises against the real local services: DynamoDB Local (with its
//! stream) and moto's SQS, S3 and Secrets Manager, through the same adapters the functions
//! use; publication through the outbox's stream, read as Lambda's event source reads it.
//! Run by `scripts/test.sh`, which starts the services; each test provisions its own table,
//! outbox and queue.

use gateway_shared::aws::{DynamoStore, S3Blobs, SecretsManagerSource, SqsQueues};
use gateway_shared::outbox;
use gateway_shared::pipeline::{Gateway, Ports};
use gateway_shared::schema::{Channel, Kind, Message, Party};
use gateway_shared::store::{MessageStore, StoredMessage};
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, Sample, find, sms_events};
use gateway_tests::local::{self, Provisioned};
use gateway_tests::proxy::FaultProxy;
use gateway_tests::{incoming, schema_validator};
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
            &self.p.outbox,
            Some(30),
        )
        .with_parts_table(Some(local::parts_of(&self.p.table)))
    }
    /// Every channel's messages go to this test's one queue.
    fn queue_urls(&self) -> std::collections::BTreeMap<Channel, String> {
        Channel::ALL
            .iter()
            .map(|c| (*c, self.p.queue_url.clone()))
            .collect()
    }
    fn queues_via(&self, sqs: aws_sdk_sqs::Client) -> SqsQueues {
        SqsQueues::new(&sqs, &self.queue_urls())
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
            Arc::new(self.blobs()),
            metrics,
        )
    }
    /// Publishes what the outbox's stream holds (the publisher's handler, fed by DynamoDB
    /// Local's stream), then receives everything on the queue.
    async fn drain(&self) -> Vec<local::Queued> {
        local::publish(&self.sdk, &self.p.table, &self.queue_urls())
            .await
            .expect("published");
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
    let mut handled = Vec::new();
    for sample in &samples {
        handled.extend(gateway_tests::message_ids(sample).await);
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
    // Per conversation (FIFO group), the queue holds its messages in the order handled.
    let mut groups: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for q in &queued {
        groups
            .entry(q.group_id.clone())
            .or_default()
            .push(q.dedup_id.clone());
    }
    for (group, ids) in &groups {
        let in_order: Vec<&String> = handled.iter().filter(|id| ids.contains(id)).collect();
        assert_eq!(
            ids.iter().collect::<Vec<_>>(),
            in_order,
            "conversation {group}: queued in the order received"
        );
    }
    assert!(
        groups.values().any(|ids| ids.len() > 1),
        "some conversation has several messages, so order is really checked"
    );
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
    assert!(
        local::scan(&env.sdk, &env.p.outbox)
            .await
            .unwrap()
            .is_empty(),
        "published outbox records are removed"
    );
    for item in &items {
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

/// Reads the outbox's stream into the publisher's handler, with SQS reached through `sqs`.
async fn publish_via(env: &Env, sqs: aws_sdk_sqs::Client) -> gateway_tests::streams::Pass {
    let store = env.store();
    let queues = env.queues_via(sqs);
    let metrics = MemorySink::default();
    let clock = chrono::Utc::now;
    let publisher = gateway_tests::streams::Publisher {
        outbox: &store,
        queues: &queues,
        metrics: &metrics,
        clock: &clock,
    };
    gateway_tests::streams::StreamReader::new(&env.sdk, &env.p.outbox)
        .pass(&publisher)
        .await
        .expect("read the stream")
}

#[tokio::test]
async fn an_sqs_outage_loses_nothing_and_keeps_each_conversation_in_order() {
    let env = env().await;
    let proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_SQS"))
        .await
        .unwrap();
    let sqs_via_proxy = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&env.sdk)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let gateway = env.gateway(MemorySink::default());
    let samples = sms_events(now());

    proxy.down();
    // One conversation's text and picture, another provider's text; then a redelivery storm.
    let during: Vec<Sample> = [
        ("twilio", "inbound-text"),
        ("plivo", "inbound-text"),
        ("twilio", "inbound-media"),
    ]
    .iter()
    .map(|(p, case)| find(&samples, p, case))
    .collect();
    let mut order = Vec::new();
    for sample in &during {
        order.extend(gateway_tests::message_ids(sample).await);
        let response = gateway.handle(incoming(sample)).await;
        assert_eq!(response.status.as_u16(), 200, "stored, so acknowledged");
        let failed = publish_via(&env, sqs_via_proxy.clone()).await;
        assert!(failed.failures > 0, "SQS is down: the batch fails");
    }
    for sample in during.iter().chain(&during) {
        assert_eq!(gateway.handle(incoming(sample)).await.status.as_u16(), 200);
    }
    assert!(
        local::drain(&env.sdk, &env.p.queue_url)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.items().await.len(), 3, "redeliveries are duplicates");
    assert_eq!(
        local::scan(&env.sdk, &env.p.outbox).await.unwrap().len(),
        3,
        "all three wait in the outbox"
    );

    // The sweep leaves young records to the stream.
    let young = outbox::sweep(
        &env.store(),
        &env.queues_via(sqs_via_proxy.clone()),
        &MemorySink::default(),
        chrono::Utc::now(),
        chrono::Duration::minutes(15),
        100,
    )
    .await
    .unwrap();
    assert_eq!((young.waiting, young.published), (3, 0));

    proxy.up();
    let pass = publish_via(&env, sqs_via_proxy.clone()).await;
    assert_eq!(pass.failures, 0);
    let queued = local::drain(&env.sdk, &env.p.queue_url).await.unwrap();
    let ids: Vec<String> = queued.iter().map(|q| q.dedup_id.clone()).collect();
    assert_eq!(ids, order, "each once, in the order received");
    assert!(
        local::scan(&env.sdk, &env.p.outbox)
            .await
            .unwrap()
            .is_empty()
    );
    // Read again, the stream holds nothing new.
    assert_eq!(publish_via(&env, sqs_via_proxy).await.delivered, 0);
}

#[tokio::test]
async fn a_message_sqs_refuses_is_quarantined_and_blocks_only_itself() {
    let env = env().await;
    let gateway = env.gateway(MemorySink::default());
    let samples = sms_events(now());
    // A record whose message SQS can never take (over its 256 KiB limit) enters the outbox
    // first, as a release with a bigger message or a hand edit could leave it.
    let first = find(&samples, "twilio", "inbound-text");
    gateway.handle(incoming(&first)).await;
    let record = local::scan(&env.sdk, &env.p.outbox).await.unwrap()[0].clone();
    let mut huge: Message = serde_json::from_str(record["message"].as_s().unwrap()).unwrap();
    huge.id = "huge".into();
    huge.text = Some("x".repeat(300 * 1024));
    let mut poisoned = record.clone();
    poisoned.insert(
        "id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("huge".into()),
    );
    poisoned.insert(
        "seq".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(format!("{}-0", record["seq"].as_s().unwrap())),
    );
    poisoned.insert(
        "message".into(),
        aws_sdk_dynamodb::types::AttributeValue::S(serde_json::to_string(&huge).unwrap()),
    );
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .put_item()
        .table_name(&env.p.outbox)
        .set_item(Some(poisoned))
        .send()
        .await
        .unwrap();
    for (provider, case) in [("twilio", "inbound-media"), ("plivo", "inbound-text")] {
        gateway
            .handle(incoming(&find(&samples, provider, case)))
            .await;
    }
    // SQS refuses a body over 256 KiB; moto does not, so the rig applies SQS's rules.
    let store = env.store();
    let queues = local::SqsRules(env.queues_via(aws_sdk_sqs::Client::new(&env.sdk)));
    let metrics = MemorySink::default();
    let clock = chrono::Utc::now;
    let publisher = gateway_tests::streams::Publisher {
        outbox: &store,
        queues: &queues,
        metrics: &metrics,
        clock: &clock,
    };
    let pass = gateway_tests::streams::StreamReader::new(&env.sdk, &env.p.outbox)
        .pass(&publisher)
        .await
        .unwrap();
    assert_eq!(
        pass.failures, 0,
        "a refusal for good is not a failure to retry"
    );
    let queued = local::drain(&env.sdk, &env.p.queue_url).await.unwrap();
    let ids: Vec<&str> = queued.iter().map(|q| q.dedup_id.as_str()).collect();
    assert_eq!(ids.len(), 3, "everything else is published: {ids:?}");
    assert!(!ids.contains(&"huge"));
    let left = local::scan(&env.sdk, &env.p.outbox).await.unwrap();
    assert_eq!(left.len(), 1, "the refused message is kept");
    assert_eq!(left[0]["id"].as_s().unwrap(), "huge");
    assert!(
        left[0]["quarantined"]
            .as_s()
            .unwrap()
            .contains("InvalidParameterValue"),
        "with SQS's reason: {:?}",
        left[0]["quarantined"]
    );
    let report = outbox::sweep(
        &env.store(),
        &queues,
        &MemorySink::default(),
        chrono::Utc::now() + chrono::Duration::hours(1),
        chrono::Duration::minutes(15),
        100,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.quarantined, report.published),
        (1, 0),
        "counted every sweep, never retried blindly"
    );
}

#[tokio::test]
async fn a_dynamodb_outage_keeps_requests_in_s3_and_the_replay_queues_each_once_in_order() {
    let env = env().await;
    let proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_DYNAMODB"))
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let gateway = gateway_tests::gateway_with_blobs(
        Channel::Sms,
        Arc::new(DynamoStore::new(ddb, &env.p.table, &env.p.outbox, None)),
        Arc::new(env.blobs()),
        MemorySink::default(),
    );
    let samples = sms_events(now());
    let sent: Vec<Sample> = ["vonage", "twilio", "telnyx"]
        .iter()
        .map(|p| find(&samples, p, "inbound-text"))
        .collect();
    proxy.down();
    for sample in &sent {
        assert_eq!(
            gateway.handle(incoming(sample)).await.status.as_u16(),
            200,
            "kept, not refused"
        );
    }
    let listed = local::s3(&env.sdk)
        .list_objects_v2()
        .bucket(&env.p.bucket)
        .prefix("sms/intake/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), sent.len(), "kept in S3");
    assert!(env.drain().await.is_empty(), "nothing unstored is queued");
    let until = || std::time::Instant::now() + std::time::Duration::from_secs(30);
    let waiting = gateway.replay_intake(until()).await.unwrap();
    assert_eq!(
        (waiting.replayed, waiting.waiting),
        (0, 3),
        "the store is still down"
    );

    proxy.up();
    let report = gateway.replay_intake(until()).await.unwrap();
    assert_eq!((report.replayed, report.refused, report.waiting), (3, 0, 0));
    let queued = env.drain().await;
    let providers: Vec<&str> = queued
        .iter()
        .map(|q| q.body["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["vonage", "twilio", "telnyx"],
        "in arrival order"
    );
    // The provider retries one anyway: a duplicate, stored and queued once.
    assert_eq!(
        gateway.handle(incoming(&sent[1])).await.status.as_u16(),
        200
    );
    assert!(env.drain().await.is_empty());
    let again = gateway.replay_intake(until()).await.unwrap();
    assert_eq!(again.replayed, 0, "replayed objects are gone from S3");
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
            position: 0,
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

    // A redelivery (its `received_at` differs) queues nothing and leaves the object the stored
    // message points at as it was.
    assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 200);
    assert!(env.drain().await.is_empty());
    let after = local::get_object(&env.sdk, &check.object.bucket, &check.object.key)
        .await
        .unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&after)),
        check.object.sha256,
        "the claim-checked object is never rewritten"
    );
}

#[tokio::test]
async fn twilio_realtime_parts_are_kept_in_the_parts_table_until_the_session_stops() {
    let env = env().await;
    let samples = fixtures::voice_events(now());
    // Each event on a fresh gateway (a fresh Lambda instance): only the parts table links them.
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
    // Parts are not messages: the messages table holds the transcript only.
    let messages = env.items().await;
    assert_eq!(
        messages.len(),
        1,
        "only the transcript is in the messages table"
    );
}

#[tokio::test]
async fn a_three_thousand_utterance_call_is_assembled_whole_after_its_grace() {
    // One item per utterance: the session's parts have no size limit (one item per session
    // stopped taking parts at DynamoDB's 400 KB, about 2,500 utterances).
    let env = env().await;
    let offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let clock_offset = offset.clone();
    let gateway = Gateway::new(
        Channel::Voice,
        vec![Box::new(
            gateway_shared::providers::voice::twilio::TwilioVoice::new(chrono::Duration::seconds(
                60,
            )),
        )],
        gateway_tests::settings(Channel::Voice),
        Ports {
            store: Arc::new(env.store()),
            blobs: Arc::new(env.blobs()),
            secrets: Arc::new(gateway_shared::secrets::StaticSecrets(
                gateway_shared::secrets::ChannelSecrets::from_json(
                    &fixtures::voice_secret().to_string(),
                )
                .unwrap(),
            )),
            metrics: Arc::new(MemorySink::default()),
            clock: Arc::new(move || {
                chrono::Utc::now()
                    + chrono::Duration::seconds(
                        clock_offset.load(std::sync::atomic::Ordering::SeqCst),
                    )
            }),
        },
    );
    let call = fixtures::twilio_realtime_call(now(), 3_000);
    let (stopped, events) = call.split_last().unwrap();
    // The stop event races the last utterances: it is handled before the last ten.
    let (early, late) = events.split_at(events.len() - 10);
    let gateway = Arc::new(gateway);
    for chunk in early.chunks(250) {
        let handles: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|sample| {
                let gateway = gateway.clone();
                tokio::spawn(async move { gateway.handle(incoming(&sample)).await.status })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.await.unwrap().as_u16(), 200);
        }
    }
    assert_eq!(gateway.handle(incoming(stopped)).await.status.as_u16(), 200);
    for sample in late {
        assert_eq!(gateway.handle(incoming(sample)).await.status.as_u16(), 200);
    }
    assert!(
        env.drain().await.is_empty(),
        "assembled only after the grace"
    );
    offset.store(61, std::sync::atomic::Ordering::SeqCst);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let report = gateway.scheduled(until).await.unwrap();
    assert_eq!(report.assembled, 1);
    let queued = env.drain().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        queued[0].attributes["claim_check"], "s3",
        "too large to queue whole"
    );
    let key = queued[0].body["claim_check"]["object"]["key"]
        .as_str()
        .unwrap();
    let whole: Message = serde_json::from_slice(
        &local::get_object(&env.sdk, &env.p.bucket, key)
            .await
            .unwrap(),
    )
    .unwrap();
    let segments = whole.transcript.unwrap().segments;
    assert_eq!(segments.len(), 3_000, "every utterance, the late ones too");
    let texts: Vec<String> = segments.iter().map(|s| s.text.clone()).collect();
    let expected: Vec<String> = (0..3_000).map(|n| format!("utterance {n}")).collect();
    assert_eq!(texts, expected, "in sequence order");
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

/// SQS FIFO's deduplication as SQS has it (moto's differs): a send whose deduplication id was
/// sent within the five minutes before, by this model's clock, is accepted and dropped.
#[derive(Default)]
struct SqsWindow {
    now: std::sync::Mutex<chrono::DateTime<chrono::Utc>>,
    first_sent: std::sync::Mutex<std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>>,
    delivered: std::sync::Mutex<Vec<String>>,
    sends: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl outbox::Queues for SqsWindow {
    async fn publish(
        &self,
        _channel: Channel,
        message: &Message,
    ) -> Result<(), gateway_shared::store::QueueError> {
        self.sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let now = *self.now.lock().unwrap();
        let mut first = self.first_sent.lock().unwrap();
        let fresh = first
            .get(&message.id)
            .is_none_or(|t| now - *t >= chrono::Duration::minutes(5));
        if fresh {
            first.insert(message.id.clone(), now);
            self.delivered.lock().unwrap().push(message.id.clone());
        }
        Ok(())
    }
}

/// The publisher's handler, crashing (as a timeout or an out-of-memory kill would) after it
/// has sent its batch and before the event source sees its answer, the first `crashes` times.
struct CrashAfterSending<'a> {
    inner: gateway_tests::streams::Publisher<'a>,
    crashes: std::sync::atomic::AtomicUsize,
    /// How long the crashed invocation and its retry take, by the queue model's clock.
    pause: chrono::Duration,
    window: &'a SqsWindow,
}

#[async_trait::async_trait]
impl gateway_tests::streams::Invoke for CrashAfterSending<'_> {
    async fn invoke(&self, event: Value) -> Result<Value, String> {
        let answer = self.inner.invoke(event).await;
        if self.crashes.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            self.crashes
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            *self.window.now.lock().unwrap() += self.pause;
            return Err("Task timed out".into());
        }
        answer
    }
}

async fn crash_between_send_and_checkpoint(pause: chrono::Duration) -> (usize, Vec<String>) {
    let env = env().await;
    let gateway = env.gateway(MemorySink::default());
    let sample = find(&sms_events(now()), "twilio", "inbound-text");
    assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 200);
    // The record's removal fails with the crash too: the publisher's outbox calls go to a
    // DynamoDB that is down while it crashes, so the retry finds the record still there.
    let proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_DYNAMODB"))
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&env.sdk)
            .endpoint_url(&proxy.url)
            .build(),
    );
    let store = DynamoStore::new(ddb, &env.p.table, &env.p.outbox, None);
    let window = SqsWindow {
        now: std::sync::Mutex::new(chrono::Utc::now()),
        ..Default::default()
    };
    let metrics = MemorySink::default();
    let clock = chrono::Utc::now;
    let function = CrashAfterSending {
        inner: gateway_tests::streams::Publisher {
            outbox: &store,
            queues: &window,
            metrics: &metrics,
            clock: &clock,
        },
        crashes: std::sync::atomic::AtomicUsize::new(1),
        pause,
        window: &window,
    };
    let mut reader = gateway_tests::streams::StreamReader::new(&env.sdk, &env.p.outbox);
    proxy.down();
    let crashed = reader.pass(&function).await.unwrap();
    assert!(crashed.failures > 0, "the crash fails the batch");
    proxy.up();
    let retried = reader.pass(&function).await.unwrap();
    assert_eq!(retried.failures, 0, "the retry succeeds");
    assert!(
        local::scan(&env.sdk, &env.p.outbox)
            .await
            .unwrap()
            .is_empty(),
        "and removes the record"
    );
    let sends = window.sends.load(std::sync::atomic::Ordering::SeqCst);
    let delivered = window.delivered.lock().unwrap().clone();
    (sends, delivered)
}

#[tokio::test]
async fn a_publisher_crash_between_send_and_checkpoint_resends_inside_sqs_window() {
    // The event source retries the crashed batch at once: the copy is inside SQS's window.
    let (sends, delivered) = crash_between_send_and_checkpoint(chrono::Duration::seconds(3)).await;
    assert_eq!(sends, 2, "sent, crashed, sent again");
    assert_eq!(delivered.len(), 1, "SQS drops the copy: {delivered:?}");
}

#[tokio::test]
async fn a_resend_after_sqs_window_is_the_documented_duplicate() {
    // Time moved past five minutes between the send and its retry (the publisher down that
    // long): SQS takes the copy. docs/schema.md names this case; consumers dedupe on `id`.
    let (sends, delivered) = crash_between_send_and_checkpoint(chrono::Duration::minutes(6)).await;
    assert_eq!(sends, 2);
    assert_eq!(delivered.len(), 2, "the model delivers it twice");
    assert_eq!(delivered[0], delivered[1]);
}

#[tokio::test]
async fn text_with_characters_sqs_refuses_raw_is_queued_escaped_and_whole() {
    let env = env().await;
    // U+FFFE and U+FFFF are valid in JSON strings but not in an SQS body; any customer can
    // type them.
    let sample = find(&sms_events(now()), "twilio", "inbound-text");
    let memory = gateway_tests::memory_gateway_for(Channel::Sms);
    memory.gateway.handle(incoming(&sample)).await;
    let mut stored = memory.store.stored().remove(0);
    stored.message.text = Some("odd \u{FFFE} and \u{FFFF} end".into());
    env.store().insert(&stored).await.unwrap();
    let store = env.store();
    let queues = local::SqsRules(env.queues_via(aws_sdk_sqs::Client::new(&env.sdk)));
    let (metrics, clock) = (MemorySink::default(), chrono::Utc::now);
    let publisher = gateway_tests::streams::Publisher {
        outbox: &store,
        queues: &queues,
        metrics: &metrics,
        clock: &clock,
    };
    gateway_tests::streams::StreamReader::new(&env.sdk, &env.p.outbox)
        .pass(&publisher)
        .await
        .unwrap();
    let queued = local::drain(&env.sdk, &env.p.queue_url).await.unwrap();
    assert_eq!(queued.len(), 1, "published, not quarantined");
    assert_eq!(queued[0].body["text"], "odd \u{FFFE} and \u{FFFF} end");
}

#[tokio::test]
async fn an_item_dynamodb_refuses_is_kept_in_the_bucket_not_retried_forever() {
    let env = env().await;
    let gateway = env.gateway_for(Channel::Chat, MemorySink::default());
    // A visitor id over the 2,048 bytes DynamoDB allows an index key (`customer_key`): the
    // transaction fails validation on every attempt.
    let now = now();
    let mut body = fixtures::webchat_body(now);
    body["visitor"]["id"] = "v".repeat(3_000).into();
    body["visitor"]["email"] = serde_json::Value::Null;
    let sample = fixtures::webchat_request(
        "long-visitor",
        fixtures::Expect {
            status: 200,
            messages: 0,
            kind: None,
            body: None,
        },
        &body,
        now,
        &[fixtures::WEBCHAT_SECRET],
    );
    let response = gateway.handle(incoming(&sample)).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    assert!(env.items().await.is_empty(), "nothing stored");
    let key = gateway_shared::blob::unstorable_key(Channel::Chat, &sample.body());
    let kept = local::get_object(&env.sdk, &env.p.bucket, &key)
        .await
        .expect("the request is kept in the bucket");
    assert_eq!(kept, sample.body());
}

#[tokio::test]
async fn an_outbox_item_no_release_can_read_is_reported_as_quarantined() {
    let env = env().await;
    // Written by hand or by another release: no `message`.
    aws_sdk_dynamodb::Client::new(&env.sdk)
        .put_item()
        .table_name(&env.p.outbox)
        .item(
            "conversation",
            aws_sdk_dynamodb::types::AttributeValue::S("sms#conv_x".into()),
        )
        .item(
            "seq",
            aws_sdk_dynamodb::types::AttributeValue::S(
                "2026-12-01T00:00:00.000000Z#00000#x".into(),
            ),
        )
        .item(
            "channel",
            aws_sdk_dynamodb::types::AttributeValue::S("sms".into()),
        )
        .send()
        .await
        .unwrap();
    let metrics = MemorySink::default();
    let report = outbox::sweep(
        &env.store(),
        &env.queues_via(aws_sdk_sqs::Client::new(&env.sdk)),
        &metrics,
        chrono::Utc::now(),
        chrono::Duration::minutes(15),
        100,
    )
    .await
    .expect("an unreadable item never fails the sweep");
    assert_eq!((report.quarantined, report.published), (1, 0));
    let lines = metrics.0.lock().unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"channel\":\"sms\"") && l.contains("\"OutboxQuarantined\":1")),
        "the sms quarantine alarm sees it: {lines:?}"
    );
}
