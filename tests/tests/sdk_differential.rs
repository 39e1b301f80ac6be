//! The gateway's verdict equals the providers' official verifiers' on thousands of requests:
//! genuine requests signed by the providers' SDKs (or by their documented algorithm, written
//! independently in `scripts/sdk_differential.py`, where no SDK verifies), and seeded
//! mutations of each: body bytes, each signed header, timestamps, URL and query, the keys
//! configured. The cases and the official verdicts are `tests/data/sdk_differential.json`;
//! `make test` regenerates them with the SDKs and fails if they changed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::DateTime;
use gateway_shared::error::GatewayError;
use gateway_shared::provider::{Auth, Window};
use gateway_shared::request::WebhookRequest;
use gateway_shared::schema::Channel;
use gateway_shared::secrets::ProviderSecret;
use gateway_shared::store::MemoryStore;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use std::collections::BTreeMap;

fn request(case: &Value) -> Option<WebhookRequest> {
    let mut headers = HeaderMap::new();
    for (name, value) in case["headers"].as_object().unwrap() {
        // A mutation may make a header value HTTP cannot carry: no request then.
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).ok()?,
            HeaderValue::from_str(value.as_str().unwrap()).ok()?,
        );
    }
    let query = case["query"].as_str().unwrap().to_string();
    let channel = case["channel"].as_str().unwrap();
    Some(WebhookRequest {
        method: Method::from_bytes(case["method"].as_str().unwrap().as_bytes()).unwrap(),
        provider: case["provider"].as_str().unwrap().to_string(),
        public_url: gateway_shared::request::public_url(
            Some(&gateway_tests::fixtures::public_base_url(channel)),
            case["provider"].as_str().unwrap(),
            &query,
        ),
        raw_query: query,
        headers,
        body: Bytes::from(STANDARD.decode(case["body"].as_str().unwrap()).unwrap()),
    })
}

#[tokio::test]
async fn the_gateway_agrees_with_every_official_verifier() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("../data/sdk_differential.json"))
        .expect("the committed cases are JSON");
    let mut per_provider: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for case in &cases {
        let channel: Channel = case["channel"].as_str().unwrap().parse().unwrap();
        let name = case["provider"].as_str().unwrap();
        let providers = gateway_tests::providers_at(channel, "http://127.0.0.1:9/");
        let provider = providers.iter().find(|p| p.name() == name).unwrap();
        let official = case["official"].as_bool().unwrap();
        let secret = ProviderSecret {
            keys: case["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string())
                .collect(),
            options: case["options"].as_object().unwrap().clone(),
        };
        let accepted = match request(case) {
            None => false,
            Some(req) => {
                // Each case on its own: Mailgun binds a token to the first mail it carries.
                let tokens = MemoryStore::default();
                let auth = Auth {
                    secret: &secret,
                    now: DateTime::from_timestamp(case["now"].as_i64().unwrap(), 0).unwrap(),
                    window_secs: match provider.window() {
                        Window::Standard => 300,
                        Window::Secs(secs) => secs,
                    },
                    tokens: &tokens,
                };
                // What the signature check decides: a well-signed body that does not parse
                // is the normaliser's business (a 400), not the verifier's.
                !matches!(
                    provider.authenticate(&req, &auth).await,
                    Err(GatewayError::Unauthorized(_))
                )
            }
        };
        let entry = per_provider.entry(name.to_string()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(accepted);
        if accepted != official {
            disagreements.push(format!(
                "{} {}: official {official}, gateway {accepted}",
                name,
                case["case"].as_str().unwrap()
            ));
        }
    }
    for (provider, (total, accepted)) in &per_provider {
        println!("{provider:<10} {total:>4} cases, {accepted:>4} accepted");
        assert!(
            *accepted > 0 && accepted < total,
            "{provider}: every case got the same verdict, the cases prove nothing"
        );
    }
    assert!(
        per_provider.len() >= 20,
        "providers covered: {per_provider:?}"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}
