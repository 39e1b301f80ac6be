//! Support for the gateway's integration tests and its local run: the sample events and their
//! signers, and the local AWS services.

pub mod fixtures;
pub mod local;

use fixtures::Sample;

/// Sends a sample as a real HTTP request to a served function (`base` is the function's URL
/// without the provider, e.g. `http://127.0.0.1:9000/lambda-url/sms`). Returns status and body.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    sample: &Sample,
) -> Result<(u16, String), reqwest::Error> {
    let mut url = format!("{}/{}", base.trim_end_matches('/'), sample.provider);
    if !sample.raw_query().is_empty() {
        url = format!("{url}?{}", sample.raw_query());
    }
    let method =
        reqwest::Method::from_bytes(sample.method().as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut request = client.request(method, url).body(sample.body());
    for (name, value) in sample.headers() {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}
