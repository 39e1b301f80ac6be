//! The SMS function binary as deployed, served by `cargo lambda watch` on the local services,
//! driven with real signed HTTP requests. `scripts/test.sh` starts everything and sets:
//! `GATEWAY_SMS_URL`, `GATEWAY_TABLE`, `GATEWAY_SMS_QUEUE_URL`, `GATEWAY_FUNCTIONS_LOG`.

use gateway_tests::fixtures::{self, sms_events};
use gateway_tests::{local, schema_validator, send};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the served tests with scripts/test.sh, which serves the functions")
    })
}

/// One test, in phases: they share the function, its queue and its log, and the samples'
/// message ids are deterministic, so they must not run concurrently.
#[tokio::test]
async fn the_served_sms_function() {
    answers_every_sample_and_queues_exactly_the_valid_ones().await;
    refuses_bad_requests_with_documented_statuses().await;
    logs_carry_no_message_text_numbers_or_secrets().await;
}

async fn answers_every_sample_and_queues_exactly_the_valid_ones() {
    let base = var("GATEWAY_SMS_URL");
    let queue_url = var("GATEWAY_SMS_QUEUE_URL");
    let table = var("GATEWAY_TABLE");
    let sdk = local::sdk().await;
    local::drain(&sdk, &queue_url).await.unwrap();
    let client = reqwest::Client::new();
    let samples = sms_events(chrono::Utc::now().timestamp());
    let mut expected = 0;
    for sample in &samples {
        let (status, body) = send(&client, &base, sample).await.unwrap();
        assert_eq!(
            status,
            sample.expect.status,
            "{}: {body}",
            sample.file_name()
        );
        expected += sample.expect.messages;
    }
    // Every valid sample again: provider retries change nothing.
    for sample in samples.iter().filter(|s| s.expect.status == 200) {
        assert_eq!(send(&client, &base, sample).await.unwrap().0, 200);
    }
    let queued = local::drain(&sdk, &queue_url).await.unwrap();
    assert_eq!(
        queued.len(),
        expected,
        "exactly one queued message per valid sample"
    );
    let validator = schema_validator();
    for q in &queued {
        assert!(
            validator.is_valid(&q.body),
            "queued message matches the JSON Schema"
        );
    }
    for provider in ["twilio", "vonage", "telnyx", "plivo"] {
        let want = samples
            .iter()
            .filter(|s| s.provider == provider)
            .map(|s| s.expect.messages)
            .sum::<usize>();
        let got = queued
            .iter()
            .filter(|q| q.attributes["provider"] == provider)
            .count();
        assert_eq!(got, want, "{provider}");
    }
    let items = local::scan(&sdk, &table).await.unwrap();
    assert!(items.len() >= expected, "stored in the table");
}

async fn refuses_bad_requests_with_documented_statuses() {
    let base = var("GATEWAY_SMS_URL");
    let client = reqwest::Client::new();
    let sample = sms_events(chrono::Utc::now().timestamp()).remove(1);
    let url = |provider: &str| format!("{base}/{provider}");
    let unknown = client.post(url("nosuch")).body("x").send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let wrong_method = client.delete(url("telnyx")).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    let oversize = client
        .post(url("twilio"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(oversize.status().as_u16(), 413);
    let unsigned = client
        .post(url(sample.provider))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(sample.body())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 401);
    // Binary garbage (declared as such: cargo-lambda's emulator itself answers 500 to a body
    // declared as JSON that is not UTF-8, before the function sees it).
    let garbage = client
        .post(url("telnyx"))
        .header("content-type", "application/octet-stream")
        .body(vec![0xff, 0xfe, 0x00, 0x7b])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 401);
    // Still serving after all of that.
    let (status, _) = send(&client, &base, &sample).await.unwrap();
    assert_eq!(status, 200);
}

async fn logs_carry_no_message_text_numbers_or_secrets() {
    let base = var("GATEWAY_SMS_URL");
    let client = reqwest::Client::new();
    for sample in sms_events(chrono::Utc::now().timestamp()) {
        send(&client, &base, &sample).await.unwrap();
    }
    // cargo-lambda relays the function's output with some delay.
    let mut log = String::new();
    for _ in 0..50 {
        let bytes = std::fs::read(var("GATEWAY_FUNCTIONS_LOG")).unwrap();
        log = String::from_utf8_lossy(&bytes).into_owned();
        if log.matches("webhook handled").count() >= 13 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        log.contains("webhook handled"),
        "the function's logs were captured"
    );
    assert!(
        log.contains("\"Accepted\""),
        "the metric lines were captured"
    );
    for needle in fixtures::never_logged() {
        assert!(
            !log.contains(&needle),
            "the function log contains {needle:?}"
        );
    }
}
