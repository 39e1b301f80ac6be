//! The provider port: what a webhook provider module implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};

use crate::error::{AuthError, GatewayError};
use crate::request::WebhookRequest;
use crate::schema::{self, Channel, Direction, Kind, Message, Party};
use crate::secrets::ProviderSecret;
use crate::store::MessageStore;
use std::sync::Arc;

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

/// What normalisers need besides the request.
#[derive(Clone)]
pub struct Context {
    pub channel: Channel,
    pub provider: &'static str,
    pub received_at: DateTime<Utc>,
    /// The provider's configured keys and options, for normalisers that call the provider
    /// back (fetching a finished transcript).
    pub secret: ProviderSecret,
    /// For messages that arrive in pieces: see [`MessageStore::put_part`].
    pub store: Arc<dyn MessageStore>,
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
}

/// One webhook provider: its methods, its verification and its normalisation.
///
/// The pipeline calls `verify` on the raw bytes before `normalise` ever parses them.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The path segment that selects this provider (`/twilio`).
    fn name(&self) -> &'static str;

    /// HTTP methods the provider may use.
    fn methods(&self) -> &'static [Method] {
        &[Method::POST]
    }

    /// An unsigned handshake (a subscription check such as Meta's GET or X's CRC), answered
    /// before verification with what the provider expects; `None` when the request is not one.
    fn handshake(
        &self,
        _req: &WebhookRequest,
        _secret: &ProviderSecret,
    ) -> Option<Result<Reply, GatewayError>> {
        None
    }

    /// Checks the request's signature against the configured keys, on the raw bytes.
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), AuthError>;

    /// What the pipeline calls: `verify`, after any work the check needs first (fetching a
    /// signing certificate, parsing a multipart body), which providers with such checks do
    /// here. A failure to fetch is a `GatewayError` other than `Unauthorized` (a 5xx).
    async fn authenticate(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), GatewayError> {
        Ok(self.verify(req, secret, now, tolerance_secs)?)
    }

    /// Turns a verified request into messages (or a reply).
    async fn normalise(&self, req: &WebhookRequest, ctx: &Context)
    -> Result<Outcome, GatewayError>;

    /// The success answer once the messages are stored.
    fn ack(&self) -> Reply {
        Reply::ok()
    }
}
