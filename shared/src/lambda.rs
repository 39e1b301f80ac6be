//! The Lambda transport: API Gateway HTTP API (payload 2.0) and Function URL events in,
//! responses out, and the wiring of a channel function at cold start.
//!
//! The event is taken as it arrives rather than through `lambda_http::run`, whose body
//! conversion panics on broken base64: here a bad body is a 400 like any malformed input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;

use crate::error::GatewayError;
use crate::pipeline::{Incoming, Response};

/// Runs a channel function: reads its configuration once, builds its clients once (no network
/// call until the first request), and serves webhooks until the runtime stops it.
#[cfg(feature = "aws")]
pub async fn run() -> Result<(), lambda_http::lambda_runtime::Error> {
    use crate::aws::{self, DynamoStore, S3Blobs, SecretsManagerSource};
    use crate::pipeline::{Gateway, Ports, Settings};
    use crate::telemetry::{self, StdoutSink};
    use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
    use std::{convert::Infallible, sync::Arc};

    telemetry::init_logging();
    let config = crate::config::Config::from_env()?;
    let channel = config.channel;
    let providers = crate::channels::spec(channel).providers(&config.endpoints());
    let sdk = aws::sdk_config().await;
    let gateway = Arc::new(Gateway::new(
        channel,
        providers,
        Settings {
            public_base_url: config.public_base_url.clone(),
            max_body_bytes: config.max_body_bytes,
            signature_tolerance_secs: config.signature_tolerance_secs,
            claim_check_bytes: config.claim_check_bytes,
        },
        Ports {
            store: Arc::new(DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                &config.table_name,
                &config.outbox_table_name,
                config.retention_days,
            )),
            blobs: Arc::new(S3Blobs::new(
                S3Blobs::client(&sdk, config.s3_force_path_style),
                &config.bucket_name,
            )),
            secrets: Arc::new(SecretsManagerSource::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                &config.secret_id,
            )),
            metrics: Arc::new(StdoutSink),
            clock: Arc::new(chrono::Utc::now),
        },
    ));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
            let gateway = Arc::clone(&gateway);
            async move { Ok::<_, Infallible>(to_event(gateway.handle(incoming(event.payload)).await)) }
        },
    ))
    .await
}

/// The transport-neutral request of an HTTP API / Function URL event.
pub fn incoming(event: ApiGatewayV2httpRequest) -> Incoming {
    let body = match event.body {
        None => Ok(Bytes::new()),
        Some(text) if event.is_base64_encoded => STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|_| GatewayError::InvalidBase64),
        Some(text) => Ok(Bytes::from(text)),
    };
    Incoming {
        method: event.request_context.http.method,
        path: event
            .raw_path
            .or(event.request_context.http.path)
            .unwrap_or_default(),
        raw_query: event.raw_query_string.unwrap_or_default(),
        headers: event.headers,
        body,
    }
}

/// The HTTP API response event of a pipeline response.
pub fn to_event(response: Response) -> ApiGatewayV2httpResponse {
    let mut event = ApiGatewayV2httpResponse::default();
    event.status_code = i64::from(response.status.as_u16());
    if let Ok(value) = response.content_type.parse() {
        event.headers.insert(http::header::CONTENT_TYPE, value);
    }
    for (name, value) in response.headers {
        if let Ok(value) = value.parse() {
            event.headers.insert(name, value);
        }
    }
    event.body = Some(Body::Text(response.body));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: serde_json::Value) -> ApiGatewayV2httpRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn decodes_base64_bodies_and_flags_broken_ones() {
        let base = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/sms/twilio",
            "rawQueryString": "a=1", "headers": {"content-type": "text/plain"},
            "requestContext": {"http": {"method": "POST", "path": "/sms/twilio"}},
            "isBase64Encoded": true, "body": "aGVsbG8="
        });
        let ok = incoming(event(base.clone()));
        assert_eq!(ok.body.unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(
            (ok.path.as_str(), ok.raw_query.as_str()),
            ("/sms/twilio", "a=1")
        );

        let mut broken = base;
        broken["body"] = "%%%not base64".into();
        assert!(matches!(
            incoming(event(broken)).body,
            Err(GatewayError::InvalidBase64)
        ));
    }
}
