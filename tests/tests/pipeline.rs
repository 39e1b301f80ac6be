//! The pipeline's promises on in-memory adapters: every sample's answer and messages,
//! verification before parsing, fail-closed secrets, rotation, replay windows, error statuses,
//! deduplication, publication through the outbox (in order, quarantine, the sweep), and logs
//! free of personal data.
//! (The same promises against DynamoDB Local and moto: `local_services.rs`.)

use gateway_shared::blob::MemoryBlobs;
use gateway_shared::pipeline::Incoming;
use gateway_shared::schema::{Channel, DeliveryState, Kind, Message};
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::MemoryStore;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, Sample, find, sms_events};
use gateway_tests::{incoming, memory_gateway_for, schema_validator};
use http::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn committed_events_are_the_generated_samples() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
    let samples = fixtures::all_events_at(fixtures::COMMITTED_AT, fixtures::COMMITTED_STANDIN_URL);
    for channel in fixtures::CHANNELS {
        let mut files: Vec<String> = std::fs::read_dir(format!("{dir}/{channel}"))
            .expect("events/<channel> exists")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut expected: Vec<String> = samples
            .iter()
            .filter(|s| s.channel == channel)
            .map(Sample::file_name)
            .collect();
        expected.sort();
        assert_eq!(
            files, expected,
            "events/{channel} holds exactly the generated samples"
        );
        let secret: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/secrets/{channel}.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(secret, fixtures::channel_secret(channel));
    }
    for sample in &samples {
        let path = format!("{dir}/{}/{}", sample.channel, sample.file_name());
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            committed, sample.event,
            "{path} is stale: run `make generate`"
        );
    }
    let readme = std::fs::read_to_string(format!("{dir}/README.md")).unwrap();
    for documented in [
        fixtures::TWILIO_AUTH_TOKEN,
        fixtures::TWILIO_PREVIOUS_AUTH_TOKEN,
        fixtures::VONAGE_SIGNATURE_SECRET,
        fixtures::PLIVO_AUTH_TOKEN,
        &fixtures::telnyx_public_key(),
        std::str::from_utf8(&fixtures::TELNYX_SIGNING_SEED).unwrap(),
        fixtures::META_APP_SECRET,
        fixtures::META_VERIFY_TOKEN,
        fixtures::X_CONSUMER_SECRET,
        fixtures::LINE_CHANNEL_SECRET,
        fixtures::VIBER_AUTH_TOKEN,
        fixtures::TELEGRAM_SECRET_TOKEN,
        fixtures::SLACK_SIGNING_SECRET,
        fixtures::INTERCOM_CLIENT_SECRET,
        fixtures::ZENDESK_SIGNING_SECRET,
        fixtures::SUNSHINE_WEBHOOK_SECRET,
        fixtures::CRISP_HOOK_SECRET,
        fixtures::LIVECHAT_SECRET_KEY,
        fixtures::WEBCHAT_SECRET,
        fixtures::WEBCHAT_PREVIOUS_SECRET,
        fixtures::DEEPGRAM_BASIC_CREDENTIALS,
        fixtures::DEEPGRAM_CALLBACK_SECRET,
        fixtures::RETELL_API_KEY,
        fixtures::VAPI_SECRET,
        fixtures::ASSEMBLYAI_WEBHOOK_SECRET,
        fixtures::ASSEMBLYAI_API_KEY,
        fixtures::MAILGUN_SIGNING_KEY,
        fixtures::SENDGRID_BASIC_CREDENTIALS,
        &fixtures::sendgrid_public_key(),
        fixtures::POSTMARK_BASIC_CREDENTIALS,
        fixtures::SES_TOPIC_ARN,
    ] {
        assert!(
            readme.contains(documented),
            "events/README.md documents {documented}"
        );
    }
}

#[tokio::test]
async fn every_sample_of_every_channel_gets_its_answer_and_exactly_its_messages() {
    let validator = schema_validator();
    let samples = fixtures::all_events(now());
    let providers: std::collections::BTreeSet<_> =
        samples.iter().map(|s| (s.channel, s.provider)).collect();
    for (channel, provider) in &providers {
        let cases: Vec<_> = samples.iter().filter(|s| s.provider == *provider).collect();
        assert!(
            cases.iter().any(|s| s.case == "tampered"),
            "{provider} has a tampered sample"
        );
        assert!(
            cases
                .iter()
                .any(|s| s.expect.status == 200 && s.expect.messages > 0),
            "{provider} has a valid sample"
        );
        if *channel == "sms" {
            assert!(
                cases.iter().any(|s| s.case == "inbound-media"),
                "{provider} has a media sample"
            );
            assert!(
                cases.iter().any(|s| s.case.starts_with("status")),
                "{provider} has a status sample"
            );
        }
    }
    for sample in &samples {
        let g = memory_gateway_for(sample.channel.parse().unwrap());
        for earlier in fixtures::session_before(&samples, sample) {
            g.gateway.handle(incoming(earlier)).await;
        }
        let response = g.gateway.handle(incoming(sample)).await;
        let label = format!("{}/{}", sample.channel, sample.file_name());
        assert_eq!(
            response.status.as_u16(),
            sample.expect.status,
            "{label}: {}",
            response.body
        );
        if let Some(body) = &sample.expect.body {
            assert_eq!(&response.body, body, "{label}: the handshake answer");
        }
        let stored = g.store.messages();
        let queued = g.queued().await;
        assert_eq!(stored.len(), sample.expect.messages, "{label}: stored");
        assert_eq!(
            queued.len(),
            stored.len(),
            "{label}: queued what was stored"
        );
        for m in &queued {
            let doc = serde_json::to_value(m).unwrap();
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{label} does not match the JSON Schema: {errors:?}"
            );
            if let Some(kind) = sample.expect.kind {
                assert_eq!(m.kind.as_str(), kind, "{label}: kind");
            }
            assert_eq!(m.provider, sample.provider);
            assert_eq!(m.channel.as_str(), sample.channel);
        }
        if sample.expect.status == 401 {
            assert_eq!(
                response.body, r#"{"error":"unauthorized"}"#,
                "401 reveals nothing"
            );
        }
    }
}

fn handled(samples: &[Sample], provider: &str, case: &str) -> impl Future<Output = Message> {
    let sample = find(samples, provider, case);
    async move {
        let g = memory_gateway_for(Channel::Sms);
        let response = g.gateway.handle(incoming(&sample)).await;
        assert_eq!(
            response.status.as_u16(),
            200,
            "{provider}-{case}: {}",
            response.body
        );
        g.store.messages().pop().expect("one message")
    }
}

#[tokio::test]
async fn providers_normalise_into_one_shape() {
    let s = sms_events(now());
    let customer = fixtures::CUSTOMER_PHONE;
    let business = fixtures::BUSINESS_PHONE;
    for provider in ["twilio", "vonage", "telnyx", "plivo"] {
        let text = handled(&s, provider, "inbound-text").await;
        assert_eq!(
            text.text.as_deref(),
            Some(fixtures::SAMPLE_TEXT),
            "{provider}: text intact"
        );
        assert_eq!(
            text.customer.phone.as_deref(),
            Some(customer),
            "{provider}: E.164 customer"
        );
        assert_eq!(
            text.business.phone.as_deref(),
            Some(business),
            "{provider}: E.164 business"
        );
        assert_eq!(text.customer.key, format!("phone:{customer}"));
        assert_eq!(text.direction, gateway_shared::schema::Direction::Inbound);
        let status = handled(&s, provider, "status-delivered").await;
        assert_eq!(status.kind, Kind::Status);
        let update = status.status.as_ref().expect("status details");
        assert_eq!(
            update.state,
            DeliveryState::Delivered,
            "{provider}: delivered"
        );
        assert_eq!(
            status.customer.phone.as_deref(),
            Some(customer),
            "{provider}: recipient"
        );
        assert_eq!(
            status.conversation_id, text.conversation_id,
            "{provider}: the receipt belongs to the customer's conversation"
        );
        let media = handled(&s, provider, "inbound-media").await;
        assert!(!media.attachments.is_empty(), "{provider}: media attached");
        assert!(
            media
                .attachments
                .iter()
                .all(|a| a.url.as_deref().is_some_and(|u| u.starts_with("https://")))
        );
    }
    // One customer writing to one number through two providers is one conversation.
    assert_eq!(
        handled(&s, "twilio", "inbound-text").await.conversation_id,
        handled(&s, "vonage", "inbound-text").await.conversation_id
    );
    let twilio_media = handled(&s, "twilio", "inbound-media").await;
    let kinds: Vec<_> = twilio_media
        .attachments
        .iter()
        .map(|a| a.mime_type.clone().unwrap())
        .collect();
    assert_eq!(kinds, ["image/jpeg", "video/mp4"]);
    let telnyx_media = handled(&s, "telnyx", "inbound-media").await;
    assert_eq!(telnyx_media.attachments[0].size, Some(102_400));
    let legacy = handled(&s, "vonage", "sms-api-inbound-text").await;
    assert_eq!(legacy.text.as_deref(), Some(fixtures::SAMPLE_TEXT));
    assert!(legacy.sent_at.is_some(), "message-timestamp parsed");
}

#[tokio::test]
async fn a_retried_delivery_is_stored_and_queued_once() {
    let g = memory_gateway_for(Channel::Sms);
    let sample = find(&sms_events(now()), "twilio", "inbound-text");
    for _ in 0..3 {
        let response = g.gateway.handle(incoming(&sample)).await;
        assert_eq!(response.status.as_u16(), 200, "retries are acknowledged");
    }
    assert_eq!(g.store.messages().len(), 1);
    assert_eq!(g.queued().await.len(), 1);
    let lines = g.metrics.0.lock().unwrap().clone();
    // The request lines (the publisher's lines count other things).
    let duplicates: u64 = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["Duplicates"].as_u64())
        .sum();
    assert_eq!(duplicates, 2, "duplicates are counted");
}

/// A Telnyx request with `body`, signed correctly unless `bad_signature`.
fn telnyx_request(body: &[u8], bad_signature: bool, at: i64) -> Sample {
    let ts = at.to_string();
    let mut signature = fixtures::telnyx_signature(&ts, body);
    if bad_signature {
        signature = fixtures::telnyx_signature(&ts, b"something else");
    }
    Sample {
        channel: "sms",
        provider: "telnyx",
        case: "custom",
        expect: fixtures::Expect {
            status: 0,
            messages: 0,
            kind: None,
            body: None,
        },
        event: fixtures::http_event(
            "sms",
            "telnyx",
            "POST",
            "",
            &[
                ("content-type", "application/json".into()),
                ("telnyx-signature-ed25519", signature),
                ("telnyx-timestamp", ts),
            ],
            body,
            at,
        ),
    }
}

#[tokio::test]
async fn verification_runs_before_any_parsing() {
    let garbage = b"{\"data\": [this is not json";
    let g = memory_gateway_for(Channel::Sms);
    let unsigned = g
        .gateway
        .handle(incoming(&telnyx_request(garbage, true, now())))
        .await;
    assert_eq!(
        unsigned.status.as_u16(),
        401,
        "an unverified body is never parsed"
    );
    let signed = g
        .gateway
        .handle(incoming(&telnyx_request(garbage, false, now())))
        .await;
    assert_eq!(
        signed.status.as_u16(),
        400,
        "a verified but malformed body is a 400"
    );
    assert!(g.store.messages().is_empty());
}

#[tokio::test]
async fn a_recognised_event_with_nothing_to_store_is_acknowledged() {
    let body = json!({"data": {"event_type": "number_order.complete", "id": "e1", "payload": {"id": "o1"}}});
    let g = memory_gateway_for(Channel::Sms);
    let response = g
        .gateway
        .handle(incoming(&telnyx_request(
            body.to_string().as_bytes(),
            false,
            now(),
        )))
        .await;
    assert_eq!(response.status.as_u16(), 200);
    assert!(g.store.messages().is_empty() && g.queued().await.is_empty());
}

fn gateway_with_secrets(secrets: Value) -> (gateway_shared::pipeline::Gateway, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    let gateway = gateway_shared::pipeline::Gateway::new(
        Channel::Sms,
        gateway_tests::providers(Channel::Sms),
        gateway_tests::settings(Channel::Sms),
        gateway_shared::pipeline::Ports {
            store: store.clone(),
            blobs: Arc::new(gateway_shared::blob::MemoryBlobs::default()),
            secrets: Arc::new(StaticSecrets(
                ChannelSecrets::from_json(&secrets.to_string()).unwrap(),
            )),
            metrics: Arc::new(MemorySink::default()),
            clock: Arc::new(chrono::Utc::now),
        },
    );
    (gateway, store)
}

#[tokio::test]
async fn a_provider_without_a_secret_is_refused() {
    let mut secrets = fixtures::sms_secret();
    secrets.as_object_mut().unwrap().remove("plivo");
    secrets["telnyx"] = json!([]);
    let (gateway, store) = gateway_with_secrets(secrets);
    let samples = sms_events(now());
    for provider in ["plivo", "telnyx"] {
        let response = gateway
            .handle(incoming(&find(&samples, provider, "inbound-text")))
            .await;
        assert_eq!(response.status.as_u16(), 401, "{provider} fails closed");
    }
    let twilio = gateway
        .handle(incoming(&find(&samples, "twilio", "inbound-text")))
        .await;
    assert_eq!(
        twilio.status.as_u16(),
        200,
        "configured providers still work"
    );
    assert_eq!(store.messages().len(), 1);
}

#[tokio::test]
async fn the_previous_secret_is_accepted_during_a_rotation() {
    let mut sample = find(&sms_events(now()), "twilio", "inbound-text");
    let body = String::from_utf8(sample.body()).unwrap();
    let params: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
    let refs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = format!("{}/twilio", fixtures::SMS_PUBLIC_BASE_URL);
    sample.event["headers"]["x-twilio-signature"] = json!(fixtures::twilio_signature(
        fixtures::TWILIO_PREVIOUS_AUTH_TOKEN,
        &url,
        &refs
    ));
    let g = memory_gateway_for(Channel::Sms);
    assert_eq!(
        g.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );

    // Once the rotation is over, the old token no longer works.
    let mut secrets = fixtures::sms_secret();
    secrets["twilio"] = json!([fixtures::TWILIO_AUTH_TOKEN]);
    let (gateway, store) = gateway_with_secrets(secrets);
    assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 401);
    assert!(store.messages().is_empty());
}

#[tokio::test]
async fn stale_signed_timestamps_are_refused() {
    // Telnyx signs each attempt; Vonage retries for 24 hours, maybe with the first signature.
    for (provider, case, window) in [
        ("telnyx", "inbound-text", 300),
        ("vonage", "inbound-text", 25 * 3600),
        ("vonage", "sms-api-inbound-text", 25 * 3600),
    ] {
        let stale = sms_events(now() - window - 1);
        let fresh = sms_events(now() - window + 100);
        let g = memory_gateway_for(Channel::Sms);
        let old = g
            .gateway
            .handle(incoming(&find(&stale, provider, case)))
            .await;
        assert_eq!(old.status.as_u16(), 401, "{provider}-{case}: stale refused");
        let recent = g
            .gateway
            .handle(incoming(&find(&fresh, provider, case)))
            .await;
        assert_eq!(
            recent.status.as_u16(),
            200,
            "{provider}-{case}: within the window"
        );
    }
    let future = sms_events(now() + 301);
    let g = memory_gateway_for(Channel::Sms);
    let ahead = g
        .gateway
        .handle(incoming(&find(&future, "telnyx", "inbound-text")))
        .await;
    assert_eq!(
        ahead.status.as_u16(),
        401,
        "timestamps from the future are refused too"
    );
}

#[tokio::test]
async fn bad_requests_get_their_documented_status_and_store_nothing() {
    let g = memory_gateway_for(Channel::Sms);
    let base = find(&sms_events(now()), "twilio", "inbound-text");
    let mut unknown = incoming(&base);
    unknown.path = "/sms/nosuchprovider".into();
    let mut wrong_method = incoming(&find(&sms_events(now()), "telnyx", "inbound-text"));
    wrong_method.method = Method::PUT;
    let mut oversize = incoming(&base);
    oversize.body = Ok(vec![b'a'; 1024 * 1024 + 1].into());
    let mut broken = base.event.clone();
    broken["body"] = json!("%%% not base64 %%%");
    let broken = gateway_shared::lambda::incoming(serde_json::from_value(broken).unwrap());
    let mut no_signature = incoming(&base);
    no_signature.headers.remove("x-twilio-signature");
    let cases: Vec<(Incoming, u16, &str)> = vec![
        (unknown, 404, "unknown_provider"),
        (wrong_method, 405, "method_not_allowed"),
        (oversize, 413, "payload_too_large"),
        (broken, 400, "invalid_base64"),
        (no_signature, 401, "unauthorized"),
    ];
    for (request, status, code) in cases {
        let response = g.gateway.handle(request).await;
        assert_eq!(response.status.as_u16(), status, "{code}");
        assert_eq!(response.body, json!({ "error": code }).to_string());
        if status == 405 {
            assert_eq!(response.headers, [("allow", "POST".to_string())]);
        }
    }
    // A valid signature over a payload that is not Twilio's.
    let params = [("Foo", "bar")];
    let url = format!("{}/twilio", fixtures::SMS_PUBLIC_BASE_URL);
    let mut odd = base.clone();
    odd.event["body"] = json!(base64_form(&params));
    odd.event["headers"]["x-twilio-signature"] = json!(fixtures::twilio_signature(
        fixtures::TWILIO_AUTH_TOKEN,
        &url,
        &params
    ));
    let response = g.gateway.handle(incoming(&odd)).await;
    assert_eq!(response.status.as_u16(), 400, "{}", response.body);
    assert!(g.store.messages().is_empty() && g.queued().await.is_empty());
    let reasons: Vec<String> = g
        .metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "unknown_provider",
            "method_not_allowed",
            "payload_too_large",
            "invalid_base64",
            "signature_missing",
            "malformed_payload"
        ]
    );
}

fn base64_form(params: &[(&str, &str)]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(serde_urlencoded::to_string(params).unwrap())
}

#[tokio::test]
async fn a_queue_outage_holds_publication_in_order_and_nothing_is_sent_twice() {
    let g = memory_gateway_for(Channel::Sms);
    let samples = sms_events(now());
    g.queues.down.store(true, Ordering::SeqCst);
    // Two messages of one conversation (the same customer and number), then a third.
    for case in ["inbound-text", "inbound-media"] {
        let response = g
            .gateway
            .handle(incoming(&find(&samples, "twilio", case)))
            .await;
        assert_eq!(response.status.as_u16(), 200, "stored, so acknowledged");
    }
    assert_eq!(g.store.messages().len(), 2);
    assert!(g.queued().await.is_empty(), "the queue is down");
    assert!(g.queued().await.is_empty(), "and retried, still down");
    assert_eq!(g.store.outbox().len(), 2, "both wait in the outbox");
    g.queues.down.store(false, Ordering::SeqCst);
    let sent = g.queued().await;
    let stored: Vec<_> = {
        let mut by_arrival = g.store.stored();
        by_arrival.sort_by_key(|m| (m.message.received_at, m.position));
        by_arrival.into_iter().map(|m| m.message.id).collect()
    };
    assert_eq!(
        sent.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        stored,
        "published once each, in the order they were received"
    );
    assert!(g.store.outbox().is_empty(), "published records are removed");
    assert_eq!(g.queued().await.len(), 2, "nothing is sent again");
}

#[tokio::test]
async fn a_message_whose_send_fails_once_is_not_overtaken_by_the_next_of_its_conversation() {
    let g = memory_gateway_for(Channel::Sms);
    let samples = sms_events(now());
    let first = find(&samples, "twilio", "inbound-text");
    let second = find(&samples, "twilio", "inbound-media");
    let (a, b) = (
        gateway_tests::message_ids(&first).await.remove(0),
        gateway_tests::message_ids(&second).await.remove(0),
    );
    g.gateway.handle(incoming(&first)).await;
    g.gateway.handle(incoming(&second)).await;
    // The queue fails the first message's send once (a throttle, a timeout), the second's not.
    g.queues.flaky.lock().unwrap().insert(a.clone());
    let once: Vec<String> = g.queued().await.into_iter().map(|m| m.id).collect();
    assert!(
        once.is_empty(),
        "nothing after the failed one is sent: {once:?}"
    );
    let sent: Vec<String> = g.queued().await.into_iter().map(|m| m.id).collect();
    assert_eq!(sent, [a, b], "retried in order, each once");
}

#[tokio::test]
async fn a_message_the_queue_refuses_for_good_is_quarantined_and_blocks_nothing() {
    let g = memory_gateway_for(Channel::Sms);
    let samples = sms_events(now());
    let poison = find(&samples, "twilio", "inbound-text");
    let poison_ids = gateway_tests::message_ids(&poison).await;
    g.queues
        .refuse
        .lock()
        .unwrap()
        .extend(poison_ids.iter().cloned());
    for case in ["inbound-text", "inbound-media"] {
        g.gateway
            .handle(incoming(&find(&samples, "twilio", case)))
            .await;
    }
    g.gateway
        .handle(incoming(&find(&samples, "plivo", "inbound-text")))
        .await;
    let sent: Vec<String> = g.queued().await.into_iter().map(|m| m.id).collect();
    assert_eq!(sent.len(), 2, "the others are published: {sent:?}");
    assert!(!sent.contains(&poison_ids[0]));
    let outbox = g.store.outbox();
    assert_eq!(outbox.len(), 1, "the refused message is kept");
    assert_eq!(outbox[0].id, poison_ids[0]);
    assert!(outbox[0].quarantined.is_some(), "and marked quarantined");
    let lines = g.metrics.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("\"Quarantined\":1")),
        "quarantine is counted for the alarm"
    );
    // The sweep counts it every run and leaves it alone.
    let report = gateway_shared::outbox::sweep(
        g.store.as_ref(),
        g.queues.as_ref(),
        &g.metrics,
        chrono::Utc::now() + chrono::Duration::hours(1),
        chrono::Duration::minutes(15),
        100,
    )
    .await
    .unwrap();
    assert_eq!((report.quarantined, report.published), (1, 0));
}

#[tokio::test]
async fn the_sweep_publishes_only_what_the_stream_left_behind_long_enough() {
    let g = memory_gateway_for(Channel::Sms);
    let samples = sms_events(now());
    g.gateway
        .handle(incoming(&find(&samples, "twilio", "inbound-text")))
        .await;
    let sweep = |at: chrono::DateTime<chrono::Utc>| {
        gateway_shared::outbox::sweep(
            g.store.as_ref(),
            g.queues.as_ref(),
            &g.metrics,
            at,
            chrono::Duration::minutes(15),
            100,
        )
    };
    let young = sweep(chrono::Utc::now() + chrono::Duration::minutes(14))
        .await
        .unwrap();
    assert_eq!(
        (young.waiting, young.published, young.oldest_age_secs / 60),
        (1, 0, 14),
        "a record younger than the minimum age is the stream's"
    );
    let old = sweep(chrono::Utc::now() + chrono::Duration::minutes(16))
        .await
        .unwrap();
    assert_eq!((old.waiting, old.published), (1, 1));
    assert_eq!(g.queues.sent.lock().unwrap().len(), 1);
    assert!(g.store.outbox().is_empty());
}

/// A gateway on in-memory adapters whose clock runs `offset` seconds ahead of the real one.
fn gateway_with_clock(
    offset: Arc<AtomicI64>,
) -> (
    gateway_shared::pipeline::Gateway,
    Arc<MemoryStore>,
    Arc<MemoryBlobs>,
    MemorySink,
) {
    let store = Arc::new(MemoryStore::default());
    let blobs = Arc::new(MemoryBlobs::default());
    let metrics = MemorySink::default();
    let gateway = gateway_shared::pipeline::Gateway::new(
        Channel::Sms,
        gateway_tests::providers(Channel::Sms),
        gateway_tests::settings(Channel::Sms),
        gateway_shared::pipeline::Ports {
            store: store.clone(),
            blobs: blobs.clone(),
            secrets: Arc::new(StaticSecrets(
                ChannelSecrets::from_json(&fixtures::sms_secret().to_string()).unwrap(),
            )),
            metrics: Arc::new(metrics.clone()),
            clock: Arc::new(move || {
                chrono::Utc::now() + chrono::Duration::seconds(offset.load(Ordering::SeqCst))
            }),
        },
    );
    (gateway, store, blobs, metrics)
}

fn intake_keys(blobs: &MemoryBlobs) -> Vec<String> {
    let prefix = gateway_shared::intake::prefix(Channel::Sms);
    blobs
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&prefix))
        .collect()
}

fn replay_budget() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(30)
}

#[tokio::test]
async fn a_store_outage_keeps_verified_requests_and_the_replay_stores_them_in_arrival_order() {
    let offset = Arc::new(AtomicI64::new(0));
    let (gateway, store, blobs, metrics) = gateway_with_clock(offset.clone());
    let samples = sms_events(now());
    let sent: Vec<Sample> = ["telnyx", "twilio", "plivo", "vonage"]
        .iter()
        .map(|p| find(&samples, p, "inbound-text"))
        .collect();
    store.down.store(true, Ordering::SeqCst);
    for sample in &sent {
        let response = gateway.handle(incoming(sample)).await;
        assert_eq!(
            response.status.as_u16(),
            200,
            "{}: acknowledged, not a 503 the provider may never retry",
            sample.file_name()
        );
    }
    // A forged request is refused as always: only verified requests are kept.
    let mut forged = find(&samples, "twilio", "inbound-text");
    forged.event["headers"]["x-twilio-signature"] = json!("Zm9yZ2Vk");
    assert_eq!(gateway.handle(incoming(&forged)).await.status.as_u16(), 401);
    assert_eq!(
        intake_keys(&blobs).len(),
        sent.len(),
        "one object per kept request"
    );
    assert!(store.messages().is_empty());
    let kept_lines = metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("\"Kept\":1"))
        .count();
    assert_eq!(kept_lines, sent.len(), "each kept request is counted");

    // While the store is still down the replay stores nothing and removes nothing.
    let report = gateway.replay_intake(replay_budget()).await.unwrap();
    assert_eq!((report.replayed, report.waiting), (0, sent.len() as u32));

    // Two hours later, past every signature window: the replay verifies each request with the
    // time it was received, stores it with that time, and in the order the requests came.
    store.down.store(false, Ordering::SeqCst);
    offset.store(7200, Ordering::SeqCst);
    let report = gateway.replay_intake(replay_budget()).await.unwrap();
    assert_eq!(
        (report.replayed, report.refused, report.waiting),
        (sent.len() as u32, 0, 0)
    );
    assert!(
        intake_keys(&blobs).is_empty(),
        "replayed objects are removed"
    );
    let mut stored = store.stored();
    stored.sort_by_key(|m| m.message.received_at);
    let providers: Vec<&str> = stored.iter().map(|m| m.message.provider.as_str()).collect();
    assert_eq!(providers, ["telnyx", "twilio", "plivo", "vonage"]);
    assert!(
        stored
            .iter()
            .all(|m| m.message.received_at < chrono::Utc::now() + chrono::Duration::minutes(1)),
        "stored with the time they were received, not the replay's"
    );
    // The same Telnyx request handled fresh now would be stale: the replay's clock was the kept time.
    assert_eq!(
        gateway.handle(incoming(&sent[0])).await.status.as_u16(),
        401
    );
    // A second run finds nothing; its report says so (0, for the age alarm).
    let again = gateway.replay_intake(replay_budget()).await.unwrap();
    assert_eq!(again, gateway_shared::intake::ReplayReport::default());
    assert!(
        metrics
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"IntakeOldestAge\":0") && l.contains("\"IntakeWaiting\":0")),
        "every run reports the intake's state"
    );
}

#[tokio::test]
async fn a_kept_object_that_does_not_verify_is_moved_aside_and_stores_nothing() {
    let (gateway, store, blobs, metrics) = gateway_with_clock(Arc::new(AtomicI64::new(0)));
    let samples = sms_events(now());
    store.down.store(true, Ordering::SeqCst);
    for provider in ["twilio", "plivo"] {
        let sample = find(&samples, provider, "inbound-text");
        assert_eq!(gateway.handle(incoming(&sample)).await.status.as_u16(), 200);
    }
    store.down.store(false, Ordering::SeqCst);
    // Someone who can write to the bucket swaps the text of the first kept request.
    let keys = intake_keys(&blobs);
    let (_, bytes) = blobs.get(&keys[0]).unwrap();
    let mut kept = gateway_shared::intake::Kept::from_bytes(&bytes).unwrap();
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD
        .decode(&kept.body)
        .unwrap();
    let body = String::from_utf8(body)
        .unwrap()
        .replace("Body=", "Body=forged+");
    kept.body = base64::engine::general_purpose::STANDARD.encode(body);
    use gateway_shared::blob::BlobStore;
    blobs
        .put(&keys[0], "application/json", kept.to_bytes())
        .await
        .unwrap();
    blobs
        .put(
            "sms/intake/20260101T000000.000000Z-broken.json",
            "application/json",
            bytes::Bytes::from_static(b"{not json"),
        )
        .await
        .unwrap();

    let report = gateway.replay_intake(replay_budget()).await.unwrap();
    assert_eq!((report.replayed, report.refused, report.waiting), (1, 2, 0));
    let stored = store.messages();
    assert_eq!(stored.len(), 1, "only the genuine request is stored");
    assert_eq!(stored[0].provider, "plivo");
    let aside: Vec<String> = blobs
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("sms/intake-refused/"))
        .collect();
    assert_eq!(aside.len(), 2, "refused objects are kept aside: {aside:?}");
    assert!(intake_keys(&blobs).is_empty());
    assert!(
        metrics
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"IntakeRefused\":2")),
        "counted for the alarm"
    );
}

#[tokio::test]
async fn when_the_bucket_fails_with_the_store_the_answer_is_503() {
    let g = memory_gateway_for(Channel::Sms);
    g.store.down.store(true, Ordering::SeqCst);
    g.blobs.down.store(true, Ordering::SeqCst);
    let sample = find(&sms_events(now()), "plivo", "inbound-text");
    let response = g.gateway.handle(incoming(&sample)).await;
    assert_eq!(response.status.as_u16(), 503);
    assert!(g.queued().await.is_empty(), "nothing unstored is queued");
    g.store.down.store(false, Ordering::SeqCst);
    g.blobs.down.store(false, Ordering::SeqCst);
    let retry = g.gateway.handle(incoming(&sample)).await;
    assert_eq!(retry.status.as_u16(), 200, "the provider's retry succeeds");
    assert_eq!(g.queued().await.len(), 1);
}

#[tokio::test]
async fn a_message_the_store_refuses_for_good_is_kept_in_the_bucket_and_answered_once() {
    // A claim-check limit no message fits even without its bulky fields: the store would
    // refuse it on every retry, so the request is kept and answered instead of a 503 forever.
    let store = Arc::new(MemoryStore::default());
    let blobs = Arc::new(gateway_shared::blob::MemoryBlobs::default());
    let metrics = MemorySink::default();
    let mut settings = gateway_tests::settings(Channel::Sms);
    settings.claim_check_bytes = 64;
    let gateway = gateway_shared::pipeline::Gateway::new(
        Channel::Sms,
        gateway_tests::providers(Channel::Sms),
        settings,
        gateway_shared::pipeline::Ports {
            store: store.clone(),
            blobs: blobs.clone(),
            secrets: Arc::new(StaticSecrets(
                ChannelSecrets::from_json(&fixtures::sms_secret().to_string()).unwrap(),
            )),
            metrics: Arc::new(metrics.clone()),
            clock: Arc::new(chrono::Utc::now),
        },
    );
    let sample = find(&sms_events(now()), "twilio", "inbound-text");
    let response = gateway.handle(incoming(&sample)).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    assert!(store.messages().is_empty() && store.outbox().is_empty());
    let key = gateway_shared::blob::unstorable_key(Channel::Sms, &sample.body());
    let (_, kept) = blobs.get(&key).expect("the request is kept in the bucket");
    assert_eq!(kept.as_ref(), sample.body().as_slice());
    let lines = metrics.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("\"Unstorable\":1")),
        "counted for the alarm: {lines:?}"
    );
}
