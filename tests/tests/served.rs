//! Each channel's function binary as deployed, served by `cargo lambda watch` on the local
//! services, driven with real signed HTTP requests. `scripts/test.sh` starts everything and
//! sets, per channel: `GATEWAY_<CHANNEL>_URL`, `GATEWAY_<CHANNEL>_QUEUE_URL`,
//! `GATEWAY_<CHANNEL>_LOG`, and `GATEWAY_TABLE`.

use gateway_tests::fixtures::{self, CHANNELS, Sample, all_events};
use gateway_tests::{local, schema_validator, send};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the served tests with scripts/test.sh, which serves the functions")
    })
}

fn channel_var(channel: &str, what: &str) -> String {
    var(&format!("GATEWAY_{}_{what}", channel.to_uppercase()))
}

fn samples(channel: &str) -> Vec<Sample> {
    all_events(chrono::Utc::now().timestamp())
        .into_iter()
        .filter(|s| s.channel == channel)
        .collect()
}

/// One test, in phases: they share each function, its queue and its log, and the samples'
/// message ids are deterministic, so they must not run concurrently.
#[tokio::test]
async fn the_served_channel_functions() {
    for channel in CHANNELS {
        answers_every_sample_and_queues_exactly_the_valid_ones(channel).await;
        refuses_bad_requests_with_documented_statuses(channel).await;
        logs_carry_no_message_text_numbers_or_secrets(channel).await;
    }
    an_oversize_transcript_arrives_as_a_claim_check().await;
    the_x_crc_cannot_sign_a_forged_direct_message().await;
    the_schedule_replays_a_request_kept_in_the_intake().await;
}

/// The function invoked as its schedule invokes it (`{"run": "schedule"}`, through the
/// Runtime API emulator's invoke endpoint) stores and queues a verified request kept under
/// its intake prefix, then removes it: the event dispatch and the S3 calls of the binary as
/// deployed (the recording proxy sees them for the permission check).
async fn the_schedule_replays_a_request_kept_in_the_intake() {
    use gateway_shared::intake::{self, Kept};
    use gateway_shared::schema::Channel;
    let base = channel_var("sms", "URL");
    let queue_url = channel_var("sms", "QUEUE_URL");
    let bucket = var("GATEWAY_BUCKET");
    let sdk = local::sdk().await;
    local::drain_served(&sdk, &queue_url).await.unwrap();
    let sample = fixtures::fresh_sample("sms", chrono::Utc::now().timestamp(), 7_001);
    let incoming = gateway_tests::incoming(&sample);
    let request = gateway_shared::request::WebhookRequest {
        provider: gateway_shared::request::provider_from_path(&incoming.path).to_string(),
        method: incoming.method,
        raw_query: incoming.raw_query,
        headers: incoming.headers,
        body: incoming.body.unwrap(),
        public_url: None,
    };
    let kept = Kept::of(&request, chrono::Utc::now());
    let key = intake::key(Channel::Sms, &kept);
    let s3 = local::s3(&sdk);
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .body(kept.to_bytes().into())
        .send()
        .await
        .unwrap();

    // http://127.0.0.1:PORT/lambda-url/gateway/sms → the emulator's invoke endpoint.
    let origin = base.split("/lambda-url/").next().unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{origin}/2015-03-31/functions/gateway/invocations"))
        .header("content-type", "application/json")
        .body(r#"{"run": "schedule"}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("the run's report");
    assert_eq!(answer["intake"]["replayed"], 1, "{answer}");
    assert_eq!(answer["intake"]["waiting"], 0, "{answer}");
    let queued = local::drain_served(&sdk, &queue_url).await.unwrap();
    assert_eq!(queued.len(), 1, "the kept request is stored and queued");
    assert_eq!(queued[0].body["provider"], "twilio");
    let left = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(intake::prefix(Channel::Sms))
        .send()
        .await
        .unwrap();
    assert!(left.contents().is_empty(), "the replayed object is removed");
}

/// The security review's forgery, end to end: ask the CRC check to sign a direct message's
/// body, then post that body with the answer as its signature. Nothing is answered, nothing
/// stored, nothing queued.
async fn the_x_crc_cannot_sign_a_forged_direct_message() {
    let base = channel_var("social", "URL");
    let queue_url = channel_var("social", "QUEUE_URL");
    let sdk = local::sdk().await;
    local::drain_served(&sdk, &queue_url).await.unwrap();
    let client = reqwest::Client::new();
    let forged = fixtures::dm_body_for_crc();
    let crc = client
        .get(format!("{base}/x"))
        .query(&[
            ("crc_token", forged.as_str()),
            ("nonce", "MTc5NTQzNTIwMDAwMA"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(crc.status().as_u16(), 401);
    let answer: serde_json::Value = serde_json::from_str(&crc.text().await.unwrap()).unwrap();
    assert!(answer.get("response_token").is_none(), "{answer}");
    let post = client
        .post(format!("{base}/x"))
        .header("content-type", "application/json")
        .header(
            "x-twitter-webhooks-signature",
            answer["response_token"].as_str().unwrap_or("sha256="),
        )
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 401);
    assert!(
        local::drain_served(&sdk, &queue_url)
            .await
            .unwrap()
            .is_empty(),
        "nothing forged is queued"
    );
}

async fn an_oversize_transcript_arrives_as_a_claim_check() {
    let base = channel_var("voice", "URL");
    let queue_url = channel_var("voice", "QUEUE_URL");
    let sdk = local::sdk().await;
    local::drain_served(&sdk, &queue_url).await.unwrap();
    let sample = fixtures::retell_long_call(chrono::Utc::now().timestamp(), 3_000);
    let (status, body) = send(&reqwest::Client::new(), &base, &sample).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let queued = local::drain_served(&sdk, &queue_url).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].attributes["claim_check"], "s3");
    let key = queued[0].body["claim_check"]["object"]["key"]
        .as_str()
        .unwrap();
    let object = local::get_object(&sdk, &var("GATEWAY_BUCKET"), key)
        .await
        .expect("the served function wrote the whole message to S3");
    let whole: serde_json::Value = serde_json::from_slice(&object).unwrap();
    assert_eq!(whole["id"], queued[0].body["id"]);
    assert_eq!(
        whole["transcript"]["segments"].as_array().unwrap().len(),
        3_000
    );
}

async fn answers_every_sample_and_queues_exactly_the_valid_ones(channel: &str) {
    let base = channel_var(channel, "URL");
    let queue_url = channel_var(channel, "QUEUE_URL");
    let sdk = local::sdk().await;
    local::drain_served(&sdk, &queue_url).await.unwrap();
    let client = reqwest::Client::new();
    let samples = samples(channel);
    let mut expected = 0;
    for sample in &samples {
        let (status, body) = send(&client, &base, sample).await.unwrap();
        let label = format!("{channel}/{}", sample.file_name());
        assert_eq!(status, sample.expect.status, "{label}: {body}");
        if let Some(want) = &sample.expect.body {
            assert_eq!(&body, want, "{label}: the handshake answer");
        }
        expected += sample.expect.messages;
    }
    // Every valid sample again: provider retries change nothing.
    for sample in samples.iter().filter(|s| s.expect.messages > 0) {
        assert_eq!(send(&client, &base, sample).await.unwrap().0, 200);
    }
    let queued = local::drain_served(&sdk, &queue_url).await.unwrap();
    assert_eq!(
        queued.len(),
        expected,
        "{channel}: exactly one queued message per valid message"
    );
    let validator = schema_validator();
    for q in &queued {
        assert!(
            validator.is_valid(&q.body),
            "queued message matches the JSON Schema"
        );
        assert_eq!(q.attributes["channel"], channel);
    }
    let providers: std::collections::BTreeSet<_> = samples.iter().map(|s| s.provider).collect();
    for provider in providers {
        let want: usize = samples
            .iter()
            .filter(|s| s.provider == provider)
            .map(|s| s.expect.messages)
            .sum();
        let got = queued
            .iter()
            .filter(|q| q.attributes["provider"] == provider)
            .count();
        assert_eq!(got, want, "{channel}/{provider}");
    }
    // The table is shared with other tests of the served functions: look for these ids.
    let ids: std::collections::HashSet<&str> = queued
        .iter()
        .filter_map(|q| q.body["id"].as_str())
        .collect();
    assert_eq!(ids.len(), expected, "{channel}: distinct ids");
    let items = local::scan(&sdk, &var("GATEWAY_TABLE")).await.unwrap();
    let stored = items
        .iter()
        .filter(|i| {
            i.get("id")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|id| ids.contains(id.as_str()))
        })
        .count();
    assert_eq!(stored, expected, "{channel}: stored in the table once each");
}

/// Providers whose proof travels in the body (Mailgun's signature fields, LiveChat's secret,
/// Deepgram's callback secret, SNS's signature): their bodies stay valid without the headers.
const BODY_AUTHENTICATED: [&str; 4] = ["mailgun", "livechat", "deepgram", "ses"];

async fn refuses_bad_requests_with_documented_statuses(channel: &str) {
    let base = channel_var(channel, "URL");
    let client = reqwest::Client::new();
    let sample = samples(channel)
        .into_iter()
        .find(|s| s.expect.messages > 0 && !BODY_AUTHENTICATED.contains(&s.provider))
        .unwrap();
    let url = |provider: &str| format!("{base}/{provider}");
    let unknown = client.post(url("nosuch")).body("x").send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let wrong_method = client.delete(url(sample.provider)).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    let oversize = client
        .post(url(sample.provider))
        .header("content-type", "application/json")
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
        .post(url(sample.provider))
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

async fn logs_carry_no_message_text_numbers_or_secrets(channel: &str) {
    let handled = samples(channel).len();
    // cargo-lambda relays the function's output with some delay.
    let mut log = String::new();
    for _ in 0..50 {
        let bytes = std::fs::read(channel_var(channel, "LOG")).unwrap();
        log = String::from_utf8_lossy(&bytes).into_owned();
        if log.matches("\"webhook ").count() >= handled {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        log.matches("\"webhook ").count() >= handled,
        "{channel}: the function's logs were captured"
    );
    assert!(
        log.contains("\"Accepted\""),
        "{channel}: the metric lines were captured"
    );
    for needle in fixtures::never_logged() {
        assert!(
            !log.contains(&needle),
            "the {channel} function log contains {needle:?}"
        );
    }
}
