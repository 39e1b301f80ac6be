//! Stand-ins for the provider endpoints the functions call back, on loopback, so those calls
//! run over real HTTP in tests and the local run:
//! - AssemblyAI's transcript API (`GET /v2/transcript/{id}`): the sample transcript for the
//!   right key, 401 for a wrong key, 500 for the failing id, 404 for anything else;
//! - SNS's signing certificate (`GET /sns/SimpleNotificationService-test.pem`, the test
//!   certificate) and subscription confirmation (`GET /sns/?Action=ConfirmSubscription…`).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::{
    ASSEMBLYAI_API_KEY, ASSEMBLYAI_FAILING_ID, ASSEMBLYAI_TRANSCRIPT_ID, SNS_TEST_CERT,
    assemblyai_transcript,
};

/// Subscription confirmations this process's stand-in has answered.
pub static CONFIRMATIONS: AtomicUsize = AtomicUsize::new(0);

/// Where the stand-ins are: `GATEWAY_STANDIN_URL` when a script started them (the served
/// functions were configured with it), else one started in this process.
pub fn url() -> String {
    std::env::var("GATEWAY_STANDIN_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| base_url().to_string())
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(answer(stream));
    }
}

/// The base URL of a stand-in started once per process, on its own thread (so it outlives
/// each test's runtime).
pub fn base_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port is free");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let addr: SocketAddr = std_listener.local_addr().expect("bound");
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async move {
                    serve(TcpListener::from_std(std_listener).expect("tokio listener")).await
                })
        });
        format!("http://{addr}")
    })
}

/// The transcript id of the genuine AssemblyAI webhook in tests/data/genuine.
const GENUINE_ASSEMBLYAI_ID: &str = "5552493-16d8-42d8-8feb-c2a16b56f6e8";

async fn answer(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let key = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.trim().to_string());
    if path == "/sns/SimpleNotificationService-test.pem" {
        return reply(
            &mut stream,
            "200 OK",
            "application/x-pem-file",
            SNS_TEST_CERT,
        )
        .await;
    }
    if path.starts_with("/sns/?Action=ConfirmSubscription") {
        CONFIRMATIONS.fetch_add(1, Ordering::SeqCst);
        let body = "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:123456789012:gateway-inbound-mail:confirmed</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>";
        return reply(&mut stream, "200 OK", "text/xml", body).await;
    }
    let (status, body) = match path.strip_prefix("/v2/transcript/") {
        _ if key.as_deref() != Some(ASSEMBLYAI_API_KEY) => (
            "401 Unauthorized",
            r#"{"error":"Invalid API key"}"#.to_string(),
        ),
        Some(ASSEMBLYAI_TRANSCRIPT_ID) => ("200 OK", assemblyai_transcript().to_string()),
        // The genuine webhook's transcript (tests/data/genuine): a captured API answer.
        Some(GENUINE_ASSEMBLYAI_ID) => (
            "200 OK",
            include_str!("../data/genuine/voice/assemblyai-webhook-completed.fetch.json")
                .to_string(),
        ),
        Some(ASSEMBLYAI_FAILING_ID) => (
            "500 Internal Server Error",
            r#"{"error":"Internal server error"}"#.to_string(),
        ),
        _ => (
            "404 Not Found",
            r#"{"error":"Transcript not found"}"#.to_string(),
        ),
    };
    reply(&mut stream, status, "application/json", &body).await;
}

async fn reply(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
