//! The social channel's providers.

pub mod line;
pub mod meta;
pub mod telegram;
pub mod viber;
pub mod x;
