//! A bounded load run against the served functions on the local services: `--requests`
//! valid, signed webhooks (new messages spread over the channels, and `--duplicates` percent of
//! redeliveries of earlier ones) from `--clients` concurrent clients on loopback. Reports
//! accepted requests per second and latency percentiles, then checks that every message is on
//! its channel's queue exactly once and in the table.
//!
//! ```text
//! load --url sms=http://127.0.0.1:9101/lambda-url/sms --queue sms=QUEUE_URL [...per channel] \
//!      --table served-messages [--requests 3000] [--clients 32] [--duplicates 10]
//! ```

use gateway_tests::fixtures::{Sample, fresh_sample};
use gateway_tests::{local, message_ids, send};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn per_channel(args: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| {
            w[1].split_once('=')
                .map(|(c, u)| (c.to_string(), u.to_string()))
                .ok_or_else(|| format!("{flag} needs CHANNEL=URL").into())
        })
        .collect()
}

fn number(args: &[String], flag: &str, default: usize) -> Result<usize> {
    match args.windows(2).find(|w| w[0] == flag) {
        Some(w) => Ok(w[1].parse()?),
        None => Ok(default),
    }
}

struct Request {
    channel: usize,
    sample: Sample,
    ids: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let urls = per_channel(&args, "--url")?;
    let queues: BTreeMap<String, String> = per_channel(&args, "--queue")?.into_iter().collect();
    let table = args
        .windows(2)
        .find(|w| w[0] == "--table")
        .map(|w| w[1].clone())
        .ok_or("--table is required")?;
    let total = number(&args, "--requests", 3000)?;
    let clients = number(&args, "--clients", 32)?;
    let duplicates = number(&args, "--duplicates", 10)?;
    if urls.is_empty() || urls.iter().any(|(c, _)| !queues.contains_key(c)) {
        return Err("every --url CHANNEL=URL needs its --queue CHANNEL=URL".into());
    }

    // New messages, numbered from an offset of this run so runs on one table do not collide.
    let now = chrono::Utc::now().timestamp();
    let offset = (now % 1000) as u32 * 1000;
    let mut requests: Vec<Request> = Vec::with_capacity(total);
    let mut fresh = 0u32;
    for i in 0..total {
        if duplicates > 0 && i % 100 < duplicates && !requests.is_empty() {
            // A redelivery of an earlier request (recent ones: often while it is in flight).
            let back = 1 + (i * 7919) % requests.len().min(64);
            let earlier = &requests[requests.len() - back];
            let copy = Request {
                channel: earlier.channel,
                sample: earlier.sample.clone(),
                ids: earlier.ids.clone(),
            };
            requests.push(copy);
            continue;
        }
        let channel = fresh as usize % urls.len();
        let sample = fresh_sample(&urls[channel].0, now, offset + fresh / urls.len() as u32);
        let ids = message_ids(&sample).await;
        if ids.is_empty() {
            return Err(format!("{} stores no message", sample.file_name()).into());
        }
        requests.push(Request {
            channel,
            sample,
            ids,
        });
        fresh += 1;
    }

    let requests = Arc::new(requests);
    let urls = Arc::new(urls);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (requests, urls, next, results, http) = (
            requests.clone(),
            urls.clone(),
            next.clone(),
            results.clone(),
            http.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let status = match send(&http, &urls[request.channel].1, &request.sample).await {
                    Ok((status, _)) => status,
                    Err(_) => 0,
                };
                results.lock().unwrap().push((i, status, sent.elapsed()));
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = started.elapsed();
    let results = results.lock().unwrap().clone();

    let accepted = results.iter().filter(|(_, s, _)| *s == 200).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, _, d)| *d).collect();
    latencies.sort();
    println!(
        "| requests | clients | duplicates | accepted | wall (s) | accepted req/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {total} | {clients} | {duplicates}% | {accepted} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} |",
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    let failed: Vec<_> = results.iter().filter(|(_, s, _)| *s != 200).collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} requests not accepted: {:?}",
            failed.len(),
            &failed[..failed.len().min(5)]
        )
        .into());
    }

    // No loss, no duplicates: each message once on its queue and in the table.
    let sdk = local::sdk().await;
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for r in requests.iter() {
        for id in &r.ids {
            expected.insert(id.clone(), r.channel);
        }
    }
    // Off the request path: the publisher, fed by the outbox's stream, sends them.
    let published = std::time::Instant::now();
    let channel_queues = queues
        .iter()
        .map(|(c, url)| Ok((c.parse()?, url.clone())))
        .collect::<std::result::Result<BTreeMap<gateway_shared::schema::Channel, String>, String>>(
        )?;
    let (pass, timings) = local::publish_measured(&sdk, &table, &channel_queues, None).await?;
    println!(
        "publisher: {} stream records in {} batches ({} failed) in {:.2} s",
        pass.delivered,
        pass.invocations,
        pass.failures,
        published.elapsed().as_secs_f64()
    );
    // Per message: received -> stored (the request path), stored -> on the queue (here the
    // wait for the publisher, which runs after the load rather than tailing it).
    let stage = |pick: fn(&(f64, f64)) -> f64| {
        let mut ms: Vec<f64> = timings.iter().map(pick).collect();
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| {
            ms.get(((ms.len().max(1) - 1) as f64 * p) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        format!(
            "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            at(0.5),
            at(0.99),
            at(1.0)
        )
    };
    println!(
        "per message ({}): received -> stored {}; stored -> on the queue {}",
        timings.len(),
        stage(|t| t.0),
        stage(|t| t.1)
    );
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (c, (channel, _)) in urls.iter().enumerate() {
        for q in local::drain(&sdk, &queues[channel]).await? {
            let id = q.body["id"].as_str().unwrap_or_default().to_string();
            if let Some(expected_channel) = expected.get(&id) {
                if *expected_channel != c {
                    return Err(format!("{id} on the {channel} queue").into());
                }
                *seen.entry(id).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = expected
        .keys()
        .filter(|id| !seen.contains_key(*id))
        .collect();
    if !twice.is_empty() || !missing.is_empty() {
        return Err(format!(
            "queued twice: {}, never queued: {} (of {})",
            twice.len(),
            missing.len(),
            expected.len()
        )
        .into());
    }
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut stored = BTreeSet::new();
    for id in expected.keys() {
        let item = ddb
            .get_item()
            .table_name(&table)
            .key("id", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
            .send()
            .await?;
        if item.item.is_some_and(|i| i.contains_key("message")) {
            stored.insert(id.clone());
        }
    }
    if stored.len() != expected.len() {
        return Err(format!(
            "{} of {} messages not in the table",
            expected.len() - stored.len(),
            expected.len()
        )
        .into());
    }
    println!(
        "\nload: {} messages, each queued exactly once and stored; {} redeliveries acknowledged",
        expected.len(),
        total - fresh as usize
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("load: {err}");
            ExitCode::FAILURE
        }
    }
}
