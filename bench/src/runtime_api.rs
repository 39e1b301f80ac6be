//! A local Lambda Runtime API (the `2018-06-01` interface a function's runtime client polls),
//! enough to start a function, time its first poll and hand it invocations.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";

struct State {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>,
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<String>>,
}

/// One emulator, for one function process.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<State>,
    send: mpsc::UnboundedSender<(String, Value)>,
    next_id: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (send, events) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            events: tokio::sync::Mutex::new(events),
            waiting: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(None),
            polled: Notify::new(),
            init_error: Mutex::new(None),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            addr,
            state,
            send,
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    /// Waits for the function's first poll for an invocation and returns when it came.
    pub async fn first_poll(&self) -> Result<Instant, String> {
        loop {
            let polled = self.state.polled.notified();
            if let Some(at) = *self.state.first_poll.lock().unwrap() {
                return Ok(at);
            }
            if let Some(error) = self.state.init_error.lock().unwrap().clone() {
                return Err(error);
            }
            polled.await;
        }
    }

    /// Invokes the function with `event` and waits for its response (or its error).
    pub async fn invoke(&self, event: Value) -> Result<Value, String> {
        let id = format!(
            "bench-{}",
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().unwrap().insert(id.clone(), tx);
        self.send
            .send((id, event))
            .map_err(|_| "the emulator stopped".to_string())?;
        rx.await.map_err(|_| "no response".to_string())?
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && path == NEXT {
        state
            .first_poll
            .lock()
            .unwrap()
            .get_or_insert_with(Instant::now);
        state.polled.notify_waiters();
        let Some((id, event)) = state.events.lock().await.recv().await else {
            return Ok(reply(StatusCode::GONE, ""));
        };
        let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
        let mut response = reply(StatusCode::OK, event.to_string());
        let headers = response.headers_mut();
        headers.insert("lambda-runtime-aws-request-id", id.parse().expect("ascii"));
        headers.insert("lambda-runtime-deadline-ms", deadline.into());
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:000000000000:function:bench"
                .parse()
                .expect("ascii"),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000"
                .parse()
                .expect("ascii"),
        );
        return Ok(response);
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "")),
    };
    if path == "/2018-06-01/runtime/init/error" {
        *state.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
        state.polled.notify_waiters();
        return Ok(reply(StatusCode::ACCEPTED, ""));
    }
    if let Some(rest) = path.strip_prefix(INVOCATION) {
        let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
        let result = match kind {
            "response" => serde_json::from_slice(&body).map_err(|e| e.to_string()),
            _ => Err(String::from_utf8_lossy(&body).into_owned()),
        };
        if let Some(waiter) = state.waiting.lock().unwrap().remove(id) {
            let _ = waiter.send(result);
        }
        return Ok(reply(StatusCode::ACCEPTED, ""));
    }
    Ok(reply(StatusCode::NOT_FOUND, ""))
}
