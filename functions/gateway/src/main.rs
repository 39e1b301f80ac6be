//! The channel function: serves the providers the registry lists for its `CHANNEL`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    gateway_shared::lambda::run().await
}
