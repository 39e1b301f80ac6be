//! The channel-webhook gateway's shared library: the message schema, the provider port and
//! the providers, signature helpers, the request pipeline, AWS adapters, configuration and
//! telemetry. Each channel function is a thin binary that registers its providers here.

#[cfg(feature = "aws")]
pub mod aws;
pub mod blob;
pub mod channels;
pub mod config;
pub mod error;
pub mod identity;
pub mod intake;
pub mod lambda;
pub mod outbox;
pub mod pipeline;
pub mod provider;
pub mod providers;
pub mod request;
pub mod schema;
pub mod secrets;
pub mod store;
#[cfg(feature = "aws")]
pub mod stream;
pub mod telemetry;
pub mod verify;
