//! The social channel function: Meta (WhatsApp, Messenger, Instagram), X, LINE, Viber and
//! Telegram webhooks at `/<provider>`.

use gateway_shared::providers::{line::Line, meta::Meta, telegram::Telegram, viber::Viber, x::X};
use gateway_shared::schema::Channel;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run(
        Channel::Social,
        vec![
            Box::new(Meta),
            Box::new(X),
            Box::new(Line),
            Box::new(Viber),
            Box::new(Telegram),
        ],
    )
    .await
}
