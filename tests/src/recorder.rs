//! A recording proxy in front of the local AWS services: one per served function, so every
//! AWS API call each function makes is written down (service, action, resource) while the
//! tests drive it. `infra/tests/permissions.py` then checks each call against that function's
//! role in both templates: the local emulators do not enforce IAM, this does.
//!
//! DynamoDB, SQS and Secrets Manager speak JSON with the action in `X-Amz-Target` and the
//! resource in the body; S3 speaks REST (path-style here: `/<bucket>/<key>`). Requests are
//! forwarded as they came (the emulators do not check signatures), DynamoDB's to DynamoDB
//! Local, the others to moto.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Where a recorder forwards and what it writes.
pub struct Recorder {
    pub function: String,
    pub dynamodb: String,
    pub moto: String,
    pub log: Arc<Mutex<std::fs::File>>,
    pub client: reqwest::Client,
}

/// What one AWS API call is authorised as: `service:Action` and what it acts on. A DynamoDB
/// transaction is authorised as the actions of its items (IAM has no action of its own for
/// `TransactWriteItems`), one per item.
pub fn calls_of(
    method: &str,
    path: &str,
    target: Option<&str>,
    body: &[u8],
) -> Vec<(String, String, String)> {
    if target == Some("DynamoDB_20120810.TransactWriteItems") {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let items = json["TransactItems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return items
            .iter()
            .filter_map(|item| item.as_object()?.iter().next())
            .map(|(kind, op)| {
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    _ => "ConditionCheckItem",
                };
                let table = op["TableName"].as_str().unwrap_or_default();
                ("dynamodb".into(), action.into(), format!("table:{table}"))
            })
            .collect();
    }
    vec![call_of(method, path, target, body)]
}

/// One AWS API call: `service:Action` and what it acted on.
pub fn call_of(
    method: &str,
    path: &str,
    target: Option<&str>,
    body: &[u8],
) -> (String, String, String) {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| json[name].as_str().unwrap_or_default().to_string();
    match target.and_then(|t| t.split_once('.')) {
        // The stream API names a stream or a shard iterator, never a table: the only stream
        // is the outbox's.
        Some((prefix, action)) if prefix.starts_with("DynamoDBStreams") => {
            ("dynamodb".into(), action.into(), "stream:outbox".into())
        }
        Some((prefix, action)) if prefix.starts_with("DynamoDB") => {
            let resource = match json["IndexName"].as_str() {
                Some(index) => format!("table:{}/index/{index}", field("TableName")),
                None => format!("table:{}", field("TableName")),
            };
            ("dynamodb".into(), action.into(), resource)
        }
        Some(("AmazonSQS", action)) => (
            "sqs".into(),
            action.into(),
            format!("queue:{}", field("QueueUrl")),
        ),
        Some(("secretsmanager", action)) => (
            "secretsmanager".into(),
            action.into(),
            format!("secret:{}", field("SecretId")),
        ),
        Some((service, action)) => (service.to_ascii_lowercase(), action.into(), String::new()),
        None => {
            // S3, path-style: the bucket then the key.
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            let path = path.trim_start_matches('/');
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            if method == "GET" && key.is_empty() {
                // A listing: what it lists is the prefix (IAM's `s3:prefix`).
                let prefix = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|(name, _)| name == "prefix")
                    .map(|(_, value)| value)
                    .unwrap_or_default();
                return (
                    "s3".into(),
                    "ListBucket".into(),
                    format!("listing:{bucket}/{prefix}"),
                );
            }
            let action = match (method, key.is_empty()) {
                ("PUT", false) => "PutObject",
                ("GET", false) => "GetObject",
                ("HEAD", false) => "HeadObject",
                ("DELETE", false) => "DeleteObject",
                ("PUT", true) => "CreateBucket",
                (other, _) => other,
            };
            ("s3".into(), action.into(), format!("object:{bucket}/{key}"))
        }
    }
}

impl Recorder {
    async fn forward(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await?.to_bytes();
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let calls = calls_of(parts.method.as_str(), &path, target.as_deref(), &body);
        let upstream = if calls
            .first()
            .is_some_and(|(service, ..)| service == "dynamodb")
        {
            &self.dynamodb
        } else {
            &self.moto
        };
        let mut forwarded = self
            .client
            .request(parts.method.clone(), format!("{upstream}{path}"))
            .body(body);
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "transfer-encoding" | "connection"
            ) {
                forwarded = forwarded.header(name, value);
            }
        }
        let (status, headers, bytes) = match forwarded.send().await {
            Ok(r) => {
                let status = r.status();
                let headers = r.headers().clone();
                (status, headers, r.bytes().await.unwrap_or_default())
            }
            Err(_) => (
                http::StatusCode::BAD_GATEWAY,
                http::HeaderMap::new(),
                Bytes::new(),
            ),
        };
        let mut lines = String::new();
        for (service, action, resource) in calls {
            let line = json!({
                "function": self.function, "service": service, "action": action,
                "resource": resource, "status": status.as_u16(),
            });
            lines.push_str(&format!("{line}\n"));
        }
        // One write per request: the proxies of all functions append to one file.
        let _ = self.log.lock().unwrap().write_all(lines.as_bytes());
        let mut response = Response::builder().status(status);
        for (name, value) in &headers {
            if !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                response = response.header(name, value);
            }
        }
        Ok(response.body(Full::new(bytes)).expect("a response"))
    }
}

/// Serves the recorder on `listener` until the task or process ends.
pub async fn serve_on(recorder: Recorder, listener: TcpListener) -> std::io::Result<()> {
    let recorder = Arc::new(recorder);
    loop {
        let (stream, _) = listener.accept().await?;
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| recorder.clone().forward(req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::call_of;

    #[test]
    fn calls_are_named_as_iam_names_them() {
        let body = br#"{"TableName":"served-messages","Key":{}}"#;
        assert_eq!(
            call_of("POST", "/", Some("DynamoDB_20120810.GetItem"), body),
            (
                "dynamodb".into(),
                "GetItem".into(),
                "table:served-messages".into()
            )
        );
        assert_eq!(
            call_of(
                "POST",
                "/",
                Some("AmazonSQS.SendMessage"),
                br#"{"QueueUrl":"http://q/1/served-sms"}"#
            )
            .1,
            "SendMessage"
        );
        assert_eq!(
            call_of(
                "PUT",
                "/served-blobs/voice/messages/m.json?x-id=PutObject",
                None,
                b""
            ),
            (
                "s3".into(),
                "PutObject".into(),
                "object:served-blobs/voice/messages/m.json".into()
            )
        );
        assert_eq!(
            call_of(
                "GET",
                "/served-blobs?list-type=2&max-keys=100&prefix=sms%2Fintake%2F",
                None,
                b""
            ),
            (
                "s3".into(),
                "ListBucket".into(),
                "listing:served-blobs/sms/intake/".into()
            )
        );
    }
}
