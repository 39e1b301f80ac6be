//! The voice channel's providers, and what their transcripts share (`calls`).

pub mod assemblyai;
pub mod calls;
pub mod deepgram;
pub mod retell;
pub mod twilio;
pub mod vapi;
