//! Support for the gateway's integration tests and its local run: the sample events and their
//! signers, and the local AWS services.

pub mod fixtures;
pub mod fuzzing;
pub mod genuine;
pub mod infra;
#[cfg(feature = "local")]
pub mod install;
#[cfg(feature = "local")]
pub mod local;
pub mod proxy;
#[cfg(feature = "local")]
pub mod recorder;
#[cfg(feature = "local")]
pub mod stack;
pub mod standins;
#[cfg(feature = "local")]
pub mod streams;

use fixtures::Sample;

#[cfg(feature = "local")]
/// Sends a sample as a real HTTP request to its channel's served function (`base` is the
/// function's URL without the provider, e.g. `http://127.0.0.1:9000/lambda-url/sms`).
/// Returns status and body.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    sample: &Sample,
) -> Result<(u16, String), reqwest::Error> {
    let mut url = format!("{}/{}", base.trim_end_matches('/'), sample.provider);
    if !sample.raw_query().is_empty() {
        url = format!("{url}?{}", sample.raw_query());
    }
    let method =
        reqwest::Method::from_bytes(sample.method().as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut request = client.request(method, url).body(sample.body());
    for (name, value) in sample.headers() {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

use gateway_shared::blob::{BlobStore, MemoryBlobs};
use gateway_shared::channels::{self, Endpoints};
use gateway_shared::outbox::MemoryQueues;
use gateway_shared::pipeline::{Gateway, Incoming, Ports, Settings};
use gateway_shared::provider::Provider;
use gateway_shared::providers::email::ses::CertPolicy;
use gateway_shared::schema::Channel;
use gateway_shared::schema::Message;
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::{MemoryStore, MessageStore};
use gateway_shared::telemetry::MemorySink;
use std::sync::Arc;

/// A channel's providers, as its function registers them, calling back the stand-ins.
pub fn providers(channel: Channel) -> Vec<Box<dyn Provider>> {
    // Only a channel whose providers call out starts the stand-ins.
    if channels::spec(channel).calls_out() {
        providers_at(channel, &standins::url())
    } else {
        providers_at(channel, "")
    }
}

/// A channel's providers, as the registry builds them, with the endpoints they call back
/// (AssemblyAI's transcript API, SNS certificates) at `standin`.
pub fn providers_at(channel: Channel, standin: &str) -> Vec<Box<dyn Provider>> {
    channels::spec(channel).providers(&endpoints(standin))
}

/// Where the providers call back: the stand-ins at `standin`, as the debug build does with
/// `ASSEMBLYAI_API_BASE_URL` and `LOCAL_SNS_CERT_BASE_URL`.
pub fn endpoints(standin: &str) -> Endpoints {
    Endpoints {
        assemblyai_api: standin.to_string(),
        sns_certificates: CertPolicy::Prefix(format!("{standin}/sns/")),
        // Assembled at the stop event, so each sample gets its answer at once; the grace
        // itself has its own tests (`voice.rs`, `local_services.rs`).
        transcript_grace: chrono::Duration::zero(),
    }
}

/// The settings a channel's function runs with locally.
pub fn settings(channel: Channel) -> Settings {
    Settings {
        public_base_url: Some(fixtures::public_base_url(channel.as_str())),
        max_body_bytes: 1024 * 1024,
        signature_tolerance_secs: 300,
        claim_check_bytes: 200 * 1024,
    }
}

/// A channel's gateway on the given store and an in-memory bucket, with the test secrets.
pub fn gateway(channel: Channel, store: Arc<dyn MessageStore>, metrics: MemorySink) -> Gateway {
    gateway_with_blobs(channel, store, Arc::new(MemoryBlobs::default()), metrics)
}

/// A channel's gateway on the given adapters, with the test secrets.
pub fn gateway_with_blobs(
    channel: Channel,
    store: Arc<dyn MessageStore>,
    blobs: Arc<dyn BlobStore>,
    metrics: MemorySink,
) -> Gateway {
    let secret = fixtures::channel_secret(channel.as_str()).to_string();
    let secrets = ChannelSecrets::from_json(&secret).expect("valid");
    Gateway::new(
        channel,
        providers(channel),
        settings(channel),
        Ports {
            store,
            blobs,
            secrets: Arc::new(StaticSecrets(secrets)),
            metrics: Arc::new(metrics),
            clock: Arc::new(chrono::Utc::now),
        },
    )
}

/// A gateway on in-memory adapters, for tests of the pipeline itself, with the publisher
/// behind it on in-memory queues.
pub struct MemoryGateway {
    pub gateway: Gateway,
    pub store: Arc<MemoryStore>,
    pub queues: Arc<MemoryQueues>,
    pub blobs: Arc<MemoryBlobs>,
    pub metrics: MemorySink,
}

impl MemoryGateway {
    /// Runs the publisher over what the outbox's stream has not delivered yet, then returns
    /// every message the queues have received so far, in order.
    pub async fn queued(&self) -> Vec<Message> {
        self.store
            .publish(self.queues.as_ref(), &self.metrics, chrono::Utc::now())
            .await;
        self.queues.sent.lock().unwrap().clone()
    }
}

pub fn memory_gateway_for(channel: Channel) -> MemoryGateway {
    let store = Arc::new(MemoryStore::default());
    let blobs = Arc::new(MemoryBlobs::default());
    let metrics = MemorySink::default();
    MemoryGateway {
        gateway: gateway_with_blobs(channel, store.clone(), blobs.clone(), metrics.clone()),
        store,
        queues: Arc::new(MemoryQueues::default()),
        blobs,
        metrics,
    }
}

/// The pipeline request of a sample event, through the Lambda adapter's own decoding.
pub fn incoming(sample: &Sample) -> Incoming {
    gateway_shared::lambda::incoming(
        serde_json::from_value(sample.event.clone()).expect("samples are HTTP API events"),
    )
}

/// A validator for the committed JSON Schema of the message document.
pub fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/message.v1.json"))
            .expect("the committed schema is JSON");
    jsonschema::validator_for(&schema).expect("the committed schema compiles")
}

/// "Now" fixed once per test process: samples made by separate calls then agree on every
/// time-derived id (Slack's `ts`, a call's start), even across a second boundary.
pub fn test_now() -> i64 {
    static NOW: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| chrono::Utc::now().timestamp())
}

/// The ids of the messages a sample stores, as an in-memory gateway of its channel makes them
/// (ids depend only on the provider's event, so they are the ids any gateway gives it).
pub async fn message_ids(sample: &Sample) -> Vec<String> {
    let channel: Channel = sample.channel.parse().expect("a sample's channel");
    let memory = memory_gateway_for(channel);
    memory.gateway.handle(incoming(sample)).await;
    memory.store.messages().into_iter().map(|m| m.id).collect()
}
