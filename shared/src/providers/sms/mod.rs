//! The SMS channel's providers.

pub mod plivo;
pub mod telnyx;
pub mod twilio;
pub mod vonage;
