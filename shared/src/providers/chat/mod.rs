//! The chat channel's providers.

pub mod crisp;
pub mod intercom;
pub mod livechat;
pub mod slack;
pub mod sunshine;
pub mod webchat;
pub mod zendesk;
