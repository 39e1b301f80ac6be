//! The voice channel function: every call-transcript provider's webhook at `/<provider>`.

use gateway_shared::providers::{
    assemblyai::AssemblyAi, deepgram::Deepgram, retell::Retell, twilio_voice::TwilioVoice,
    vapi::Vapi,
};
use gateway_shared::schema::Channel;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run(
        Channel::Voice,
        vec![
            Box::new(TwilioVoice),
            Box::new(Deepgram),
            Box::new(Retell),
            Box::new(Vapi),
            Box::new(AssemblyAi::from_env()),
        ],
    )
    .await
}
