//! Our verifiers accept signatures made by the providers' official SDKs
//! (`tests/data/sdk_vectors.json`, written by `scripts/check_sdk_signatures.py vectors`),
//! and refuse them once a signed field changes.

use bytes::Bytes;
use chrono::DateTime;
use gateway_shared::provider::Provider;
use gateway_shared::providers::sms::{plivo::Plivo, twilio::Twilio, vonage::Vonage};
use gateway_shared::request::WebhookRequest;
use gateway_shared::secrets::ProviderSecret;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;

fn request(v: &Value, tamper: bool) -> WebhookRequest {
    let url = v["url"].as_str().unwrap();
    // The configured public URL never carries the default port; Twilio may sign it anyway.
    let public_url = url.replace(":443/", "/");
    let raw_query = url.split_once('?').map_or("", |(_, q)| q).to_string();
    let mut params: Vec<(String, String)> = v["params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let mut body = match v.get("raw_body").and_then(Value::as_str) {
        Some(raw) => raw.as_bytes().to_vec(),
        None => serde_urlencoded::to_string(&params).unwrap().into_bytes(),
    };
    let mut public_url = public_url;
    if tamper {
        if let Some(p) = params.iter_mut().find(|(k, _)| k != "sig") {
            p.1.push('x');
            body = serde_urlencoded::to_string(&params).unwrap().into_bytes();
        } else if v.get("raw_body").is_some() {
            body.push(b' ');
        } else {
            public_url.push_str("&x=1");
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_str(v["content_type"].as_str().unwrap()).unwrap(),
    );
    for (k, val) in v["headers"].as_object().unwrap() {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(val.as_str().unwrap()).unwrap(),
        );
    }
    let method = Method::from_bytes(v["method"].as_str().unwrap().as_bytes()).unwrap();
    WebhookRequest {
        provider: v["provider"].as_str().unwrap().into(),
        raw_query: if method == Method::GET || tamper && public_url.ends_with("&x=1") {
            public_url
                .split_once('?')
                .map_or("", |(_, q)| q)
                .to_string()
        } else {
            raw_query
        },
        body: if method == Method::GET {
            Bytes::new()
        } else {
            Bytes::from(body)
        },
        method,
        headers,
        public_url: Some(public_url),
    }
}

#[test]
fn sdk_made_signatures_verify_and_tampered_ones_do_not() {
    let vectors: Vec<Value> = serde_json::from_str(include_str!("data/sdk_vectors.json")).unwrap();
    assert!(vectors.len() >= 10, "the SDK vectors are present");
    for v in &vectors {
        let provider: Box<dyn Provider> = match v["provider"].as_str().unwrap() {
            "twilio" => Box::new(Twilio),
            "plivo" => Box::new(Plivo),
            "vonage" => Box::new(Vonage),
            other => panic!("no provider {other}"),
        };
        let mut secret = ProviderSecret::new([v["key"].as_str().unwrap()]);
        if let Some(options) = v.get("option").and_then(Value::as_object) {
            secret.options = options.clone();
        }
        let now =
            DateTime::from_timestamp(v.get("now").and_then(Value::as_i64).unwrap_or(0), 0).unwrap();
        let label = format!("{} {} {}", v["provider"], v["method"], v["url"]);
        assert_eq!(
            provider.verify(&request(v, false), &secret, now, 300),
            Ok(()),
            "SDK signature refused: {label}"
        );
        assert!(
            provider
                .verify(&request(v, true), &secret, now, 300)
                .is_err(),
            "tampered request accepted: {label}"
        );
    }
}
