//! Faults: SQS, DynamoDB and then both stop during a stream of valid webhooks for every channel
//! (with duplicate deliveries, some of them concurrent), come back, the redrive runs, and then
//! every webhook answered 2xx is in the table once and on its queue once, and every webhook
//! that was not stored was answered 5xx. Run by `scripts/test.sh` against DynamoDB Local and
//! moto; the services are "stopped" by a proxy in front of each that drops every connection
//! (open ones included), while the services themselves keep their state.

use aws_config::SdkConfig;
use gateway_shared::aws::{DynamoStore, S3Blobs, SqsQueue};
use gateway_shared::pipeline::Gateway;
use gateway_shared::redrive;
use gateway_shared::schema::Channel;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{CHANNELS, Sample, fresh_sample};
use gateway_tests::local;
use gateway_tests::proxy::FaultProxy;
use gateway_tests::{incoming, memory_gateway_for, test_now};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Distinct messages per channel.
const MESSAGES: u32 = 24;
/// Deliveries in flight at once.
const CLIENTS: usize = 12;

/// One webhook delivery of the stream.
struct Delivery {
    channel: usize,
    n: u32,
    sample: Sample,
}

/// The stream: each message once, twice or three times; the copies of every third message
/// side by side, so the clients deliver them concurrently, and the others far apart.
fn stream(now: i64) -> Vec<Delivery> {
    let mut near = Vec::new();
    let mut far = Vec::new();
    for (channel, name) in CHANNELS.iter().enumerate() {
        for n in 0..MESSAGES {
            let sample = fresh_sample(name, now, n);
            let copies = 1 + n % 3;
            for _ in 0..copies {
                let delivery = Delivery {
                    channel,
                    n,
                    sample: sample.clone(),
                };
                if copies == 3 {
                    near.push(delivery);
                } else {
                    far.push(delivery);
                }
            }
        }
    }
    // A fixed shuffle of the far copies (an LCG: reproducible without a seed to keep).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..far.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        far.swap(i, (state >> 33) as usize % (i + 1));
    }
    // The concurrent triples go in evenly among the rest.
    let mut out = Vec::new();
    let every = far.len() / (near.len() / 3).max(1);
    let mut near = near.into_iter();
    for (i, delivery) in far.into_iter().enumerate() {
        if i % every == 0 {
            out.extend(near.by_ref().take(3));
        }
        out.push(delivery);
    }
    out.extend(near);
    out
}

struct Channels {
    gateways: Vec<Gateway>,
    queue_urls: Vec<String>,
}

async fn channels(
    sdk: &SdkConfig,
    name: &str,
    store: Arc<DynamoStore>,
    sqs: &aws_sdk_sqs::Client,
    bucket: &str,
) -> Channels {
    let mut gateways = Vec::new();
    let mut queue_urls = Vec::new();
    for channel in CHANNELS {
        let queue_url = local::ensure_fifo_queue(sdk, &format!("{name}-{channel}"))
            .await
            .expect("a queue");
        gateways.push(gateway_tests::gateway_with_blobs(
            channel.parse().expect("a channel"),
            store.clone(),
            Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
            Arc::new(S3Blobs::new(local::s3(sdk), bucket)),
            MemorySink::default(),
        ));
        queue_urls.push(queue_url);
    }
    Channels {
        gateways,
        queue_urls,
    }
}

/// The message id each distinct sample gets, from an in-memory gateway.
async fn expected_ids(deliveries: &[Delivery]) -> BTreeMap<(usize, u32), String> {
    let mut ids = BTreeMap::new();
    for d in deliveries {
        if ids.contains_key(&(d.channel, d.n)) {
            continue;
        }
        let memory = memory_gateway_for(CHANNELS[d.channel].parse().expect("a channel"));
        let status = memory.gateway.handle(incoming(&d.sample)).await.status;
        assert_eq!(status.as_u16(), 200, "{}", d.sample.file_name());
        let stored = memory.store.messages();
        assert_eq!(stored.len(), 1);
        ids.insert((d.channel, d.n), stored[0].id.clone());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outages_during_a_stream_lose_nothing_and_queue_nothing_twice() {
    let sdk = local::sdk().await;
    let name = local::unique("faults");
    let p = local::provision(
        &sdk,
        &name,
        &name,
        &name,
        &name,
        &gateway_tests::fixtures::sms_secret(),
    )
    .await
    .expect("provisioned");
    let ddb_proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_DYNAMODB"))
        .await
        .unwrap();
    let sqs_proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_SQS"))
        .await
        .unwrap();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&ddb_proxy.url)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(&sqs_proxy.url)
            .build(),
    );
    let store = Arc::new(DynamoStore::new(ddb, &p.table, Some(30)));
    let channels = Arc::new(channels(&sdk, &name, store.clone(), &sqs, &p.bucket).await);

    let deliveries = Arc::new(stream(test_now()));
    let ids = expected_ids(&deliveries).await;
    let total = deliveries.len();

    // The outages, by progress through the stream: SQS alone, DynamoDB alone, then both.
    let next = Arc::new(AtomicUsize::new(0));
    let faults = {
        let (next, ddb_proxy, sqs_proxy) = (next.clone(), ddb_proxy, sqs_proxy);
        tokio::spawn(async move {
            let plan: [(usize, &str); 6] = [
                (10, "sqs down"),
                (25, "sqs up"),
                (40, "dynamodb down"),
                (55, "dynamodb up"),
                (70, "both down"),
                (85, "both up"),
            ];
            for (percent, step) in plan {
                while next.load(Ordering::SeqCst) * 100 < total * percent {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                match step {
                    "sqs down" => sqs_proxy.down(),
                    "sqs up" => sqs_proxy.up(),
                    "dynamodb down" => ddb_proxy.down(),
                    "dynamodb up" => ddb_proxy.up(),
                    "both down" => {
                        ddb_proxy.down();
                        sqs_proxy.down();
                    }
                    _ => {
                        ddb_proxy.up();
                        sqs_proxy.up();
                    }
                }
            }
            (ddb_proxy, sqs_proxy)
        })
    };

    let statuses = Arc::new(Mutex::new(vec![0u16; total]));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (next, deliveries, channels, statuses) = (
            next.clone(),
            deliveries.clone(),
            channels.clone(),
            statuses.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(d) = deliveries.get(i) else { break };
                let response = channels.gateways[d.channel]
                    .handle(incoming(&d.sample))
                    .await;
                statuses.lock().unwrap()[i] = response.status.as_u16();
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let (_ddb_proxy, sqs_proxy) = faults.await.unwrap();
    let statuses = statuses.lock().unwrap().clone();

    // Every answer is a success or an invitation to retry, and the outages were felt.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        refused > total / 10,
        "only {refused} of {total} refused: the outages did not bite"
    );

    // What the table holds, read around the proxies.
    let stored: Vec<String> = local::scan(&sdk, &p.table)
        .await
        .unwrap()
        .iter()
        .filter(|item| item.contains_key("message"))
        .filter_map(|item| item.get("id").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "one item per message");

    // Acknowledged means stored; not stored means refused.
    let mut acknowledged = BTreeSet::new();
    let mut unstored = Vec::new();
    for (i, d) in deliveries.iter().enumerate() {
        let id = &ids[&(d.channel, d.n)];
        if statuses[i] == 200 {
            assert!(
                stored_set.contains(id),
                "delivery {i} answered 200 but lost"
            );
            acknowledged.insert(id.clone());
        }
        if !stored_set.contains(id) {
            assert_eq!(statuses[i], 503, "delivery {i} not stored yet answered");
            unstored.push(i);
        }
    }
    assert!(!unstored.is_empty(), "DynamoDB's outage refused nothing");

    // The providers retry what was refused, now that the services are back.
    let mut retried = BTreeSet::new();
    for (i, d) in deliveries.iter().enumerate() {
        let id = &ids[&(d.channel, d.n)];
        if statuses[i] == 503 && !acknowledged.contains(id) && retried.insert(id.clone()) {
            let response = channels.gateways[d.channel]
                .handle(incoming(&d.sample))
                .await;
            assert_eq!(response.status.as_u16(), 200, "retry of delivery {i}");
        }
    }

    // Messages stored while SQS was down wait for the redrive; it fails while SQS is down
    // and leaves them pending, then publishes them once SQS is back.
    let queues = |client: &aws_sdk_sqs::Client| -> Vec<(Channel, SqsQueue)> {
        CHANNELS
            .iter()
            .zip(&channels.queue_urls)
            .map(|(c, url)| (c.parse().unwrap(), SqsQueue::new(client.clone(), url)))
            .collect()
    };
    let direct_store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &p.table, Some(30));
    sqs_proxy.down();
    let during = redrive::sweep_all(
        &direct_store,
        &queues(&sqs),
        chrono::Utc::now(),
        0,
        1000,
        &MemorySink::default(),
    )
    .await
    .unwrap();
    let pending: usize = during.values().map(|(found, _)| found).sum();
    assert!(pending > 0, "SQS's outage left nothing pending");
    assert!(during.values().all(|(_, published)| *published == 0));
    sqs_proxy.up();
    let after = redrive::sweep_all(
        &direct_store,
        &queues(&sqs),
        chrono::Utc::now(),
        0,
        1000,
        &MemorySink::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        after
            .values()
            .map(|(_, published)| published)
            .sum::<usize>(),
        pending
    );
    let again = redrive::sweep_all(
        &direct_store,
        &queues(&sqs),
        chrono::Utc::now(),
        0,
        1000,
        &MemorySink::default(),
    )
    .await
    .unwrap();
    assert!(again.values().all(|(found, _)| *found == 0), "{again:?}");

    // Every message is in the table once and on its channel's queue once.
    let every: BTreeSet<String> = ids.values().cloned().collect();
    let stored_after: Vec<String> = local::scan(&sdk, &p.table)
        .await
        .unwrap()
        .iter()
        .filter(|item| item.contains_key("message"))
        .filter_map(|item| item.get("id").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(stored_after.len(), every.len());
    assert_eq!(stored_after.into_iter().collect::<BTreeSet<_>>(), every);
    let mut queued = Vec::new();
    for (c, url) in channels.queue_urls.iter().enumerate() {
        for q in local::drain(&sdk, url).await.unwrap() {
            let id = q.body["id"].as_str().unwrap_or_default().to_string();
            let (channel, _) = ids
                .iter()
                .find(|(_, v)| **v == id)
                .map(|(k, _)| *k)
                .expect("only the stream's messages are queued");
            assert_eq!(channel, c, "{id} on the wrong queue");
            queued.push(id);
        }
    }
    let queued_set: BTreeSet<String> = queued.iter().cloned().collect();
    assert_eq!(queued.len(), queued_set.len(), "a message queued twice");
    assert_eq!(queued_set, every, "a message never queued");
    eprintln!(
        "faults: {total} deliveries of {} messages, {refused} answered 503, {} retried, \
         {pending} published by the redrive",
        every.len(),
        retried.len()
    );
}
