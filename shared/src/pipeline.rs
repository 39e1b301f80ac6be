//! The request pipeline every channel function runs: route, check, verify on the raw bytes,
//! normalise, store (deduplicated, with its outbox record), answer. Publication happens off
//! the request path (`outbox`). Provider quirks stay in the providers.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OnceCell;

use crate::blob::{self, BlobStore};
use crate::error::GatewayError;
use crate::intake::{self, Kept, ReplayReport};
use crate::provider::{Auth, Context, Outcome, Provider, Reply, Window};
use crate::request::{WebhookRequest, provider_from_path, public_url};
use crate::schema::{Channel, Message};
use crate::secrets::{ChannelSecrets, SecretSource};
use crate::store::{Insert, MessageStore, Raw, StoreError, StoredMessage};
use crate::telemetry::{self, MetricSink, RequestCounts};

/// An HTTP request as the transport delivered it.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub raw_query: String,
    pub headers: HeaderMap,
    /// The decoded body, or the decoding failure (broken base64 in the event).
    pub body: Result<Bytes, GatewayError>,
}

/// The answer to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl From<Reply> for Response {
    fn from(reply: Reply) -> Self {
        Response {
            status: reply.status,
            content_type: reply.content_type,
            body: reply.body,
            headers: Vec::new(),
        }
    }
}

/// Per-function settings the pipeline needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub public_base_url: Option<String>,
    pub max_body_bytes: usize,
    pub signature_tolerance_secs: i64,
    /// Messages whose JSON is larger are stored and queued as claim checks.
    pub claim_check_bytes: usize,
}

/// Request bodies larger than this are kept in the bucket rather than in the table item, so
/// the item (message plus body) stays under DynamoDB's 400 KB.
pub const RAW_INLINE_BYTES: usize = 160 * 1024;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The adapters the pipeline talks to.
pub struct Ports {
    pub store: Arc<dyn MessageStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub secrets: Arc<dyn SecretSource>,
    pub metrics: Arc<dyn MetricSink>,
    pub clock: Clock,
}

/// What a scheduled run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScheduleReport {
    pub intake: ReplayReport,
    /// Messages its providers' scheduled work stored (assembled transcripts).
    pub assembled: u32,
    /// Of that work, what was done without its closing event (orphaned sessions).
    pub orphaned: u32,
}

/// One channel's webhook handler.
pub struct Gateway {
    channel: Channel,
    providers: HashMap<&'static str, Box<dyn Provider>>,
    settings: Settings,
    ports: Ports,
    /// Loaded on the first request that needs them, once per cold start; a failed load is
    /// retried by the next request.
    secrets: OnceCell<ChannelSecrets>,
}

struct Handled {
    reply: Reply,
    counts: RequestCounts,
}

impl Gateway {
    pub fn new(
        channel: Channel,
        providers: Vec<Box<dyn Provider>>,
        settings: Settings,
        ports: Ports,
    ) -> Self {
        let providers: HashMap<_, _> = providers.into_iter().map(|p| (p.name(), p)).collect();
        if settings.public_base_url.is_none() {
            for name in providers
                .values()
                .filter(|p| p.signs_url())
                .map(|p| p.name())
            {
                tracing::error!(
                    channel = %channel,
                    provider = name,
                    reason = "public_base_url_missing",
                    "PUBLIC_BASE_URL is not set: {name} signs the URL it calls, so its requests are refused"
                );
            }
        }
        Gateway {
            channel,
            providers,
            settings,
            ports,
            secrets: OnceCell::new(),
        }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Handles one webhook request; never panics on bad input and never fails without an answer.
    pub async fn handle(&self, incoming: Incoming) -> Response {
        let started = Instant::now();
        let name = provider_from_path(&incoming.path).to_string();
        let (metric_provider, result) = match self.providers.get(name.as_str()) {
            Some(provider) => (
                provider.name(),
                self.process(provider.as_ref(), incoming).await,
            ),
            None => ("unknown", Err(GatewayError::UnknownProvider)),
        };
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(handled) => {
                tracing::info!(
                    channel = %self.channel,
                    provider = metric_provider,
                    status = handled.reply.status.as_u16(),
                    accepted = handled.counts.accepted,
                    duplicates = handled.counts.duplicates,
                    kept = handled.counts.kept,
                    latency_ms,
                    "webhook handled"
                );
                self.ports.metrics.emit(telemetry::request_metrics(
                    (self.ports.clock)(),
                    self.channel,
                    metric_provider,
                    handled.counts,
                    None,
                    latency_ms,
                ));
                handled.reply.into()
            }
            Err(err) => {
                let status = err.status();
                if status.is_server_error() {
                    tracing::error!(channel = %self.channel, provider = metric_provider, status = status.as_u16(), reason = err.reason(), error = %err, latency_ms, "webhook failed");
                } else {
                    tracing::warn!(channel = %self.channel, provider = metric_provider, status = status.as_u16(), reason = err.reason(), error = %err, latency_ms, "webhook rejected");
                }
                self.ports.metrics.emit(telemetry::request_metrics(
                    (self.ports.clock)(),
                    self.channel,
                    metric_provider,
                    RequestCounts::default(),
                    Some(err.reason()),
                    latency_ms,
                ));
                let mut response = Response::from(Reply::json(
                    status,
                    serde_json::json!({ "error": err.public_code() }).to_string(),
                ));
                if matches!(err, GatewayError::MethodNotAllowed)
                    && let Some(provider) = self.providers.get(name.as_str())
                {
                    let allow: Vec<&str> = provider.methods().iter().map(Method::as_str).collect();
                    response.headers.push(("allow", allow.join(", ")));
                }
                response
            }
        }
    }

    async fn process(
        &self,
        provider: &dyn Provider,
        incoming: Incoming,
    ) -> Result<Handled, GatewayError> {
        if !provider.methods().contains(&incoming.method) {
            return Err(GatewayError::MethodNotAllowed);
        }
        let body = incoming.body?;
        if body.len() > self.settings.max_body_bytes {
            return Err(GatewayError::PayloadTooLarge);
        }
        let req = WebhookRequest {
            public_url: public_url(
                self.settings.public_base_url.as_deref(),
                provider.name(),
                &incoming.raw_query,
            ),
            method: incoming.method,
            provider: provider.name().to_string(),
            raw_query: incoming.raw_query,
            headers: incoming.headers,
            body,
        };
        let secret = self.secrets().await?.provider(provider.name());
        if let Some(handshake) = provider.handshake(&req, &secret.options) {
            return Ok(Handled {
                reply: handshake?,
                counts: RequestCounts::default(),
            });
        }
        let now = (self.ports.clock)();
        match self.accept(provider, &req, secret, now).await {
            // Verified (providers touch the store only after their signature check), but the
            // store is down: keep the request for the replay rather than answer 503, which
            // not every provider retries.
            Err(GatewayError::Storage(StoreError::Unavailable(reason))) => {
                self.keep(provider, &req, now, reason).await
            }
            other => other,
        }
    }

    /// Verifies a request that is not a handshake, normalises it and stores its messages,
    /// at `now` (the time it was received).
    async fn accept(
        &self,
        provider: &dyn Provider,
        req: &WebhookRequest,
        secret: crate::secrets::ProviderSecret,
        now: DateTime<Utc>,
    ) -> Result<Handled, GatewayError> {
        let window_secs = match provider.window() {
            Window::Standard => self.settings.signature_tolerance_secs,
            Window::Secs(secs) => secs,
        };
        let auth = Auth {
            secret: &secret,
            now,
            window_secs,
            tokens: self.ports.store.as_ref(),
        };
        provider.authenticate(req, &auth).await?;
        let ctx = Context {
            channel: self.channel,
            provider: provider.name(),
            received_at: now,
            secret,
            parts: self.ports.store.clone(),
        };
        match provider.normalise(req, &ctx).await? {
            Outcome::Reply(reply) => Ok(Handled {
                reply,
                counts: RequestCounts::default(),
            }),
            Outcome::Store(messages) => {
                // Whatever a normaliser made of a payload it did not understand is not a
                // message: it is dropped, logged and counted, never stored empty.
                let (messages, empty): (Vec<_>, Vec<_>) =
                    messages.into_iter().partition(Message::has_content);
                for message in &empty {
                    tracing::error!(
                        channel = %self.channel,
                        provider = provider.name(),
                        id = %message.id,
                        kind = message.kind.as_str(),
                        reason = "unrecognised_event",
                        "a verified event the normaliser did not understand was not stored"
                    );
                }
                let mut counts = self.store(messages, &req.body, req.content_type()).await?;
                counts.unrecognised = empty.len() as u32;
                Ok(Handled {
                    counts,
                    reply: provider.ack(),
                })
            }
        }
    }

    /// Keeps a verified request the store could not take, and acknowledges it. When the
    /// bucket fails too, the store's failure is the answer (503: the provider's retry, where
    /// it has one, is all that is left).
    async fn keep(
        &self,
        provider: &dyn Provider,
        req: &WebhookRequest,
        now: DateTime<Utc>,
        reason: String,
    ) -> Result<Handled, GatewayError> {
        let kept = Kept::of(req, now);
        let key = intake::key(self.channel, &kept);
        if let Err(err) = self
            .ports
            .blobs
            .put(&key, "application/json", kept.to_bytes())
            .await
        {
            tracing::error!(channel = %self.channel, provider = provider.name(), error = %err, "the bucket refused the request kept for replay");
            return Err(StoreError::Unavailable(reason).into());
        }
        tracing::warn!(channel = %self.channel, provider = provider.name(), key = %key, reason = %reason, "store unavailable: the verified request is kept for replay");
        Ok(Handled {
            reply: provider.ack(),
            counts: RequestCounts {
                kept: 1,
                ..RequestCounts::default()
            },
        })
    }

    /// Replays one kept request: verified again with the time it was received as the clock,
    /// normalised and stored (messages stored before are duplicates, as for any redelivery).
    pub async fn replay(&self, kept: &Kept) -> Result<RequestCounts, GatewayError> {
        let provider = self
            .providers
            .get(kept.provider.as_str())
            .ok_or(GatewayError::UnknownProvider)?;
        let req = kept.request(self.settings.public_base_url.as_deref())?;
        if !provider.methods().contains(&req.method) {
            return Err(GatewayError::MethodNotAllowed);
        }
        if req.body.len() > self.settings.max_body_bytes {
            return Err(GatewayError::PayloadTooLarge);
        }
        let secret = self.secrets().await?.provider(provider.name());
        let handled = self
            .accept(provider.as_ref(), &req, secret, kept.received_at)
            .await?;
        Ok(handled.counts)
    }

    /// The function's scheduled run (every minute): the intake's replay, then the work its
    /// providers scheduled that is due (real-time transcripts to assemble).
    pub async fn scheduled(&self, until: Instant) -> Result<ScheduleReport, GatewayError> {
        let intake = self.replay_intake(until).await?;
        let (mut assembled, mut orphaned) = (0, 0);
        for provider in self.providers.values().filter(|p| p.schedules_work()) {
            let now = (self.ports.clock)();
            let ctx = Context {
                channel: self.channel,
                provider: provider.name(),
                received_at: now,
                secret: self.secrets().await?.provider(provider.name()),
                parts: self.ports.store.clone(),
            };
            for done in provider.due(&ctx).await? {
                let counts = self
                    .store(done.messages, &done.raw, "application/json".into())
                    .await?;
                let (group, name) = &done.marker;
                self.ports.store.remove_part(group, name).await?;
                if done.orphaned {
                    tracing::warn!(channel = %self.channel, provider = provider.name(), "a session whose closing event never came was assembled from what arrived");
                    orphaned += 1;
                }
                tracing::info!(channel = %self.channel, provider = provider.name(), accepted = counts.accepted, duplicates = counts.duplicates, "scheduled work done");
                assembled += counts.accepted;
            }
        }
        if assembled + orphaned > 0 {
            self.ports.metrics.emit(telemetry::assembled(
                (self.ports.clock)(),
                self.channel,
                assembled,
                orphaned,
            ));
        }
        Ok(ScheduleReport {
            intake,
            assembled,
            orphaned,
        })
    }

    /// Replays the channel's kept requests, oldest first, until none is left, the store
    /// fails again (the rest wait for the next run, in order) or `until` passes. A request
    /// the pipeline refuses (4xx) is moved aside and counted; the run goes on.
    pub async fn replay_intake(&self, until: Instant) -> Result<ReplayReport, GatewayError> {
        let blobs = self.ports.blobs.as_ref();
        let mut report = ReplayReport::default();
        // At least one request per run, however little time is left, so a backlog drains.
        'runs: loop {
            let keys = blobs.list(&intake::prefix(self.channel), 100).await?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                if report.replayed + report.refused > 0 && Instant::now() >= until {
                    break 'runs;
                }
                let outcome = match blobs.fetch(&key).await? {
                    None => continue,
                    Some(bytes) => match Kept::from_bytes(&bytes) {
                        Ok(kept) => self.replay(&kept).await,
                        Err(err) => Err(err),
                    },
                };
                match outcome {
                    Ok(counts) => {
                        tracing::info!(channel = %self.channel, key = %key, accepted = counts.accepted, duplicates = counts.duplicates, "kept request replayed");
                        report.replayed += 1;
                        blobs.remove(&key).await?;
                    }
                    Err(err) if err.status().is_client_error() => {
                        tracing::error!(channel = %self.channel, key = %key, reason = err.reason(), error = %err, "kept request refused by the pipeline: moved aside");
                        if let Some(bytes) = blobs.fetch(&key).await? {
                            let aside = intake::refused_key(self.channel, &key);
                            blobs.put(&aside, "application/json", bytes).await?;
                        }
                        blobs.remove(&key).await?;
                        report.refused += 1;
                    }
                    Err(err) => {
                        tracing::warn!(channel = %self.channel, key = %key, reason = err.reason(), error = %err, "replay stopped: the rest wait for the next run");
                        break 'runs;
                    }
                }
            }
        }
        let waiting = blobs.list(&intake::prefix(self.channel), 1000).await?;
        report.waiting = waiting.len() as u32;
        report.oldest_age_secs = waiting
            .first()
            .and_then(|key| intake::received_at(key))
            .map(|at| ((self.ports.clock)() - at).num_seconds().max(0))
            .unwrap_or(0);
        self.ports.metrics.emit(telemetry::intake_metrics(
            (self.ports.clock)(),
            self.channel,
            &report,
        ));
        Ok(report)
    }

    /// The channel's secrets, loaded once and each provider's entry checked: a refused entry
    /// is logged and counted (never quoted) and its provider fails closed.
    async fn secrets(&self) -> Result<&ChannelSecrets, GatewayError> {
        self.secrets
            .get_or_try_init(|| async {
                let mut secrets = self.ports.secrets.load().await?;
                for provider in self.providers.values() {
                    if let Err(reason) =
                        secrets.validate(provider.name(), |s| provider.check_secret(s))
                    {
                        tracing::error!(
                            channel = %self.channel,
                            provider = provider.name(),
                            reason,
                            "the provider's secret entry is refused: its requests fail closed until it is fixed"
                        );
                        self.ports.metrics.emit(telemetry::secret_rejected(
                            (self.ports.clock)(),
                            self.channel,
                            provider.name(),
                        ));
                    }
                }
                Ok(secrets)
            })
            .await
            .map_err(GatewayError::SecretsUnavailable)
    }

    /// Stores every message with its outbox record, in the order the provider sent them; the
    /// answer depends only on that. Content too large for the table or the queue goes to the
    /// bucket before the message is stored.
    async fn store(
        &self,
        messages: Vec<Message>,
        body: &Bytes,
        raw_content_type: String,
    ) -> Result<RequestCounts, GatewayError> {
        let mut counts = RequestCounts::default();
        let blobs = self.ports.blobs.as_ref();
        let raw = if body.len() > RAW_INLINE_BYTES && !messages.is_empty() {
            let key = blob::raw_key(self.channel, body);
            Raw::Object(blobs.put(&key, &raw_content_type, body.clone()).await?)
        } else {
            Raw::Inline(body.clone())
        };
        for (position, mut message) in messages.into_iter().enumerate() {
            let id = message.id.clone();
            let stored = async {
                blob::offload_attachments(blobs, &mut message).await?;
                let item = StoredMessage {
                    message: blob::claim_check(blobs, message, self.settings.claim_check_bytes)
                        .await?,
                    raw: raw.clone(),
                    raw_content_type: raw_content_type.clone(),
                    position,
                };
                self.ports.store.insert(&item).await
            };
            match stored.await {
                Ok(Insert::New) => counts.accepted += 1,
                Ok(Insert::Duplicate) => {
                    counts.duplicates += 1;
                    tracing::info!(id = %id, "duplicate delivery ignored");
                }
                // Retrying would never store it: the verified request is kept in the bucket,
                // counted and alarmed, and the provider is answered so it stops retrying.
                Err(StoreError::Refused(reason)) => {
                    let key = blob::unstorable_key(self.channel, body);
                    blobs.put(&key, &raw_content_type, body.clone()).await?;
                    tracing::error!(channel = %self.channel, id = %id, key = %key, reason = %reason, "message refused by the store for good: its request is kept in the bucket");
                    counts.unstorable += 1;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(counts)
    }
}
