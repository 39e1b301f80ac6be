//! The local stack, as `make run`, `make test` and `make bench` start it (`gateway-local up`):
//! DynamoDB Local and moto on free ports, the stand-in provider endpoints, and per channel of
//! the registry its queue, secret and function (cargo lambda's Runtime API emulator in front of
//! the `gateway` binary already built), each function optionally behind a recording proxy of
//! its AWS calls. It writes `<run dir>/stack.env`, the variables the tests and tools read, and
//! stops every process it started when it stops.
//!
//! Ports are asked of the kernel, never configured: two stacks (a `make run --keep` and a
//! `make test`) run side by side.

use crate::recorder::Recorder;
use gateway_shared::channels::{CHANNELS, ChannelSpec, TRANSCRIPT_GRACE_ENV};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Where the installed tools are (`gateway-local install`; `scripts/env.sh` names the folder).
#[derive(Debug, Clone)]
pub struct Tools {
    pub root: PathBuf,
}

impl Tools {
    pub fn from_env() -> Self {
        let root = std::env::var_os("GATEWAY_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/channel-gateway")
            });
        Tools { root }
    }
    pub fn venv(&self) -> PathBuf {
        self.root.join("venv")
    }
    pub fn sam_venv(&self) -> PathBuf {
        self.root.join("sam-venv")
    }
    pub fn dynamodb_local(&self) -> PathBuf {
        self.root.join("dynamodb-local")
    }
    pub fn cargo_bin(&self) -> PathBuf {
        self.root.join("cargo/bin")
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Prefix of every resource: `<name>-messages`, `<name>-<channel>.fifo`, `<name>/<channel>`.
    pub name: String,
    pub run_dir: PathBuf,
    /// Where the `gateway` binary is (`target/debug` or `target/release`).
    pub bin_dir: PathBuf,
    /// Serve each channel's function (else only the services, the stand-ins and provisioning).
    pub functions: bool,
    /// Put a recording proxy in front of each function's AWS calls, and one for the publisher
    /// the tests run (`<run dir>/aws-calls.jsonl`).
    pub record: bool,
    pub tools: Tools,
}

/// A running stack; `stop` ends every process it started.
pub struct Stack {
    children: Vec<(String, Child)>,
    tasks: Vec<JoinHandle<()>>,
    /// The variables written to `stack.env`, in order.
    pub vars: Vec<(String, String)>,
}

const REGION: &str = "us-east-1";

impl Stack {
    pub async fn start(options: &Options) -> Result<Stack> {
        std::fs::create_dir_all(&options.run_dir)?;
        let mut stack = Stack {
            children: Vec::new(),
            tasks: Vec::new(),
            vars: Vec::new(),
        };
        // A half-started stack is stopped before the error is returned.
        match stack.start_all(options).await {
            Ok(()) => Ok(stack),
            Err(err) => {
                stack.stop().await;
                Err(err)
            }
        }
    }

    async fn start_all(&mut self, o: &Options) -> Result<()> {
        let run = &o.run_dir;
        let (ddb_port, moto_port) = (free_port()?, free_port()?);
        let ddb_dir = o.tools.dynamodb_local();
        let mut java = Command::new("java");
        java.arg(format!(
            "-Djava.library.path={}",
            ddb_dir.join("DynamoDBLocal_lib").display()
        ))
        .arg("-jar")
        .arg(ddb_dir.join("DynamoDBLocal.jar"))
        .args(["-inMemory", "-port", &ddb_port.to_string()]);
        self.spawn("dynamodb", java, &run.join("dynamodb.log"))?;
        let mut moto = Command::new(o.tools.venv().join("bin/moto_server"));
        moto.args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]);
        self.spawn("moto", moto, &run.join("moto.log"))?;
        let ddb = format!("http://127.0.0.1:{ddb_port}");
        let moto = format!("http://127.0.0.1:{moto_port}");
        self.wait_until("DynamoDB Local", run.join("dynamodb.log"), || {
            answers(ddb.clone())
        })
        .await?;
        self.wait_until("moto", run.join("moto.log"), || {
            answers(format!("{moto}/moto-api/"))
        })
        .await?;
        for (var, value) in [
            ("AWS_REGION", REGION),
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &ddb),
            ("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", &ddb),
            ("AWS_ENDPOINT_URL_SQS", &moto),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto),
            ("AWS_ENDPOINT_URL_S3", &moto),
        ] {
            self.set(var, value);
        }
        eprintln!("[stack] DynamoDB Local on {ddb}, moto on {moto}");

        let (standins, listener) = listen().await?;
        self.tasks
            .push(tokio::spawn(crate::standins::serve(listener)));
        self.set("GATEWAY_STANDIN_URL", &standins);

        let calls = run.join("aws-calls.jsonl");
        let table = format!("{}-messages", o.name);
        let bucket = format!("{}-blobs", o.name);
        for spec in CHANNELS {
            let channel = spec.name();
            let upper = channel.to_uppercase();
            let aws = if o.record {
                self.recorder(channel, &ddb, &moto, &calls).await?
            } else {
                None
            };
            let queue_url = self
                .provision(spec, &table, &bucket, &format!("{}-{channel}", o.name), o)
                .await?;
            let env = function_env(
                spec,
                &table,
                &bucket,
                &format!("{}/{channel}", o.name),
                &standins,
                aws.as_deref(),
                &self.vars,
            );
            let env_file = run.join(format!("{channel}.env"));
            std::fs::write(
                &env_file,
                env.iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect::<String>(),
            )?;
            self.set(&format!("GATEWAY_{upper}_QUEUE_URL"), &queue_url);
            self.set(&format!("GATEWAY_{upper}_ENV"), &env_file.to_string_lossy());
            if o.functions {
                let url = self.function(channel, &env, o).await?;
                self.set(&format!("GATEWAY_{upper}_URL"), &url);
                let log = run.join(format!("functions-{channel}.log"));
                self.set(&format!("GATEWAY_{upper}_LOG"), &log.to_string_lossy());
            }
        }
        self.set("GATEWAY_TABLE", &table);
        self.set("GATEWAY_BUCKET", &bucket);
        if o.record
            && let Some(url) = self.recorder("publisher", &ddb, &moto, &calls).await?
        {
            self.set("GATEWAY_PUBLISHER_ENDPOINT", &url);
        }
        Ok(())
    }

    fn set(&mut self, var: &str, value: &str) {
        self.vars.push((var.into(), value.into()));
    }

    fn aws_vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn spawn(&mut self, name: &str, mut command: Command, log: &Path) -> Result<()> {
        let out = std::fs::File::create(log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({command:?}): {e}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Waits (up to 60 s) until `ready` holds, failing early when the process last started
    /// has exited, with the end of its log.
    async fn wait_until<F, Fut>(&mut self, what: &str, log: PathBuf, mut ready: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..300 {
            if ready().await {
                return Ok(());
            }
            if let Some((_, child)) = self.children.last_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("{what} exited ({status}):\n{}", tail(&log)).into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("{what} did not come up in 60 s:\n{}", tail(&log)).into())
    }

    /// A recording proxy for `function`'s AWS calls; its URL, the function's one endpoint.
    async fn recorder(
        &mut self,
        function: &str,
        dynamodb: &str,
        moto: &str,
        calls: &Path,
    ) -> Result<Option<String>> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(calls)?;
        let recorder = Recorder {
            function: function.into(),
            dynamodb: dynamodb.into(),
            moto: moto.into(),
            log: Arc::new(Mutex::new(log)),
            client: reqwest::Client::new(),
        };
        let (url, listener) = listen().await?;
        self.tasks.push(tokio::spawn(async move {
            let _ = crate::recorder::serve_on(recorder, listener).await;
        }));
        Ok(Some(url))
    }

    /// The channel's table, bucket, queue and secret, by this tool's own `provision` command
    /// (a process of its own, so the SDK reads the endpoints from its environment as the
    /// functions do). Returns the queue's URL.
    async fn provision(
        &self,
        spec: &ChannelSpec,
        table: &str,
        bucket: &str,
        queue: &str,
        o: &Options,
    ) -> Result<String> {
        let output = Command::new(std::env::current_exe()?)
            .args(["provision", "--channel", spec.name(), "--table", table])
            .args(["--bucket", bucket, "--queue", queue])
            .args(["--secret-id", &format!("{}/{}", o.name, spec.name())])
            .envs(self.aws_vars())
            .stderr(Stdio::inherit())
            .output()
            .await?;
        if !output.status.success() {
            return Err(format!("provisioning {} failed", spec.name()).into());
        }
        Ok(String::from_utf8(output.stdout)?.trim().to_string())
    }

    /// Serves one channel's function; returns its URL once it answers.
    async fn function(
        &mut self,
        channel: &str,
        env: &[(String, String)],
        o: &Options,
    ) -> Result<String> {
        let binary = o.bin_dir.join("gateway");
        if !binary.is_file() {
            return Err(format!("{} is not built", binary.display()).into());
        }
        let run = &o.run_dir;
        let port = free_port()?;
        // No CORS: the HTTP API in AWS has none either, so an OPTIONS request reaches the
        // function.
        let mut emulator = Command::new(o.tools.venv().join("bin/cargo-lambda"));
        emulator
            .args(["lambda", "watch", "--only-lambda-apis", "--disable-cors"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()]);
        let emulator_log = run.join(format!("runtime-api-{channel}.log"));
        self.spawn(&format!("{channel} runtime API"), emulator, &emulator_log)?;
        // The runtime client gives up at once if the emulator is not listening yet.
        self.wait_until("cargo lambda", emulator_log, || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await?;
        let mut function = Command::new(&binary);
        function
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("AWS_LAMBDA_FUNCTION_NAME", "gateway")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt/gateway"),
            );
        let log = run.join(format!("functions-{channel}.log"));
        self.spawn(channel, function, &log)?;
        let url = format!("http://127.0.0.1:{port}/lambda-url/gateway/{channel}");
        // Served once an unknown provider gets the function's own 404.
        let probe = format!("{url}/ready");
        self.wait_until(&format!("the {channel} function"), log.clone(), || {
            let probe = probe.clone();
            async move {
                let client = reqwest::Client::new();
                matches!(
                    client.post(&probe).timeout(Duration::from_secs(5)).send().await,
                    Ok(r) if r.status() == 404
                )
            }
        })
        .await?;
        eprintln!("[stack] {channel} served at {url} (log: {})", log.display());
        Ok(url)
    }

    /// `export VAR='value'` lines, for a shell to source.
    pub fn env_file(&self) -> String {
        self.vars
            .iter()
            .map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', r"'\''")))
            .collect()
    }

    /// Ends every process and server task it started.
    pub async fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.start_kill();
        }
        for (_, mut child) in self.children.drain(..).rev() {
            let _ = child.wait().await;
        }
    }
}

/// A function's environment locally: its channel's resources, the AWS endpoints (or one
/// recording proxy for all of them), its providers' calls out pointed at the stand-ins.
fn function_env(
    spec: &ChannelSpec,
    table: &str,
    bucket: &str,
    secret_id: &str,
    standins: &str,
    aws_proxy: Option<&str>,
    vars: &[(String, String)],
) -> Vec<(String, String)> {
    let channel = spec.name();
    let mut env: Vec<(String, String)> = [
        ("CHANNEL", channel.to_string()),
        ("TABLE_NAME", table.into()),
        ("BUCKET_NAME", bucket.into()),
        ("S3_FORCE_PATH_STYLE", "true".into()),
        ("OUTBOX_TABLE_NAME", crate::local::outbox_of(table)),
        ("PARTS_TABLE_NAME", crate::local::parts_of(table)),
        // A real-time transcript is assembled at its stop event, so each sample gets its
        // answer at once (the grace itself is tested in tests/tests/voice.rs).
        (TRANSCRIPT_GRACE_ENV, "0".into()),
        ("SECRET_ID", secret_id.into()),
        (
            "PUBLIC_BASE_URL",
            format!("https://hooks.example.com/{channel}"),
        ),
        ("RETENTION_DAYS", "30".into()),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (var, value) in vars {
        let endpoint = var.starts_with("AWS_ENDPOINT_URL_") && !var.ends_with("_STREAMS");
        if var.starts_with("AWS_") && !var.ends_with("_STREAMS") && var != "AWS_DEFAULT_REGION" {
            let value = match aws_proxy {
                Some(proxy) if endpoint => proxy.to_string(),
                _ => value.clone(),
            };
            env.push((var.clone(), value));
        }
    }
    env.extend(
        spec.local_env(standins)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

/// A loopback port free now (the kernel's choice), for a process started next.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A listener on a free loopback port, and its base URL, for a server of this process.
async fn listen() -> Result<(String, TcpListener)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    Ok((format!("http://{}", listener.local_addr()?), listener))
}

async fn answers(url: String) -> bool {
    reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok()
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
