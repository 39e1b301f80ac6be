//! The local run's tool: writes the samples, provisions the local services, sends the samples
//! as signed HTTP requests, publishes from the outbox's stream, shows what arrived, and serves
//! the stand-ins
//! and recording proxies the tests use. `gateway-local --help` lists its commands.

use clap::{Args, Parser, Subcommand};
use gateway_shared::aws::{DynamoStore, SqsQueues};
use gateway_shared::channels::{self, CHANNELS};
use gateway_shared::schema::Channel;
use gateway_tests::fixtures::{self, COMMITTED_AT};
use gateway_tests::{fuzzing, install, local, stack};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Parser)]
#[command(
    name = "gateway-local",
    about = "The channel gateway's local run and test tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write every sample event (and each channel's test secret) under `--out`.
    Events {
        /// Sign as of now instead of the committed instant.
        #[arg(long)]
        now: bool,
        #[arg(long, default_value = "events")]
        out: PathBuf,
    },
    /// Create the table, bucket, a channel's queue and secret; print the queue URL.
    Provision {
        #[arg(long, value_parser = channel)]
        channel: Channel,
        #[arg(long)]
        table: String,
        #[arg(long)]
        bucket: String,
        /// The queue's name, without `.fifo`.
        #[arg(long)]
        queue: String,
        #[arg(long)]
        secret_id: String,
    },
    /// The variables that point a channel's providers at the stand-ins (`VAR=value` lines).
    LocalEnv {
        #[arg(long, value_parser = channel)]
        channel: Channel,
        /// The stand-ins' base URL.
        #[arg(long)]
        standin: String,
    },
    /// Send every sample as a signed HTTP request to its channel's function.
    Send {
        /// A function's URL: `CHANNEL=URL`, once per channel.
        #[arg(long = "url", value_parser = pair, required = true)]
        urls: Vec<(Channel, String)>,
        /// One line per sample, not per channel.
        #[arg(long)]
        verbose: bool,
    },
    /// Publish what the outbox's stream holds (as the publisher function does in AWS), then
    /// sweep what it could not deliver and is older than `--sweep-min-age` seconds.
    Publish {
        #[arg(long)]
        table: String,
        #[command(flatten)]
        queues: Queues,
        #[arg(long, default_value_t = 900)]
        sweep_min_age: i64,
    },
    /// What arrived: per channel, the queued messages; then each customer's timeline.
    Show {
        #[arg(long)]
        table: String,
        #[command(flatten)]
        queues: Queues,
        /// Print every queued document in full.
        #[arg(long)]
        json: bool,
    },
    /// Write the fuzz targets' seed corpora from the committed samples.
    FuzzSeeds {
        #[arg(long, default_value = "fuzz/corpus")]
        out: PathBuf,
    },
    /// The registry's channels, one per line (for the scripts).
    Channels,
    /// Write the SAM template and the CDK channel file from the registry.
    Infra {
        /// Write nothing; fail when a file is stale.
        #[arg(long)]
        check: bool,
    },
    /// Install what `make run` (`run`) or `make test` (`test`) needs, under $GATEWAY_TOOLS.
    Install {
        #[arg(value_enum)]
        what: install::Purpose,
    },
    /// Start the local stack (services, stand-ins, each channel's function) on free ports and
    /// write `<run dir>/stack.env`; with a command after `--`, run it in the stack's
    /// environment and stop; else run until interrupted (or `down`).
    Up {
        #[command(flatten)]
        stack: StackArgs,
        /// Return once the stack is up, leaving it running in the background.
        #[arg(long)]
        detach: bool,
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Stop a stack started with `up --detach`.
    Down {
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// The main job, locally: the stack up, every sample sent as a signed HTTP request,
    /// published from the outbox's stream, and what arrived shown.
    Run {
        #[arg(long, default_value = ".local")]
        run_dir: PathBuf,
        /// Leave the stack running afterwards, until interrupted.
        #[arg(long)]
        keep: bool,
        /// Print every queued document in full.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct StackArgs {
    /// The prefix of the stack's table, bucket, queues and secrets.
    #[arg(long, default_value = "gateway")]
    name: String,
    #[arg(long, default_value = ".local")]
    run_dir: PathBuf,
    /// The build whose `gateway` binary is served: `debug` or `release`.
    #[arg(long, default_value = "debug")]
    profile: String,
    /// Only the services, the stand-ins and the provisioning; no functions.
    #[arg(long)]
    no_functions: bool,
    /// Record every AWS call of each function (and of the publisher the tests run) in
    /// `<run dir>/aws-calls.jsonl`.
    #[arg(long)]
    record: bool,
}

impl StackArgs {
    fn options(&self) -> Result<stack::Options> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .ok_or("CARGO_TARGET_DIR is not set (source scripts/env.sh)")?;
        Ok(stack::Options {
            name: self.name.clone(),
            run_dir: std::path::absolute(&self.run_dir)?,
            bin_dir: target.join(&self.profile),
            functions: !self.no_functions,
            record: self.record,
            tools: stack::Tools::from_env(),
        })
    }
}

#[derive(Args)]
struct Queues {
    /// A channel's queue URL: `CHANNEL=URL`, once per channel.
    #[arg(long = "queue", value_parser = pair, required = true)]
    queues: Vec<(Channel, String)>,
}

fn channel(s: &str) -> std::result::Result<Channel, String> {
    s.parse::<Channel>().map_err(|e| e.to_string())
}

fn pair(s: &str) -> std::result::Result<(Channel, String), String> {
    let (name, url) = s.split_once('=').ok_or("expected CHANNEL=URL")?;
    Ok((channel(name)?, url.to_string()))
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Events { now, out } => events(now, &out),
        Command::Provision {
            channel,
            table,
            bucket,
            queue,
            secret_id,
        } => provision(channel, &table, &bucket, &queue, &secret_id).await,
        Command::LocalEnv { channel, standin } => {
            for (var, value) in channels::spec(channel).local_env(&standin) {
                println!("{var}={value}");
            }
            Ok(())
        }
        Command::Send { urls, verbose } => send(&urls, verbose).await,
        Command::Publish {
            table,
            queues,
            sweep_min_age,
        } => publish(&table, &queues.queues, sweep_min_age).await,
        Command::Show {
            table,
            queues,
            json,
        } => show(&table, &queues.queues, json).await,
        Command::FuzzSeeds { out } => fuzz_seeds(&out),
        Command::Channels => {
            for spec in CHANNELS {
                println!("{}", spec.name());
            }
            Ok(())
        }
        Command::Infra { check } => infra(check),
        Command::Install { what } => install::install(what, &stack::Tools::from_env()),
        Command::Up {
            stack,
            detach,
            command,
        } => up(&stack, detach, &command).await,
        Command::Down { run_dir } => down(&run_dir),
        Command::Run {
            run_dir,
            keep,
            json,
        } => run(run_dir, keep, json).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("gateway-local: {err}");
            ExitCode::FAILURE
        }
    }
}

fn events(now: bool, out: &Path) -> Result<()> {
    let at = if now {
        chrono::Utc::now().timestamp()
    } else {
        COMMITTED_AT
    };
    let samples = fixtures::all_events_at(at, fixtures::COMMITTED_STANDIN_URL);
    for sample in &samples {
        let dir = out.join(sample.channel);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(sample.file_name());
        std::fs::write(&path, serde_json::to_string_pretty(&sample.event)? + "\n")?;
    }
    std::fs::create_dir_all(out.join("secrets"))?;
    for spec in CHANNELS {
        std::fs::write(
            out.join(format!("secrets/{}.json", spec.name())),
            serde_json::to_string_pretty(&fixtures::channel_secret(spec.name()))? + "\n",
        )?;
    }
    println!(
        "wrote {} samples to {}/<channel> (signed at {at})",
        samples.len(),
        out.display()
    );
    Ok(())
}

/// The fuzz targets' seed corpora, made from the committed samples (`fuzz/corpus/<target>`).
fn fuzz_seeds(out: &Path) -> Result<()> {
    let mut written = 0;
    for target in fuzzing::Target::ALL {
        let dir = out.join(target.name());
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in target.seeds() {
            std::fs::write(dir.join(name), bytes)?;
            written += 1;
        }
    }
    println!("wrote {written} seeds to {}/<target>", out.display());
    Ok(())
}

async fn provision(
    channel: Channel,
    table: &str,
    bucket: &str,
    queue: &str,
    secret_id: &str,
) -> Result<()> {
    let sdk = local::sdk().await;
    let p = local::provision(
        &sdk,
        table,
        bucket,
        queue,
        secret_id,
        &fixtures::channel_secret(channel.as_str()),
    )
    .await?;
    // The queue URL on stdout, for the calling script.
    println!("{}", p.queue_url);
    Ok(())
}

async fn send(urls: &[(Channel, String)], verbose: bool) -> Result<()> {
    let client = reqwest::Client::new();
    // Per channel: how many requests, and how many got each status.
    let mut per_channel: BTreeMap<usize, (usize, BTreeMap<u16, usize>)> = BTreeMap::new();
    let mut unexpected = Vec::new();
    for sample in fixtures::all_events(chrono::Utc::now().timestamp()) {
        let Some(index) = urls.iter().position(|(c, _)| c.as_str() == sample.channel) else {
            continue;
        };
        let (status, body) = gateway_tests::send(&client, &urls[index].1, &sample).await?;
        let ok = status == sample.expect.status
            && sample.expect.body.as_ref().is_none_or(|b| *b == body);
        let (requests, statuses) = per_channel.entry(index).or_default();
        *requests += 1;
        *statuses.entry(status).or_default() += 1;
        let line = format!(
            "  {:<48} expected {} got {status}  {}",
            format!("{}/{}", sample.channel, sample.file_name()),
            sample.expect.status,
            body.chars().take(50).collect::<String>()
        );
        if !ok {
            unexpected.push(line);
        } else if verbose {
            println!("{line}");
        }
    }
    println!("{:<8} {:>8}  statuses", "channel", "requests");
    for (index, (requests, statuses)) in &per_channel {
        let statuses: Vec<_> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "{:<8} {requests:>8}  {}",
            urls[*index].0.as_str(),
            statuses.join(", ")
        );
    }
    if !unexpected.is_empty() {
        println!("unexpected answers:\n{}", unexpected.join("\n"));
        return Err(format!("{} samples got an unexpected answer", unexpected.len()).into());
    }
    println!("every answer as expected (`gateway-local send --verbose` lists them)");
    Ok(())
}

async fn publish(table: &str, queues: &[(Channel, String)], sweep_min_age: i64) -> Result<()> {
    let sdk = local::sdk().await;
    let urls: BTreeMap<Channel, String> = queues.iter().cloned().collect();
    let pass = local::publish(&sdk, table, &urls).await?;
    let store = local::store(&sdk, table);
    let report = gateway_shared::outbox::sweep(
        &store,
        &SqsQueues::new(&aws_sdk_sqs::Client::new(&sdk), &urls),
        // Its metric lines are for CloudWatch, not for the reader.
        &gateway_shared::telemetry::MemorySink::default(),
        chrono::Utc::now(),
        chrono::Duration::seconds(sweep_min_age),
        1000,
    )
    .await?;
    println!(
        "publisher: {} stream records in {} batches ({} failed); outbox after: {} waiting, {} quarantined",
        pass.delivered,
        pass.invocations,
        pass.failures,
        report.waiting - report.published,
        report.quarantined
    );
    Ok(())
}

/// Per channel what its queue holds (drained as it is read), the table's totals, then each
/// customer's timeline across channels, the customers seen on several channels first.
async fn show(table: &str, queues: &[(Channel, String)], json: bool) -> Result<()> {
    let sdk = local::sdk().await;
    println!(
        "{:<8} {:>6}  {:>13}  kinds",
        "channel", "queued", "conversations"
    );
    for (channel, url) in queues {
        let queued = local::drain(&sdk, url).await?;
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        let mut groups = std::collections::BTreeSet::new();
        for q in &queued {
            *kinds
                .entry(q.body["kind"].as_str().unwrap_or("?"))
                .or_default() += 1;
            groups.insert(q.group_id.as_str());
        }
        let kinds: Vec<_> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!(
            "{:<8} {:>6}  {:>13}  {}",
            channel.as_str(),
            queued.len(),
            groups.len(),
            kinds.join(", ")
        );
        if json {
            for q in &queued {
                println!(
                    "-- group {} | dedup {}\n{}",
                    q.group_id,
                    q.dedup_id,
                    serde_json::to_string_pretty(&q.body)?
                );
            }
        }
    }

    // Messages only: the table also keeps Mailgun's token bindings.
    let items: Vec<_> = local::scan(&sdk, table)
        .await?
        .into_iter()
        .filter(|item| item.contains_key("message"))
        .collect();
    let mut customers: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        if let Some(key) = item.get("customer_key").and_then(|v| v.as_s().ok()) {
            *customers.entry(key.clone()).or_default() += 1;
        }
    }
    let pending = local::scan(&sdk, &local::outbox_of(table)).await?.len();
    println!(
        "\ntable {table}: {} messages ({pending} in the outbox, not yet published), {} customers",
        items.len(),
        customers.len()
    );

    let store: DynamoStore = local::store(&sdk, table);
    let mut timelines = Vec::new();
    for customer in customers.keys() {
        let timeline = store.timeline(customer).await?;
        let mut on: Vec<&str> = timeline.iter().map(|m| m.channel.as_str()).collect();
        on.sort_unstable();
        on.dedup();
        timelines.push((on.len(), customer, on.join(", "), timeline));
    }
    timelines.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    println!("\ntimelines (customers on several channels first):");
    for (_, customer, on, timeline) in timelines {
        println!("\n{customer}: {} items on {on}", timeline.len());
        for m in timeline {
            let summary = summary(&m);
            println!(
                "  {}  {:<7} {:<10} {:<10} {}",
                m.sent_at
                    .unwrap_or(m.received_at)
                    .format("%Y-%m-%d %H:%M:%S"),
                m.channel.as_str(),
                m.provider,
                m.kind.as_str(),
                truncate(summary.lines().next().unwrap_or(""), 60)
            );
        }
    }
    Ok(())
}

/// A timeline line's gist: the text, else what else the message carries.
fn summary(m: &gateway_shared::schema::Message) -> String {
    if let Some(text) = m
        .text
        .as_deref()
        .or(m.status.as_ref().map(|s| s.provider_state.as_str()))
        .or(m.transcript.as_ref().and_then(|t| t.full_text.as_deref()))
        .filter(|t| !t.trim().is_empty())
    {
        return text.to_string();
    }
    if let Some(reaction) = &m.reaction {
        return format!("[reaction {reaction}]");
    }
    if let Some(postback) = &m.postback {
        return format!("[postback {postback}]");
    }
    let kinds: Vec<String> = m
        .attachments
        .iter()
        .map(|a| {
            serde_json::to_value(a.kind)
                .map_or_else(|_| "?".into(), |v| v.as_str().unwrap_or("?").to_string())
        })
        .collect();
    if kinds.is_empty() {
        "[no text]".into()
    } else {
        format!("[{}]", kinds.join(", "))
    }
}

fn truncate(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Writes the infrastructure files the registry derives, or with `check` fails when one is
/// stale.
fn infra(check: bool) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stale = gateway_tests::infra::write(&root, check);
    if check && !stale.is_empty() {
        return Err(format!(
            "generated from the registry but stale: {} (run make generate)",
            stale.join(", ")
        )
        .into());
    }
    for path in &stale {
        println!("wrote {path}");
    }
    Ok(())
}

/// `up`: the stack in the foreground (around a command, or until interrupted), or detached.
async fn up(args: &StackArgs, detach: bool, command: &[String]) -> Result<()> {
    let options = args.options()?;
    let ready = options.run_dir.join("stack.env");
    if detach {
        return detached(&options.run_dir, &ready);
    }
    let _ = std::fs::remove_file(&ready);
    let mut up = stack::Stack::start(&options).await?;
    std::fs::write(&ready, up.env_file())?;
    std::fs::write(
        options.run_dir.join("stack.pid"),
        std::process::id().to_string(),
    )?;
    let outcome = match command.split_first() {
        Some((program, args)) => tokio::process::Command::new(program)
            .args(args)
            .envs(up.vars.iter().map(|(k, v)| (k, v)))
            .status()
            .await
            .map_err(|e| format!("{program}: {e}").into())
            .and_then(|status| {
                if status.success() {
                    Ok(())
                } else {
                    Err(format!("{} failed ({status})", command.join(" ")).into())
                }
            }),
        None => interrupted().await,
    };
    up.stop().await;
    let _ = std::fs::remove_file(options.run_dir.join("stack.pid"));
    outcome
}

/// This tool's `up` again, in the background; returns once it wrote `stack.env` (or fails
/// with the end of its log when it exited first).
fn detached(run_dir: &Path, ready: &Path) -> Result<()> {
    std::fs::create_dir_all(run_dir)?;
    let _ = std::fs::remove_file(ready);
    let log = run_dir.join("stack.log");
    let args: Vec<_> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let out = std::fs::File::create(&log)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        // Its own process group: an interrupt of the caller's shell does not reach it, `down`
        // (or the caller's cleanup) stops it.
        .process_group(0)
        .spawn()?;
    loop {
        if ready.is_file() {
            eprintln!(
                "stack up: `source {}` for its variables; stop it with `gateway-local down --run-dir {}`",
                ready.display(),
                run_dir.display()
            );
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("the stack did not start ({status}):\n{log}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn down(run_dir: &Path) -> Result<()> {
    let Ok(pid) = std::fs::read_to_string(run_dir.join("stack.pid")) else {
        return Ok(()); // not running
    };
    let pid = pid.trim();
    let alive = || {
        std::process::Command::new("kill")
            .args(["-0", pid])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()?;
    for _ in 0..100 {
        if !alive() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("the stack (pid {pid}) did not stop in 10 s").into())
}

async fn interrupted() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// `make run`: the stack up, the samples sent, published and shown.
async fn run(run_dir: PathBuf, keep: bool, json: bool) -> Result<()> {
    let args = StackArgs {
        name: "gateway".into(),
        run_dir,
        profile: "debug".into(),
        no_functions: false,
        record: false,
    };
    let options = args.options()?;
    println!(
        "== the stack: DynamoDB Local, moto, the stand-in provider endpoints, one function per channel"
    );
    let mut up = stack::Stack::start(&options).await?;
    std::fs::write(options.run_dir.join("stack.env"), up.env_file())?;
    let outcome = sample_run(&up, json).await;
    if keep && outcome.is_ok() {
        println!("\nStill running, until Ctrl-C:");
        for (var, url) in up.vars.iter().filter(|(k, _)| {
            k.ends_with("_URL") && k.starts_with("GATEWAY_") && !k.ends_with("QUEUE_URL")
        }) {
            println!("  {var}={url}");
        }
        println!(
            "`source {}` points the AWS CLI and SDKs at the local services.",
            options.run_dir.join("stack.env").display()
        );
        interrupted().await?;
    }
    up.stop().await;
    outcome
}

async fn sample_run(up: &stack::Stack, json: bool) -> Result<()> {
    let var = |name: &str| {
        up.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut urls = Vec::new();
    let mut queues = Vec::new();
    for spec in CHANNELS {
        let upper = spec.name().to_uppercase();
        let channel = spec.channel;
        urls.extend(var(&format!("GATEWAY_{upper}_URL")).map(|u| (channel, u)));
        queues.extend(var(&format!("GATEWAY_{upper}_QUEUE_URL")).map(|u| (channel, u)));
    }
    let table = var("GATEWAY_TABLE").ok_or("the stack has no table")?;
    // This process talks to the stack's services as the functions do: through its
    // environment, so the steps run as this tool's own commands in child processes.
    let this = std::env::current_exe()?;
    let pairs = |flag: &str, list: &[(Channel, String)]| -> Vec<String> {
        list.iter()
            .flat_map(|(c, u)| [flag.to_string(), format!("{}={u}", c.as_str())])
            .collect()
    };
    let steps: [(&str, Vec<String>); 3] = [
        (
            "== sending the events/ samples as signed HTTP requests (timestamped schemes re-signed now)",
            [vec!["send".to_string()], pairs("--url", &urls)].concat(),
        ),
        (
            "== publishing from the outbox's stream (the publisher function's work in AWS)",
            [
                vec!["publish".into(), "--table".into(), table.clone()],
                pairs("--queue", &queues),
            ]
            .concat(),
        ),
        (
            "== what arrived (the queues are drained as they are shown)",
            [
                vec!["show".into(), "--table".into(), table.clone()],
                pairs("--queue", &queues),
                if json { vec!["--json".into()] } else { vec![] },
            ]
            .concat(),
        ),
    ];
    for (title, args) in steps {
        println!("{title}");
        let status = std::process::Command::new(&this)
            .args(&args)
            .envs(up.vars.iter().map(|(k, v)| (k, v)))
            .status()?;
        if !status.success() {
            return Err(format!("gateway-local {} failed", args[0]).into());
        }
    }
    Ok(())
}
