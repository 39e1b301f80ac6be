//! The e-mail channel's providers, and what their mails share (`mail`).

pub mod mail;
pub mod mailgun;
pub mod postmark;
pub mod sendgrid;
pub mod ses;
