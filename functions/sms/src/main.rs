//! The SMS channel function: every SMS provider's webhook at `/<provider>`.

use gateway_shared::providers::{plivo::Plivo, telnyx::Telnyx, twilio::Twilio, vonage::Vonage};
use gateway_shared::schema::Channel;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run(
        Channel::Sms,
        vec![
            Box::new(Twilio),
            Box::new(Vonage),
            Box::new(Telnyx),
            Box::new(Plivo),
        ],
    )
    .await
}
