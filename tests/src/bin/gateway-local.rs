//! The local run's helper: writes the sample events, provisions the local services, sends the
//! samples as signed HTTP requests, runs the redrive once and shows what arrived.
//!
//! ```text
//! gateway-local events [--now] [--out DIR]
//! gateway-local provision --channel sms --table T --bucket B --queue NAME --secret-id ID
//! gateway-local send --url sms=http://127.0.0.1:9000/lambda-url/sms [--url social=...]
//! gateway-local redrive --table T --queue sms=URL [--queue social=URL ...]
//! gateway-local show --table T --queue sms=URL [--queue social=URL ...]
//! gateway-local standins --port 9180   (the stand-in provider endpoints, until killed)
//! gateway-local fuzz-seeds [--out fuzz/corpus]
//! gateway-local channels           (the registry's channels, one per line)
//! ```

use gateway_shared::aws::{DynamoStore, SqsQueue};
use gateway_shared::schema::Channel;
use gateway_tests::fixtures::{self, COMMITTED_AT};
use gateway_tests::{fuzzing, local};
use std::collections::HashMap;
use std::process::ExitCode;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

use gateway_tests::fixtures::CHANNELS;

/// Every `<flag> channel=URL` pair.
fn per_channel(args: &[String], flag: &str) -> Result<Vec<(Channel, String)>> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if arg == flag {
            let pair = args.get(i + 1).ok_or(format!("{flag} needs channel=URL"))?;
            let (channel, url) = pair
                .split_once('=')
                .ok_or(format!("{flag} needs channel=URL"))?;
            out.push((channel.parse::<Channel>()?, url.to_string()));
        }
    }
    if out.is_empty() {
        return Err(format!("at least one {flag} channel=URL is required").into());
    }
    Ok(out)
}

fn queues(args: &[String]) -> Result<Vec<(Channel, String)>> {
    per_channel(args, "--queue")
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn required(args: &[String], name: &str) -> Result<String> {
    flag(args, name).ok_or_else(|| format!("{name} is required").into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("events") => events(&args),
        Some("provision") => provision(&args).await,
        Some("send") => send(&args).await,
        Some("redrive") => redrive(&args).await,
        Some("show") => show(&args).await,
        Some("standins") => standins(&args).await,
        Some("fuzz-seeds") => fuzz_seeds(&args),
        Some("channels") => {
            // The registry's channels, one per line, for the scripts.
            for spec in gateway_shared::channels::CHANNELS {
                println!("{}", spec.name());
            }
            Ok(())
        }
        _ => Err(
            "usage: gateway-local events|provision|send|redrive|show|standins|fuzz-seeds|channels [flags]"
                .into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway-local: {err}");
            ExitCode::FAILURE
        }
    }
}

fn events(args: &[String]) -> Result<()> {
    let at = if args.iter().any(|a| a == "--now") {
        chrono::Utc::now().timestamp()
    } else {
        COMMITTED_AT
    };
    let out = flag(args, "--out").unwrap_or_else(|| "events".into());
    let samples = fixtures::all_events_at(at, fixtures::COMMITTED_STANDIN_URL);
    for sample in &samples {
        let dir = std::path::Path::new(&out).join(sample.channel);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(sample.file_name());
        std::fs::write(&path, serde_json::to_string_pretty(&sample.event)? + "\n")?;
    }
    std::fs::create_dir_all(std::path::Path::new(&out).join("secrets"))?;
    for channel in CHANNELS {
        std::fs::write(
            std::path::Path::new(&out).join(format!("secrets/{channel}.json")),
            serde_json::to_string_pretty(&fixtures::channel_secret(channel))? + "\n",
        )?;
    }
    println!(
        "wrote {} samples to {out}/<channel> (signed at {at})",
        samples.len()
    );
    Ok(())
}

/// The fuzz targets' seed corpora, made from the committed samples (`fuzz/corpus/<target>`).
fn fuzz_seeds(args: &[String]) -> Result<()> {
    let out = flag(args, "--out").unwrap_or_else(|| "fuzz/corpus".into());
    let mut written = 0;
    for target in fuzzing::Target::ALL {
        let dir = std::path::Path::new(&out).join(target.name());
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in target.seeds() {
            std::fs::write(dir.join(name), bytes)?;
            written += 1;
        }
    }
    println!("wrote {written} seeds to {out}/<target>");
    Ok(())
}

async fn standins(args: &[String]) -> Result<()> {
    let port = required(args, "--port")?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    gateway_tests::standins::serve(listener).await;
    Ok(())
}

async fn provision(args: &[String]) -> Result<()> {
    let sdk = local::sdk().await;
    let channel = required(args, "--channel")?;
    let p = local::provision(
        &sdk,
        &required(args, "--table")?,
        &required(args, "--bucket")?,
        &required(args, "--queue")?,
        &required(args, "--secret-id")?,
        &fixtures::channel_secret(&channel),
    )
    .await?;
    // The queue URL on stdout, for the calling script.
    println!("{}", p.queue_url);
    Ok(())
}

async fn send(args: &[String]) -> Result<()> {
    let urls = per_channel(args, "--url")?;
    let client = reqwest::Client::new();
    let mut failures = 0;
    println!(
        "{:<42} {:>8} {:>6}  answer",
        "sample (signed now)", "expected", "got"
    );
    for sample in fixtures::all_events(chrono::Utc::now().timestamp()) {
        let Some((_, base)) = urls.iter().find(|(c, _)| c.as_str() == sample.channel) else {
            continue;
        };
        let (status, body) = gateway_tests::send(&client, base, &sample).await?;
        let ok = status == sample.expect.status
            && sample.expect.body.as_ref().is_none_or(|b| *b == body);
        failures += usize::from(!ok);
        println!(
            "{:<42} {:>8} {:>6}  {}{}",
            format!("{}/{}", sample.channel, sample.file_name()),
            sample.expect.status,
            status,
            body.chars().take(60).collect::<String>(),
            if ok { "" } else { "   <-- unexpected" }
        );
    }
    if failures > 0 {
        return Err(format!("{failures} samples got an unexpected status").into());
    }
    Ok(())
}

async fn redrive(args: &[String]) -> Result<()> {
    let sdk = local::sdk().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        required(args, "--table")?,
        None,
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queues: Vec<_> = queues(args)?
        .into_iter()
        .map(|(channel, url)| (channel, SqsQueue::new(sqs.clone(), url)))
        .collect();
    let report = gateway_shared::redrive::sweep_all(&store, &queues, 0, 1000).await?;
    println!("redrive: {report:?} (found, published) per channel");
    Ok(())
}

async fn show(args: &[String]) -> Result<()> {
    let sdk = local::sdk().await;
    let table = required(args, "--table")?;
    for (channel, url) in queues(args)? {
        let queued = local::drain(&sdk, &url).await?;
        println!("\n== {} messages on the {channel} queue ==", queued.len());
        for q in &queued {
            let m = &q.body;
            println!(
                "\n-- {} {} via {} | group {} | dedup {}",
                m["kind"].as_str().unwrap_or("?"),
                m["id"].as_str().unwrap_or("?"),
                m["provider"].as_str().unwrap_or("?"),
                q.group_id,
                q.dedup_id
            );
            println!("{}", serde_json::to_string_pretty(m)?);
        }
    }
    // Messages only: the table also keeps real-time transcript parts and Mailgun tokens.
    let items: Vec<_> = local::scan(&sdk, &table)
        .await?
        .into_iter()
        .filter(|item| item.contains_key("message"))
        .collect();
    println!("\n== {} messages in table {table} ==", items.len());
    let mut by_customer: HashMap<String, usize> = HashMap::new();
    for item in &items {
        let s = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let raw = item
            .get("raw")
            .and_then(|v| v.as_b().ok())
            .map_or(0, |b| b.as_ref().len());
        *by_customer.entry(s("customer_key")).or_default() += 1;
        println!(
            "{:<36} {:<8} {:<7} {:<28} raw {:>5} B{}",
            s("id"),
            s("provider"),
            s("kind"),
            s("timeline").split('#').next().unwrap_or(""),
            raw,
            if item.contains_key("pending") {
                "  (pending publication)"
            } else {
                ""
            }
        );
    }
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table, None);
    for (customer, count) in by_customer {
        let timeline = store.timeline(&customer).await?;
        println!(
            "\ntimeline of {customer} ({count} items, {} by the index):",
            timeline.len()
        );
        for m in timeline {
            println!(
                "  {} {:<7} {:<8} {}",
                m.sent_at
                    .unwrap_or(m.received_at)
                    .format("%Y-%m-%d %H:%M:%S"),
                m.kind.as_str(),
                m.provider,
                m.text
                    .as_deref()
                    .or(m.status.as_ref().map(|s| s.provider_state.as_str()))
                    .or(m.transcript.as_ref().and_then(|t| t.full_text.as_deref()))
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            );
        }
    }
    Ok(())
}
