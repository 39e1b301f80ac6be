//! The fuzzing harness: what each `cargo fuzz` target in `fuzz/` runs, and what the regression
//! test replays for every file of the checked-in corpora and crash inputs.
//!
//! The providers target reads its input as a small HTTP-like text naming a channel and a
//! provider of the registry, so that the seeds are the committed samples, still validly signed
//! at [`COMMITTED_AT`], and the fuzzer's mutations reach past the signature check into the
//! normalisers:
//!
//! ```text
//! <channel>/<provider>
//! <METHOD> <raw query>
//! <header>: <value>
//! ...
//!
//! <body bytes>
//! ```
//!
//! The decode target reads its input as an HTTP API (payload 2.0) event, as the Lambda runtime
//! hands it over, and runs it through the event decoding and the whole pipeline.
//!
//! Each input is checked for the gateway's promises, not only for panics: no 5xx but a
//! provider API's 502 (the in-memory ports never fail), a redelivery of an accepted request is
//! acknowledged and stores and queues nothing more, what is stored is what is queued, and every
//! message, including what a normaliser makes of an unverified request, fits the published
//! JSON Schema.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gateway_shared::blob::MemoryBlobs;
use gateway_shared::channels;
use gateway_shared::lambda;
use gateway_shared::outbox::MemoryQueues;
use gateway_shared::pipeline::{Gateway, Incoming, Ports};
use gateway_shared::provider::{Context, Outcome};
use gateway_shared::request::{WebhookRequest, provider_from_path};
use gateway_shared::schema::{Channel, Message};
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::MemoryStore;
use gateway_shared::telemetry::MemorySink;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::sync::{Arc, OnceLock};

use crate::fixtures::{self, COMMITTED_AT, Sample};

/// The fuzz targets: every registered provider, and the Lambda event decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Providers,
    Decode,
}

impl Target {
    pub const ALL: [Target; 2] = [Target::Providers, Target::Decode];

    /// The target's name in `fuzz/fuzz_targets` and its corpus folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::Providers => "providers",
            Target::Decode => "decode",
        }
    }

    /// The seed inputs made from the samples in `events/`.
    pub fn seeds(self) -> Vec<(String, Vec<u8>)> {
        let samples = fixtures::all_events_at(COMMITTED_AT, fixtures::COMMITTED_STANDIN_URL);
        samples
            .iter()
            .map(|s| {
                let bytes = match self {
                    Target::Providers => encode(s),
                    Target::Decode => serde_json::to_vec(&s.event).expect("JSON"),
                };
                let name = match self {
                    Target::Providers => {
                        format!("{}-{}", s.channel, s.file_name().replace(".json", ""))
                    }
                    Target::Decode => format!("{}-{}", s.channel, s.file_name()),
                };
                (name, bytes)
            })
            .collect()
    }
}

/// Where the providers that call back are pointed: a port nothing listens on, so a fetch
/// fails at once (a 502) without leaving the machine.
const CLOSED: &str = "http://127.0.0.1:9";

/// What the gateway made of an input's first delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    pub stored: usize,
}

/// Runs one fuzz input; panics (a crash to the fuzzer) when a promise is broken. `None` when
/// the input does not decode to a request.
pub fn run(target: Target, data: &[u8]) -> Option<Delivered> {
    RUNTIME.with(|rt| {
        rt.block_on(async {
            match target {
                Target::Providers => {
                    let (channel, input) = decode_family(data)?;
                    family(channel, input).await
                }
                Target::Decode => decode_event(data).await,
            }
        })
    })
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
}

/// A family input, decoded.
#[derive(Debug, Clone)]
struct FamilyInput {
    provider: String,
    method: Method,
    raw_query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl FamilyInput {
    fn incoming(&self, channel: Channel) -> Incoming {
        Incoming {
            method: self.method.clone(),
            path: format!("/{channel}/{}", self.provider),
            raw_query: self.raw_query.clone(),
            headers: self.headers.clone(),
            body: Ok(self.body.clone()),
        }
    }
}

/// A sample in the providers target's input format.
pub fn encode(sample: &Sample) -> Vec<u8> {
    let mut out = format!(
        "{}/{}\n{} {}\n",
        sample.channel,
        sample.provider,
        sample.method(),
        sample.raw_query()
    );
    for (name, value) in sample.headers() {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend(sample.body());
    out
}

fn decode_family(data: &[u8]) -> Option<(Channel, FamilyInput)> {
    let mut rest = data;
    let mut line = || -> Option<&str> {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let text = std::str::from_utf8(&rest[..end]).ok();
        rest = &rest[end + 1..];
        text
    };
    let (channel, provider) = line()?.split_once('/')?;
    let channel: Channel = channel.parse().ok()?;
    let provider = provider.to_string();
    let (method, raw_query) = line()?.split_once(' ').unwrap_or(("POST", ""));
    let (method, raw_query) = (Method::from_bytes(method.as_bytes()).ok()?, raw_query);
    let raw_query = raw_query.to_string();
    let mut headers = HeaderMap::new();
    loop {
        let header = line()?;
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(": ")?;
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    // An unknown provider only exercises the router, which the decode target covers.
    if !family_names(channel).contains(&provider.as_str()) {
        return None;
    }
    Some((
        channel,
        FamilyInput {
            provider,
            method,
            raw_query,
            headers,
            body: Bytes::copy_from_slice(rest),
        },
    ))
}

fn family_names(channel: Channel) -> Vec<&'static str> {
    crate::providers_at(channel, CLOSED)
        .iter()
        .map(|p| p.name())
        .collect()
}

fn committed_now() -> DateTime<Utc> {
    DateTime::from_timestamp(COMMITTED_AT, 0).expect("a valid time")
}

fn secrets(channel: Channel) -> ChannelSecrets {
    static SECRETS: OnceLock<Vec<(Channel, ChannelSecrets)>> = OnceLock::new();
    let all = SECRETS.get_or_init(|| {
        Channel::ALL
            .into_iter()
            .map(|c| {
                let json = fixtures::channel_secret(c.as_str()).to_string();
                (c, ChannelSecrets::from_json(&json).expect("test secrets"))
            })
            .collect()
    });
    all.iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, s)| s.clone())
        .expect("every channel has test secrets")
}

/// A channel's gateway on fresh in-memory ports, its clock at the samples' signing time.
struct Harness {
    gateway: Gateway,
    store: Arc<MemoryStore>,
    queues: MemoryQueues,
}

impl Harness {
    fn new(channel: Channel) -> Self {
        let store = Arc::new(MemoryStore::default());
        let gateway = Gateway::new(
            channel,
            crate::providers_at(channel, CLOSED),
            crate::settings(channel),
            Ports {
                store: store.clone(),
                blobs: Arc::new(MemoryBlobs::default()),
                secrets: Arc::new(StaticSecrets(secrets(channel))),
                metrics: Arc::new(MemorySink::default()),
                clock: Arc::new(committed_now),
            },
        );
        Harness {
            gateway,
            store,
            queues: MemoryQueues::default(),
        }
    }

    /// What the publisher has put on the queues, once it has read the outbox's stream.
    async fn queued(&self) -> Vec<Message> {
        self.store
            .publish(&self.queues, &MemorySink::default(), committed_now())
            .await;
        self.queues.sent.lock().unwrap().clone()
    }

    /// Handles a delivery and checks its answer and what it left behind.
    async fn deliver(&self, channel: Channel, incoming: Incoming) -> u16 {
        let response = self.gateway.handle(incoming).await;
        let status = response.status.as_u16();
        let provider_api_failed = status == 502 && channels::spec(channel).calls_out();
        assert!(
            status < 500 || provider_api_failed,
            "{status} {}: only a provider API's failure is a 5xx here",
            response.body
        );
        // The Lambda response event is always buildable.
        let _ = lambda::to_event(response);
        let mut stored: Vec<String> = self.store.messages().into_iter().map(|m| m.id).collect();
        let mut queued: Vec<String> = self.queued().await.into_iter().map(|m| m.id).collect();
        stored.sort();
        queued.sort();
        assert_eq!(stored, queued, "every stored message is queued, once");
        for message in self.queued().await {
            check_schema(&message);
        }
        status
    }
}

async fn family(channel: Channel, input: FamilyInput) -> Option<Delivered> {
    let harness = Harness::new(channel);
    let first = harness.deliver(channel, input.incoming(channel)).await;
    let (stored, queued) = (harness.store.messages().len(), harness.queued().await.len());
    let delivered = Delivered {
        status: first,
        stored,
    };
    let again = harness.deliver(channel, input.incoming(channel)).await;
    if (200..300).contains(&first) && stored > 0 {
        assert!(
            (200..300).contains(&again),
            "a redelivery of an accepted request is acknowledged, got {again}"
        );
    }
    assert_eq!(
        (harness.store.messages().len(), harness.queued().await.len()),
        (stored, queued),
        "a redelivery stores and queues nothing more"
    );

    // The normaliser alone, as if the signature had passed: whatever it makes is a valid message.
    let providers = crate::providers_at(channel, CLOSED);
    let provider = providers.iter().find(|p| p.name() == input.provider)?;
    let req = WebhookRequest {
        method: input.method,
        provider: input.provider.clone(),
        raw_query: input.raw_query,
        headers: input.headers,
        body: input.body,
        public_url: Some(format!(
            "{}/{}",
            fixtures::public_base_url(channel.as_str()),
            input.provider
        )),
    };
    let ctx = Context {
        channel,
        provider: provider.name(),
        received_at: committed_now(),
        secret: secrets(channel).provider(provider.name()),
        parts: Arc::new(MemoryStore::default()),
    };
    if let Ok(Outcome::Store(messages)) = provider.normalise(&req, &ctx).await {
        for message in &messages {
            check_schema(message);
            assert_eq!(message.channel, channel);
        }
    }
    Some(delivered)
}

async fn decode_event(data: &[u8]) -> Option<Delivered> {
    let event = serde_json::from_slice(data).ok()?;
    let incoming = lambda::incoming(event);
    let provider = provider_from_path(&incoming.path);
    // A path no provider serves goes to the first channel, which refuses it.
    let channel = Channel::ALL
        .into_iter()
        .find(|c| family_names(*c).contains(&provider))
        .unwrap_or(Channel::ALL[0]);
    let harness = Harness::new(channel);
    let status = harness.deliver(channel, incoming).await;
    Some(Delivered {
        status,
        stored: harness.store.messages().len(),
    })
}

fn check_schema(message: &Message) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(crate::schema_validator);
    let json = serde_json::to_value(message).expect("a message serialises");
    if let Some(error) = validator.iter_errors(&json).next() {
        panic!(
            "message does not fit the schema: {error} at {}",
            error.instance_path
        );
    }
    let back: Message = serde_json::from_value(json.clone()).expect("a message deserialises");
    assert_eq!(
        serde_json::to_value(&back).expect("JSON"),
        json,
        "a message survives a round trip"
    );
}
