//! Faults: SQS, DynamoDB, and then DynamoDB, SQS and S3 together stop during a stream of valid
//! webhooks for every channel (with duplicate deliveries, some of them concurrent) while the
//! publisher tails the outbox's stream; they come back, the intake's replay runs, and then
//! every webhook answered 2xx is in the table once and on its queue, each conversation in the
//! order stored, sent to SQS only within its five-minute deduplication window (counted at the
//! gateway's side, not trusted to moto); a webhook DynamoDB could not take was kept in S3 and
//! answered 2xx, and one neither could take was answered 5xx. Run by `scripts/test.sh` against
//! DynamoDB Local and moto; the services are "stopped" by a proxy in front of each that drops
//! every connection (open ones included), while the services themselves keep their state.

use async_trait::async_trait;
use aws_config::SdkConfig;
use gateway_shared::aws::{DynamoStore, S3Blobs, SqsQueues};
use gateway_shared::outbox::Queues;
use gateway_shared::pipeline::Gateway;
use gateway_shared::schema::{Channel, Message};
use gateway_shared::store::QueueError;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{CHANNELS, Sample, fresh_sample};
use gateway_tests::local;
use gateway_tests::proxy::FaultProxy;
use gateway_tests::{incoming, memory_gateway_for, test_now};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Each client's gateway of each channel, with its own metrics: the line a request adds
    /// tells whether it was kept for the replay.
    gateways: Vec<Vec<(Gateway, MemorySink)>>,
    queue_urls: Vec<String>,
}

async fn channels(
    sdk: &SdkConfig,
    name: &str,
    store: Arc<DynamoStore>,
    s3: aws_sdk_s3::Client,
    bucket: &str,
) -> Channels {
    let mut queue_urls = Vec::new();
    for channel in CHANNELS {
        let queue_url = local::ensure_fifo_queue(sdk, &format!("{name}-{channel}"))
            .await
            .expect("a queue");
        queue_urls.push(queue_url);
    }
    let gateways = (0..CLIENTS)
        .map(|_| {
            CHANNELS
                .iter()
                .map(|channel| {
                    let metrics = MemorySink::default();
                    let gateway = gateway_tests::gateway_with_blobs(
                        channel.parse().expect("a channel"),
                        store.clone(),
                        Arc::new(S3Blobs::new(s3.clone(), bucket)),
                        metrics.clone(),
                    );
                    (gateway, metrics)
                })
                .collect()
        })
        .collect();
    Channels {
        gateways,
        queue_urls,
    }
}

/// Every send the publisher makes, as the gateway sees it: when, and whether SQS took it.
#[derive(Default)]
struct Sends(Mutex<Vec<(String, chrono::DateTime<chrono::Utc>, bool)>>);

/// The queues, each send written down.
struct Counting<'a> {
    queues: SqsQueues,
    sends: &'a Sends,
}

#[async_trait]
impl Queues for Counting<'_> {
    async fn publish(&self, channel: Channel, message: &Message) -> Result<(), QueueError> {
        let result = self.queues.publish(channel, message).await;
        self.sends
            .0
            .lock()
            .unwrap()
            .push((message.id.clone(), chrono::Utc::now(), result.is_ok()));
        result
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
    let s3_proxy = FaultProxy::start(&local::endpoint_host("AWS_ENDPOINT_URL_S3"))
        .await
        .unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&s3_proxy.url)
            .force_path_style(true)
            .build(),
    );
    let store = Arc::new(DynamoStore::new(ddb, &p.table, &p.outbox, Some(30)));
    let channels = Arc::new(channels(&sdk, &name, store.clone(), s3, &p.bucket).await);
    let urls: BTreeMap<Channel, String> = CHANNELS
        .iter()
        .zip(&channels.queue_urls)
        .map(|(c, url)| (c.parse().unwrap(), url.clone()))
        .collect();

    // The publisher tails the outbox's stream all along, through the same proxies.
    let sends = Arc::new(Sends::default());
    let publisher_metrics = MemorySink::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let (sdk, store, sqs, urls, sends, metrics, stop, outbox) = (
            sdk.clone(),
            store.clone(),
            sqs.clone(),
            urls.clone(),
            sends.clone(),
            publisher_metrics.clone(),
            stop.clone(),
            p.outbox.clone(),
        );
        tokio::spawn(async move {
            let queues = Counting {
                queues: SqsQueues::new(&sqs, &urls),
                sends: &sends,
            };
            let clock = chrono::Utc::now;
            let function = gateway_tests::streams::Publisher {
                outbox: store.as_ref(),
                queues: &queues,
                metrics: &metrics,
                clock: &clock,
            };
            let mut reader = gateway_tests::streams::StreamReader::new(&sdk, &outbox);
            let mut failures = 0;
            // A failed poll (DynamoDB Local busy) is polled again, as the event source does.
            while !stop.load(Ordering::SeqCst) {
                if let Ok(pass) = reader.pass(&function).await {
                    failures += pass.failures;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Caught up once the services are back.
            for _ in 0..50 {
                match reader.pass(&function).await {
                    Ok(pass) if pass.failures == 0 => break,
                    Ok(pass) => failures += pass.failures,
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
            failures
        })
    };

    let deliveries = Arc::new(stream(test_now()));
    let ids = expected_ids(&deliveries).await;
    let total = deliveries.len();

    // The outages, by progress through the stream: SQS alone, DynamoDB alone (requests are
    // kept in S3), then DynamoDB, SQS and S3 together (requests are refused).
    let next = Arc::new(AtomicUsize::new(0));
    // Deliveries pause while the plan waits for the publisher.
    let hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let faults = {
        let hold = hold.clone();
        let (next, ddb_proxy, sqs_proxy, s3_proxy, sends) =
            (next.clone(), ddb_proxy, sqs_proxy, s3_proxy, sends.clone());
        tokio::spawn(async move {
            // SQS comes back only once the publisher has felt it (at most 20 s), so the
            // outage is not over before the publisher polls.
            let refused = || sends.0.lock().unwrap().iter().any(|(_, _, ok)| !ok);
            let plan: [(usize, &str); 6] = [
                (10, "sqs down"),
                (25, "sqs up"),
                (40, "dynamodb down"),
                (55, "dynamodb up"),
                (70, "all down"),
                (85, "all up"),
            ];
            for (percent, step) in plan {
                while next.load(Ordering::SeqCst) * 100 < total * percent {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                match step {
                    "sqs down" => sqs_proxy.down(),
                    "sqs up" => {
                        hold.store(true, Ordering::SeqCst);
                        for _ in 0..200 {
                            if refused() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        sqs_proxy.up();
                        hold.store(false, Ordering::SeqCst);
                    }
                    "dynamodb down" => ddb_proxy.down(),
                    "dynamodb up" => ddb_proxy.up(),
                    "all down" => {
                        ddb_proxy.down();
                        sqs_proxy.down();
                        s3_proxy.down();
                    }
                    _ => {
                        ddb_proxy.up();
                        sqs_proxy.up();
                        s3_proxy.up();
                    }
                }
            }
            (ddb_proxy, sqs_proxy, s3_proxy)
        })
    };

    let statuses = Arc::new(Mutex::new(vec![0u16; total]));
    let kept = Arc::new(Mutex::new(vec![false; total]));
    // When each delivery started and was answered, for the order check below.
    let timings = Arc::new(Mutex::new(vec![(Instant::now(), Instant::now()); total]));
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let hold = hold.clone();
        let (next, deliveries, channels, statuses, kept, timings) = (
            next.clone(),
            deliveries.clone(),
            channels.clone(),
            statuses.clone(),
            kept.clone(),
            timings.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                while hold.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(d) = deliveries.get(i) else { break };
                let started = Instant::now();
                let (gateway, metrics) = &channels.gateways[client][d.channel];
                let response = gateway.handle(incoming(&d.sample)).await;
                statuses.lock().unwrap()[i] = response.status.as_u16();
                timings.lock().unwrap()[i] = (started, Instant::now());
                let line = metrics
                    .0
                    .lock()
                    .unwrap()
                    .last()
                    .cloned()
                    .unwrap_or_default();
                kept.lock().unwrap()[i] = line.contains("\"Kept\":1");
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let (_ddb_proxy, _sqs_proxy, _s3_proxy) = faults.await.unwrap();
    let statuses = statuses.lock().unwrap().clone();
    let kept = kept.lock().unwrap().clone();
    let timings = timings.lock().unwrap().clone();

    // Every answer is a success or an invitation to retry, and the outages were felt.
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert!(
        refused > total / 20,
        "only {refused} of {total} refused: the outages did not bite"
    );

    // What the table holds, read around the proxies.
    let stored_ids = || async {
        local::scan(&sdk, &p.table)
            .await
            .unwrap()
            .iter()
            .filter(|item| item.contains_key("message"))
            .filter_map(|item| item.get("id").and_then(|v| v.as_s().ok()).cloned())
            .collect::<BTreeSet<String>>()
    };

    // The replay stores what was kept while DynamoDB was down, channel by channel.
    let mut replayed = 0;
    for (gateway, _) in &channels.gateways[0] {
        let report = gateway
            .replay_intake(Instant::now() + Duration::from_secs(60))
            .await
            .expect("the replay runs");
        assert_eq!((report.refused, report.waiting), (0, 0), "{report:?}");
        replayed += report.replayed;
    }
    let kept_count = kept.iter().filter(|k| **k).count();
    assert!(kept_count > 0, "DynamoDB's outage kept nothing in S3");
    // Two copies of one request kept in the same microsecond (the concurrent triples) are one
    // object; that every kept message was stored is checked below.
    assert!(
        replayed > 0 && replayed as usize <= kept_count,
        "{replayed} replayed of {kept_count} kept"
    );
    assert!(kept.iter().zip(&statuses).all(|(k, s)| !k || *s == 200));
    let stored_after_replay = stored_ids().await;

    // Answered 200 means stored, directly or by the replay; not stored means refused.
    let mut acknowledged = BTreeSet::new();
    let mut unstored = Vec::new();
    for (i, d) in deliveries.iter().enumerate() {
        let id = &ids[&(d.channel, d.n)];
        if statuses[i] == 200 {
            assert!(
                stored_after_replay.contains(id),
                "delivery {i} answered 200 but lost"
            );
            acknowledged.insert(id.clone());
        }
        if !stored_after_replay.contains(id) {
            assert_eq!(statuses[i], 503, "delivery {i} not stored yet answered");
            unstored.push(i);
        }
    }
    assert!(
        !unstored.is_empty(),
        "the outage of DynamoDB and S3 together refused nothing"
    );

    // Per message: when its first delivery started, and when it was first answered 200 by a
    // delivery that stored it. A message stored after another was acknowledged must not come
    // before it on the queue. Messages kept for the replay are left out of this check: they
    // are stored at the replay, or by a later delivery, or by their own write whose answer the
    // cut lost, and the README says a message can overtake a kept one; they are checked to be
    // stored and queued exactly once below.
    let ever_kept: BTreeSet<String> = deliveries
        .iter()
        .enumerate()
        .filter(|(i, _)| kept[*i])
        .map(|(_, d)| ids[&(d.channel, d.n)].clone())
        .collect();
    let mut first_start: BTreeMap<String, Instant> = BTreeMap::new();
    let mut first_ack: BTreeMap<String, Instant> = BTreeMap::new();
    let mut note = |id: &String, (start, end): (Instant, Instant), ok: bool| {
        let s = first_start.entry(id.clone()).or_insert(start);
        *s = (*s).min(start);
        if ok {
            let a = first_ack.entry(id.clone()).or_insert(end);
            *a = (*a).min(end);
        }
    };
    for (i, d) in deliveries.iter().enumerate() {
        note(
            &ids[&(d.channel, d.n)],
            timings[i],
            statuses[i] == 200 && !kept[i],
        );
    }

    // The providers retry what was refused, now that the services are back.
    let mut retried = BTreeSet::new();
    for (i, d) in deliveries.iter().enumerate() {
        let id = &ids[&(d.channel, d.n)];
        if statuses[i] == 503 && !acknowledged.contains(id) && retried.insert(id.clone()) {
            let started = Instant::now();
            let response = channels.gateways[0][d.channel]
                .0
                .handle(incoming(&d.sample))
                .await;
            assert_eq!(response.status.as_u16(), 200, "retry of delivery {i}");
            note(id, (started, Instant::now()), true);
        }
    }

    // The publisher catches up now that SQS is back; its retries kept the order.
    stop.store(true, Ordering::SeqCst);
    let failed_batches = publisher.await.unwrap();
    assert!(failed_batches > 0, "the outages failed no publication");
    assert!(
        sends.0.lock().unwrap().iter().any(|(_, _, ok)| !ok),
        "SQS refused no send: its outage did not reach the publisher"
    );
    assert!(
        local::scan(&sdk, &p.outbox).await.unwrap().is_empty(),
        "the outbox is empty: everything published"
    );

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
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ordered_pairs = 0;
    for (c, url) in channels.queue_urls.iter().enumerate() {
        for q in local::drain(&sdk, url).await.unwrap() {
            let id = q.body["id"].as_str().unwrap_or_default().to_string();
            let earlier = groups.entry(q.group_id.clone()).or_default();
            for before in earlier
                .iter()
                .filter(|b| !ever_kept.contains(*b) && !ever_kept.contains(&id))
            {
                // `id` comes after `before`: it must not have been acknowledged before
                // `before` was even received.
                assert!(
                    first_ack[&id] >= first_start[before],
                    "conversation {}: {id}, acknowledged before {before} arrived, is queued after it",
                    q.group_id
                );
                ordered_pairs += usize::from(first_ack[before] < first_start[&id]);
            }
            earlier.push(id.clone());
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
    assert_eq!(queued_set, every, "a message never queued");
    assert!(
        ordered_pairs > 0,
        "some conversation had a message acknowledged before the next arrived: order was checked"
    );
    // Sent twice only within SQS's five-minute window, which drops the copy: measured from
    // the gateway's own sends, since moto's deduplication is not SQS's.
    let sends = sends.0.lock().unwrap().clone();
    let mut first: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    let mut repeated = 0;
    for (id, at, _) in sends.iter().filter(|(_, _, ok)| *ok) {
        match first.get(id.as_str()) {
            None => {
                first.insert(id, *at);
            }
            Some(t) => {
                repeated += 1;
                assert!(
                    *at - *t < chrono::Duration::minutes(5),
                    "{id} sent again after SQS's deduplication window"
                );
            }
        }
    }
    // Per message published: received -> stored (the store's outages and the intake), and
    // stored -> on the queue (SQS's outages and the stream's retries).
    let lines: Vec<serde_json::Value> = publisher_metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let distribution = |values: Vec<f64>| {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        let pct = |p: f64| values[((values.len() - 1) as f64 * p) as usize];
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            pct(0.5),
            pct(0.99),
            pct(1.0)
        )
    };
    let whole: Vec<f64> = lines
        .iter()
        .filter_map(|l| l["PublishLatency"].as_f64())
        .collect();
    let queueing: Vec<(f64, f64)> = lines
        .iter()
        .filter_map(|l| Some((l["PublishLatency"].as_f64()?, l["QueueLatency"].as_f64()?)))
        .collect();
    assert_eq!(
        queueing.len(),
        whole.len(),
        "every published record says when it was stored"
    );
    eprintln!(
        "faults: {total} deliveries of {} messages, {refused} answered 503, {replayed} kept \
         and replayed, {} retried; {} sends to SQS ({repeated} repeats inside the window, {} \
         refused), {failed_batches} failed stream batches; received -> stored {}; stored -> on \
         the queue {}; received -> on the queue {}",
        every.len(),
        retried.len(),
        sends.len(),
        sends.iter().filter(|(_, _, ok)| !ok).count(),
        distribution(queueing.iter().map(|(all, q)| (all - q).max(0.0)).collect()),
        distribution(queueing.iter().map(|(_, q)| *q).collect()),
        distribution(whole),
    );
}
