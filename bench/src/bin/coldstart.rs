//! Cold start and memory of each channel function beside a hello-world `lambda_runtime`
//! function built the same way, on a local Lambda Runtime API emulator:
//! - cold start: from spawning the process to its first poll for an invocation (median and
//!   p90 over `--runs` starts);
//! - network before the first request: connections to the AWS endpoints (each behind a
//!   counting proxy) before that first poll, which must be none;
//! - memory: resident set at the first poll, and the peak while serving the channel's samples
//!   `--rounds` times (the first round checked against the samples' expected answers, the
//!   others redeliveries).
//!
//! ```text
//! coldstart --bin-dir target/release --env sms=run/sms.env [--env social=...] \
//!           [--runs 20] [--rounds 20] [--standin http://127.0.0.1:9180]
//! ```
//! The env files are the functions' local environments (`gateway-local up` writes them):
//! the local services must be up.

use gateway_bench::runtime_api::RuntimeApi;
use gateway_shared::channels;
use gateway_tests::fixtures;
use gateway_tests::proxy::FaultProxy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The AWS endpoints a function is given, each put behind a counting proxy.
const ENDPOINTS: [&str; 4] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
];

struct Function {
    name: String,
    binary: PathBuf,
    channel: Option<String>,
    env: Vec<(String, String)>,
}

#[derive(Default)]
struct Figures {
    cold_ms: Vec<f64>,
    rss_first_kb: Vec<u64>,
    peak_kb: u64,
    connections_before_first: usize,
    served: usize,
    size: u64,
}

fn args_all(args: &[String], name: &str) -> Vec<String> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].clone())
        .collect()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args_all(args, name).into_iter().next()
}

fn read_env(path: &Path) -> Result<Vec<(String, String)>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// A field of /proc/<pid>/status, in kB.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn run_once(
    function: &Function,
    rounds: usize,
    standin: &str,
    figures: &mut Figures,
) -> Result<()> {
    let api = RuntimeApi::start().await?;
    let mut proxies = Vec::new();
    let mut env = function.env.clone();
    for (name, value) in env.iter_mut() {
        if ENDPOINTS.contains(&name.as_str()) {
            let target = value.trim_start_matches("http://").to_string();
            let proxy = FaultProxy::start(&target).await?;
            *value = proxy.url.clone();
            proxies.push(proxy);
        }
    }
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&function.binary)
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &function.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the function exited at once")?;
    let first = tokio::time::timeout(Duration::from_secs(30), api.first_poll())
        .await
        .map_err(|_| format!("{} never polled for an invocation", function.name))??;
    figures
        .cold_ms
        .push(first.duration_since(started).as_secs_f64() * 1000.0);
    figures.rss_first_kb.push(proc_status_kb(pid, "VmRSS:"));
    figures.connections_before_first += proxies.iter().map(FaultProxy::connections).sum::<usize>();

    if rounds > 0 {
        let now = chrono::Utc::now().timestamp();
        // The hello-world function answers anything: it gets the first channel's samples.
        let channel = function
            .channel
            .as_deref()
            .unwrap_or(channels::CHANNELS[0].name());
        let samples: Vec<_> = fixtures::all_events_at(now, standin)
            .into_iter()
            .filter(|s| s.channel == channel)
            .collect();
        for round in 0..rounds {
            for sample in &samples {
                let response = api.invoke(sample.event.clone()).await?;
                figures.served += 1;
                let status = response["statusCode"].as_u64().unwrap_or(0);
                // Release builds take signing certificates from the provider's hosts only, so
                // the samples signed with the stand-in's certificates are refused there.
                let certificates = channels::CHANNELS
                    .iter()
                    .find(|c| c.name() == channel)
                    .and_then(|c| c.provider(sample.provider))
                    .is_some_and(|p| {
                        p.calls_out
                            .iter()
                            .any(|c| matches!(c, channels::CallsOut::Certificates { .. }))
                    });
                let checked = function.channel.is_some() && !certificates;
                if round == 0 && checked && status != u64::from(sample.expect.status) {
                    return Err(format!(
                        "{} answered {status} to {}, expected {}",
                        function.name,
                        sample.file_name(),
                        sample.expect.status
                    )
                    .into());
                }
            }
        }
        figures.peak_kb = figures.peak_kb.max(proc_status_kb(pid, "VmHWM:"));
    }
    child.kill().await?;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin_dir = PathBuf::from(arg(&args, "--bin-dir").ok_or("--bin-dir is required")?);
    let runs: usize = arg(&args, "--runs").map_or(Ok(20), |v| v.parse())?;
    let rounds: usize = arg(&args, "--rounds").map_or(Ok(20), |v| v.parse())?;
    let standin = arg(&args, "--standin").unwrap_or_else(|| "http://127.0.0.1:9180".into());
    let mut functions = vec![Function {
        name: "hello".into(),
        binary: bin_dir.join("gateway-hello"),
        channel: None,
        env: Vec::new(),
    }];
    for pair in args_all(&args, "--env") {
        let (channel, file) = pair.split_once('=').ok_or("--env needs CHANNEL=FILE")?;
        functions.push(Function {
            name: channel.to_string(),
            binary: bin_dir.join("gateway"),
            channel: Some(channel.to_string()),
            env: read_env(Path::new(file))?,
        });
    }

    let mut all = BTreeMap::new();
    for function in &functions {
        let mut figures = Figures {
            size: std::fs::metadata(&function.binary)?.len(),
            ..Figures::default()
        };
        for run in 0..runs {
            let serve = if run == 0 { rounds } else { 0 };
            run_once(function, serve, &standin, &mut figures).await?;
        }
        eprintln!("coldstart: {} done", function.name);
        all.insert(function.name.clone(), figures);
    }

    let hello = {
        let mut cold = all["hello"].cold_ms.clone();
        cold.sort_by(f64::total_cmp);
        percentile(&cold, 0.5)
    };
    println!(
        "| function | cold start median (ms) | p90 (ms) | × hello | RSS at first poll (MB) | peak RSS serving (MB) | requests served | AWS connections before the first request | x86_64 binary (MB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mb = |kb: u64| kb as f64 / 1024.0;
    for function in &functions {
        let f = &all[&function.name];
        let mut cold = f.cold_ms.clone();
        cold.sort_by(f64::total_cmp);
        let mut rss = f.rss_first_kb.clone();
        rss.sort();
        let median = percentile(&cold, 0.5);
        println!(
            "| {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {} | {} | {:.1} |",
            function.name,
            median,
            percentile(&cold, 0.9),
            median / hello,
            mb(rss[rss.len() / 2]),
            mb(f.peak_kb),
            f.served,
            f.connections_before_first,
            f.size as f64 / 1_048_576.0,
        );
    }
    let eager: Vec<&String> = all
        .iter()
        .filter(|(_, f)| f.connections_before_first > 0)
        .map(|(name, _)| name)
        .collect();
    if !eager.is_empty() {
        return Err(format!("network calls before the first request: {eager:?}").into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("coldstart: {err}");
            ExitCode::FAILURE
        }
    }
}
