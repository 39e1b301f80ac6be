//! The e-mail channel function: every inbound e-mail provider's webhook at `/<provider>`.

use gateway_shared::providers::{
    mailgun::Mailgun, postmark::Postmark, sendgrid::SendGrid, ses::Ses,
};
use gateway_shared::schema::Channel;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run(
        Channel::Email,
        vec![
            Box::new(Mailgun),
            Box::new(SendGrid),
            Box::new(Postmark),
            Box::new(Ses::from_env()),
        ],
    )
    .await
}
