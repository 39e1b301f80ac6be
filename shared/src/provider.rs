//! The provider port: what a webhook provider module implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};

use crate::error::{AuthError, GatewayError};
use crate::request::WebhookRequest;
use crate::schema::{self, Channel, Direction, Kind, Message, Party};
use crate::secrets::ProviderSecret;
use crate::store::{PartStore, TokenBinding};
use crate::verify::Scheme;
use serde_json::{Map, Value};
use std::sync::Arc;

/// How far a signed timestamp may be from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The function's `SIGNATURE_TOLERANCE_SECS` (default 300 s): for providers that sign
    /// each attempt afresh, or retry within minutes.
    Standard,
    /// A provider whose retries reuse the first attempt's signature for this long.
    Secs(i64),
}

/// A response the provider expects (handshakes, acknowledgements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn json(status: StatusCode, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body: body.into(),
        }
    }

    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// The default acknowledgement once everything is stored.
    pub fn ok() -> Self {
        Reply::json(StatusCode::OK, r#"{"status":"ok"}"#)
    }
}

/// What a verified request amounts to.
#[derive(Debug)]
pub enum Outcome {
    /// Messages to store and queue; empty for a recognised event with nothing to keep.
    Store(Vec<Message>),
    /// A signed handshake or ping to answer as given, with nothing stored.
    Reply(Reply),
}

/// Work a provider scheduled for later, done (a real-time transcript assembled once its stop
/// event's grace has passed): what to store, and the part that marked the work, removed once
/// it is stored.
#[derive(Debug)]
pub struct Done {
    pub messages: Vec<Message>,
    /// What the messages were made of, kept beside them as a request's body is.
    pub raw: bytes::Bytes,
    /// The marker: its group and name in the part store.
    pub marker: (String, String),
    /// Done without the event that should have closed it (a session whose stop event never
    /// came): counted and alarmed, since something upstream was lost.
    pub orphaned: bool,
}

/// What normalisers need besides the request.
#[derive(Clone)]
pub struct Context {
    pub channel: Channel,
    pub provider: &'static str,
    pub received_at: DateTime<Utc>,
    /// The provider's configured keys and options, for normalisers that call the provider
    /// back (fetching a finished transcript).
    pub secret: ProviderSecret,
    /// For messages that arrive in pieces (see [`PartStore`]).
    pub parts: Arc<dyn PartStore>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("channel", &self.channel)
            .field("provider", &self.provider)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A message with ids, schema version and receipt time filled in; the provider sets the rest.
    /// `event_key` identifies this provider event (for statuses: message id plus state), so a
    /// retried webhook gets the same id.
    pub fn message(
        &self,
        kind: Kind,
        direction: Direction,
        provider_message_id: impl Into<String>,
        event_key: &str,
        customer: Party,
        business: Party,
    ) -> Message {
        Message {
            schema_version: schema::SCHEMA_VERSION.to_string(),
            id: schema::message_id(self.channel, self.provider, event_key),
            channel: self.channel,
            provider: self.provider.to_string(),
            kind,
            direction,
            provider_message_id: provider_message_id.into(),
            conversation_id: schema::conversation_id(self.channel, &business.key, &customer.key),
            customer,
            business,
            sent_at: None,
            received_at: self.received_at,
            text: None,
            attachments: Vec::new(),
            reply_to: None,
            visibility: None,
            post_id: None,
            reaction: None,
            postback: None,
            status: None,
            transcript: None,
            email: None,
            claim_check: None,
        }
    }

    /// A party with its identity key scoped to this channel and provider.
    pub fn party(&self, id: impl Into<String>) -> Party {
        Party::from_id(self.channel, self.provider, id)
    }

    /// A party whose provider id is a phone number (see [`Party::from_phone_id`]).
    pub fn phone_party(&self, id: impl Into<String>) -> Party {
        Party::from_phone_id(self.channel, self.provider, id)
    }
}

/// What authentication works with besides the request.
pub struct Auth<'a> {
    pub secret: &'a ProviderSecret,
    pub now: DateTime<Utc>,
    /// How far a signed timestamp may be from `now` (see [`Window`]).
    pub window_secs: i64,
    /// Where tokens of schemes that do not sign the body are bound to their request.
    pub tokens: &'a dyn TokenBinding,
}

/// One webhook provider: its methods, its verification and its normalisation.
///
/// The pipeline calls `verify` on the raw bytes before `normalise` ever parses them. Only
/// `normalise` (after verification) may answer with anything computed from a key.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The path segment that selects this provider (`/twilio`).
    fn name(&self) -> &'static str;

    /// HTTP methods the provider may use.
    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    /// How its requests are proven genuine (see [`Scheme`]); `Scheme::Custom` providers
    /// implement `verify` themselves.
    fn scheme(&self) -> Scheme;

    /// How old a signed timestamp may be.
    fn window(&self) -> Window {
        Window::Standard
    }

    /// Whether the signature covers the URL the provider called, which then comes from the
    /// function's `PUBLIC_BASE_URL` only (never from request headers a client sets).
    fn signs_url(&self) -> bool {
        false
    }

    /// Why the configured secret cannot be used (blank or short keys, blank options), checked
    /// once when the secret is loaded; the reason never quotes a key.
    fn check_secret(&self, secret: &ProviderSecret) -> Result<(), &'static str> {
        secret.check_keys(self.scheme().key_kind())
    }

    /// An unsigned handshake (a subscription check such as Meta's GET, a target check such as
    /// Sunshine's HEAD), answered before verification; `None` when the request is not one.
    /// It sees the provider's options but never its keys, so it cannot answer with a value
    /// keyed on bytes the caller chose: signed handshakes are answered by `normalise`.
    fn handshake(
        &self,
        _req: &WebhookRequest,
        _options: &Map<String, Value>,
    ) -> Option<Result<Reply, GatewayError>> {
        None
    }

    /// Checks the request's signature against the configured keys, on the raw bytes, with
    /// signed timestamps within `window_secs`.
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        window_secs: i64,
    ) -> Result<(), AuthError> {
        self.scheme().verify(req, secret, now, window_secs)
    }

    /// What the pipeline calls: `verify`, after any work the check needs first (fetching a
    /// signing certificate, parsing a multipart body) or after it (binding a token the
    /// signature does not tie to the body), which providers with such checks do here. A
    /// failure to fetch is a `GatewayError` other than `Unauthorized` (a 5xx).
    async fn authenticate(
        &self,
        req: &WebhookRequest,
        auth: &Auth<'_>,
    ) -> Result<(), GatewayError> {
        Ok(self.verify(req, auth.secret, auth.now, auth.window_secs)?)
    }

    /// Turns a verified request into messages (or a reply).
    async fn normalise(&self, req: &WebhookRequest, ctx: &Context)
    -> Result<Outcome, GatewayError>;

    /// The success answer once the messages are stored.
    fn ack(&self) -> Reply {
        Reply::ok()
    }

    /// Whether it schedules work for later (see [`Provider::due`]).
    fn schedules_work(&self) -> bool {
        false
    }

    /// The work it scheduled that is due at `ctx.received_at` (now), run by the function's
    /// schedule; each item's marker is removed once its messages are stored, so work whose
    /// storing fails is done again by the next run.
    async fn due(&self, _ctx: &Context) -> Result<Vec<Done>, GatewayError> {
        Ok(Vec::new())
    }
}
