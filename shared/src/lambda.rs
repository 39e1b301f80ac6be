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
    use std::sync::Arc;

    telemetry::init_logging();
    let config = crate::config::Config::from_env()?;
    let channel = config.channel;
    let spec = crate::channels::spec(channel);
    if spec.keeps(crate::channels::Keeps::Parts) && config.parts_table_name.is_none() {
        return Err(crate::config::ConfigError::Missing("PARTS_TABLE_NAME").into());
    }
    let providers = spec.providers(&config.endpoints());
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
            store: Arc::new(
                DynamoStore::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    &config.table_name,
                    &config.outbox_table_name,
                    config.retention_days,
                )
                .with_parts_table(config.parts_table_name.clone()),
            ),
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
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let gateway = Arc::clone(&gateway);
        async move {
            match event.payload {
                Event::Http(request) => {
                    let response = gateway.handle(incoming(*request)).await;
                    Ok(Answer::Http(Box::new(to_event(response))))
                }
                Event::Schedule(_) => {
                    let until = run_until(event.context.deadline);
                    let report = gateway.scheduled(until).await?;
                    Ok::<_, lambda_runtime::Error>(Answer::Schedule(report))
                }
            }
        }
    }))
    .await
}

/// What invokes a channel function: a webhook through the HTTP API, or its schedule, every
/// minute (`{"run": "schedule"}`: the replay of the requests kept while the store was down).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum Event {
    Schedule(ScheduleEvent),
    Http(Box<ApiGatewayV2httpRequest>),
}

/// The schedule's constant input; nothing else matches it (an HTTP event has other fields).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEvent {
    pub run: Run,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Run {
    Schedule,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum Answer {
    Http(Box<ApiGatewayV2httpResponse>),
    Schedule(crate::pipeline::ScheduleReport),
}

/// When a scheduled run stops: two seconds before the invocation's deadline (milliseconds
/// since the epoch), so it ends with its report rather than a timeout. Without a deadline
/// (an emulator that sets none), eight seconds, as under the default ten-second timeout.
pub fn run_until(deadline_ms: u64) -> std::time::Instant {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let left = match deadline_ms.checked_sub(now_ms) {
        Some(left) if deadline_ms > 0 => std::time::Duration::from_millis(left),
        _ => std::time::Duration::from_secs(10),
    };
    std::time::Instant::now() + left.saturating_sub(std::time::Duration::from_secs(2))
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
    fn the_schedule_is_its_own_event_and_everything_else_is_a_webhook() {
        let schedule: Event = serde_json::from_str(r#"{"run": "schedule"}"#).unwrap();
        assert!(matches!(schedule, Event::Schedule(_)));
        let http: Event = serde_json::from_value(serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/sms/twilio",
            "requestContext": {"http": {"method": "POST", "path": "/sms/twilio"}},
            "isBase64Encoded": false, "body": "{\"run\": \"schedule\"}"
        }))
        .unwrap();
        assert!(matches!(http, Event::Http(_)));
        // A webhook body can never be the schedule's event: only the whole invocation is.
        let other: Result<Event, _> = serde_json::from_str(r#"{"run": "all"}"#);
        assert!(!matches!(other, Ok(Event::Schedule(_))));
    }

    #[test]
    fn a_scheduled_run_ends_before_its_deadline_and_has_time_without_one() {
        let now = std::time::Instant::now();
        let in_five_secs = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap() + 5_000;
        let until = run_until(in_five_secs);
        assert!(until > now + std::time::Duration::from_millis(2_500));
        assert!(until <= now + std::time::Duration::from_millis(3_100));
        let without = run_until(0);
        assert!(without > now + std::time::Duration::from_secs(7));
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
