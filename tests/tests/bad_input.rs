//! Thousands of malformed requests through every served channel function: each answered with
//! a 4xx, nothing stored or queued, and the function still serving valid requests afterwards.
//! Needs the served functions (scripts/test.sh starts them); the mix is seeded, so a failure
//! reproduces.

use gateway_tests::fixtures::{self, Sample, all_events};
use gateway_tests::{local, send};

const PER_CHANNEL: usize = 500;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by scripts/test.sh"))
}

/// xorshift64*: a small seeded generator, so every run sends the same requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// One malformed request: method, provider path, content type, extra header, body.
struct Bad {
    what: &'static str,
    method: reqwest::Method,
    provider: String,
    content_type: &'static str,
    header: Option<(String, String)>,
    body: Vec<u8>,
}

fn malformed(rng: &mut Rng, samples: &[Sample]) -> Bad {
    let sample = &samples[rng.below(samples.len())];
    let provider = sample.provider.to_string();
    let body = sample.body();
    // Random bytes go as octet-stream: the local emulator itself answers 500 to a body it is
    // told is JSON but is not UTF-8, before the function sees it.
    let bad = |what, content_type, body| Bad {
        what,
        method: reqwest::Method::POST,
        provider: provider.clone(),
        content_type,
        header: None,
        body,
    };
    match rng.below(8) {
        0 => {
            let len = rng.below(4096);
            bad("random bytes", "application/octet-stream", rng.bytes(len))
        }
        1 => {
            let cut = rng.below(body.len().max(1));
            let content_type = if sample.body().is_ascii() {
                "application/json"
            } else {
                "application/octet-stream"
            };
            bad(
                "truncated sample without its signature",
                content_type,
                body[..cut].to_vec(),
            )
        }
        2 => bad(
            "form garbage",
            "application/x-www-form-urlencoded",
            b"%%%=&&==%zz&a=%FF".to_vec(),
        ),
        3 => bad(
            "multipart without a boundary",
            "multipart/form-data",
            b"--x\r\nContent-Disposition: form-data\r\n\r\n".to_vec(),
        ),
        4 => Bad {
            header: Some((
                "x-padding".into(),
                "a".repeat(8 * 1024 + rng.below(8 * 1024)),
            )),
            ..bad("huge header", "application/json", b"{}".to_vec())
        },
        5 => bad(
            "oversize body",
            "application/octet-stream",
            vec![b'x'; 1024 * 1024 + 1 + rng.below(1024)],
        ),
        6 => Bad {
            method: [
                reqwest::Method::DELETE,
                reqwest::Method::PATCH,
                reqwest::Method::OPTIONS,
            ][rng.below(3)]
            .clone(),
            ..bad("wrong method", "application/json", b"{}".to_vec())
        },
        _ => Bad {
            provider: format!("no-such-provider-{}", rng.below(1000)),
            ..bad("unknown provider", "application/json", b"{}".to_vec())
        },
    }
}

/// Requests whose signature is valid but whose payload is not what the provider sends.
fn signed_nonsense(now: i64) -> Vec<(Sample, &'static str)> {
    let slack = fixtures::slack_request(
        "nonsense",
        fixtures::find(&fixtures::chat_events(now), "slack", "dm").expect,
        &serde_json::json!({ "type": "event_callback", "event_id": 42, "event": "not an object" }),
        now,
        vec![],
    );
    let mut retell = fixtures::find(&fixtures::voice_events(now), "retell", "call-analyzed");
    let body =
        serde_json::json!({ "event": "call_analyzed", "call": { "call_id": 7 } }).to_string();
    retell.event["body"] = serde_json::json!(body);
    retell.event["headers"]["x-retell-signature"] = serde_json::json!(fixtures::retell_signature(
        fixtures::RETELL_API_KEY,
        body.as_bytes(),
        now * 1000
    ));
    let mut postmark = fixtures::find(
        &fixtures::email_events(now, fixtures::COMMITTED_STANDIN_URL),
        "postmark",
        "inbound-reply",
    );
    postmark.event["body"] = serde_json::json!(
        r#"{"FromFull":{"Email":"not an address"},"Attachments":[{"Content":"%%%"}]}"#
    );
    vec![(slack, "chat"), (retell, "voice"), (postmark, "email")]
}

#[tokio::test]
async fn malformed_requests_get_4xx_store_nothing_and_the_functions_keep_serving() {
    let sdk = local::sdk().await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp();
    let samples = all_events(now);
    let mut rng = Rng(0x5EED_0000_0000_0001);
    let messages = |items: Vec<std::collections::HashMap<String, _>>| {
        items.iter().filter(|i| i.contains_key("message")).count()
    };
    let stored_before = messages(local::scan(&sdk, &var("GATEWAY_TABLE")).await.unwrap());
    let mut sent = 0;
    for channel in fixtures::CHANNELS {
        let upper = channel.to_uppercase();
        let base = var(&format!("GATEWAY_{upper}_URL"));
        let queue_url = var(&format!("GATEWAY_{upper}_QUEUE_URL"));
        local::drain_served(&sdk, &queue_url).await.unwrap();
        let own: Vec<Sample> = samples
            .iter()
            .filter(|s| s.channel == channel)
            .cloned()
            .collect();
        for _ in 0..PER_CHANNEL {
            let bad = malformed(&mut rng, &own);
            let mut request = client
                .request(bad.method.clone(), format!("{base}/{}", bad.provider))
                .header("content-type", bad.content_type)
                .body(bad.body);
            if let Some((name, value)) = bad.header {
                request = request.header(name, value);
            }
            let status = request.send().await.unwrap().status().as_u16();
            assert!(
                (400..500).contains(&status),
                "{channel}/{}: {} answered {status}",
                bad.provider,
                bad.what
            );
            sent += 1;
        }
        for (sample, of) in signed_nonsense(now) {
            if of == channel {
                let (status, body) = send(&client, &base, &sample).await.unwrap();
                assert!(
                    (400..500).contains(&status),
                    "{channel}: signed nonsense answered {status} {body}"
                );
                sent += 1;
            }
        }
        assert!(
            local::drain_served(&sdk, &queue_url)
                .await
                .unwrap()
                .is_empty(),
            "{channel}: nothing queued"
        );
        // Still serving: a new valid message is stored and queued.
        let valid = fixtures::fresh_sample(channel, now, rng.below(1_000_000) as u32);
        let (status, body) = send(&client, &base, &valid).await.unwrap();
        assert_eq!(status, 200, "{channel}: {body}");
        assert_eq!(
            local::drain_served(&sdk, &queue_url).await.unwrap().len(),
            1,
            "{channel}"
        );
    }
    assert!(sent >= fixtures::CHANNELS.len() * PER_CHANNEL);
    let new_messages = messages(local::scan(&sdk, &var("GATEWAY_TABLE")).await.unwrap())
        .saturating_sub(stored_before);
    assert_eq!(
        new_messages,
        fixtures::CHANNELS.len(),
        "only the valid requests were stored"
    );
}
