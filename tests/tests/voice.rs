//! What the voice providers' samples normalise into: parties, speaker roles, timings; the
//! real-time session assembled from its events; AssemblyAI's transcript fetch; and the claim
//! check of a transcript too large for the queue.

use gateway_shared::pipeline::Response;
use gateway_shared::schema::{Channel, Direction, Kind, Message, Speaker};
use gateway_tests::fixtures::{
    self, BUSINESS_PHONE, CALL_TEXT, CUSTOMER_PHONE, Sample, find, voice_events,
};
use gateway_tests::{MemoryGateway, incoming, memory_gateway_for, schema_validator};

fn now() -> i64 {
    gateway_tests::test_now()
}

async fn send(g: &MemoryGateway, sample: &Sample) -> Response {
    g.gateway.handle(incoming(sample)).await
}

async fn transcript(provider: &str, case: &str) -> Message {
    let g = memory_gateway_for(Channel::Voice);
    let response = send(&g, &find(&voice_events(now()), provider, case)).await;
    assert_eq!(
        response.status.as_u16(),
        200,
        "{provider}-{case}: {}",
        response.body
    );
    let mut queued = g.queued().await;
    assert_eq!(queued.len(), 1, "{provider}-{case}: one message");
    let m = queued.remove(0);
    let json = serde_json::to_value(&m).unwrap();
    let validator = schema_validator();
    assert!(
        validator.is_valid(&json),
        "{provider}-{case} matches the JSON Schema"
    );
    assert_eq!(m.kind, Kind::Transcript);
    m
}

/// `(speaker, start, end)` of every segment.
fn turns(m: &Message) -> Vec<(Speaker, f64, f64)> {
    m.transcript
        .as_ref()
        .unwrap()
        .segments
        .iter()
        .map(|s| (s.speaker, s.start, s.end))
        .collect()
}

fn assert_inbound_call(m: &Message, call_id: &str) {
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.call_id, call_id);
    assert_eq!(m.direction, Direction::Inbound);
    assert_eq!(t.caller.as_deref(), Some(CUSTOMER_PHONE));
    assert_eq!(t.callee.as_deref(), Some(BUSINESS_PHONE));
    assert_eq!(m.customer.key, format!("phone:{CUSTOMER_PHONE}"));
    assert_eq!(m.business.phone.as_deref(), Some(BUSINESS_PHONE));
}

#[tokio::test]
async fn twilio_recording_transcription_is_the_callers_text() {
    let m = transcript("twilio", "recording-transcription").await;
    assert_inbound_call(&m, "CA00000000000000000000000000000001");
    let t = m.transcript.unwrap();
    assert_eq!(t.full_text.as_deref(), Some(CALL_TEXT));
    assert!(t.segments.is_empty(), "Twilio gives no timings");
    assert!(
        t.recording_url
            .unwrap()
            .ends_with("RE00000000000000000000000000000001")
    );
    assert_eq!(m.provider_message_id, "CA00000000000000000000000000000001");
}

#[tokio::test]
async fn twilio_realtime_events_become_one_transcript_when_the_session_stops() {
    let samples = voice_events(now());
    let g = memory_gateway_for(Channel::Voice);
    let session = [
        "realtime-started",
        "realtime-customer",
        "realtime-partial",
        "realtime-agent",
        // Twilio retries a content event: kept once.
        "realtime-customer",
    ];
    for case in session {
        let response = send(&g, &find(&samples, "twilio", case)).await;
        assert_eq!(response.status.as_u16(), 200, "{case}");
        assert!(g.queued().await.is_empty(), "{case}: nothing queued yet");
    }
    let stopped = find(&samples, "twilio", "realtime-stopped");
    assert_eq!(send(&g, &stopped).await.status.as_u16(), 200);
    let queued = g.queued().await;
    assert_eq!(queued.len(), 1);
    let m = &queued[0];
    assert_inbound_call(m, "CA00000000000000000000000000000002");
    assert_eq!(
        turns(m),
        [(Speaker::Customer, 4.2, 4.2), (Speaker::Agent, 8.6, 8.6)],
        "final utterances only, by track, timed from the session's start"
    );
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.language.as_deref(), Some("en-US"));
    assert_eq!(t.duration_seconds, Some(12.0));
    assert_eq!(t.segments[0].confidence, Some(0.93));
    assert!(t.full_text.as_ref().unwrap().starts_with("Customer: Hello"));
    // A redelivered stop is the same message.
    assert_eq!(send(&g, &stopped).await.status.as_u16(), 200);
    assert_eq!(g.store.messages().len(), 1);
}

/// The voice channel's Twilio on in-memory adapters, with a `grace`, and a clock that runs
/// `offset` seconds ahead.
fn twilio_with_grace(
    grace_secs: i64,
    offset: std::sync::Arc<std::sync::atomic::AtomicI64>,
) -> (
    gateway_shared::pipeline::Gateway,
    std::sync::Arc<gateway_shared::store::MemoryStore>,
    std::sync::Arc<gateway_shared::outbox::MemoryQueues>,
) {
    let store = std::sync::Arc::new(gateway_shared::store::MemoryStore::default());
    let gateway = gateway_shared::pipeline::Gateway::new(
        Channel::Voice,
        vec![Box::new(
            gateway_shared::providers::voice::twilio::TwilioVoice::new(chrono::Duration::seconds(
                grace_secs,
            )),
        )],
        gateway_tests::settings(Channel::Voice),
        gateway_shared::pipeline::Ports {
            store: store.clone(),
            blobs: std::sync::Arc::new(gateway_shared::blob::MemoryBlobs::default()),
            secrets: std::sync::Arc::new(gateway_shared::secrets::StaticSecrets(
                gateway_shared::secrets::ChannelSecrets::from_json(
                    &fixtures::voice_secret().to_string(),
                )
                .unwrap(),
            )),
            metrics: std::sync::Arc::new(gateway_shared::telemetry::MemorySink::default()),
            clock: std::sync::Arc::new(move || {
                chrono::Utc::now()
                    + chrono::Duration::seconds(offset.load(std::sync::atomic::Ordering::SeqCst))
            }),
        },
    );
    (
        gateway,
        store,
        std::sync::Arc::new(gateway_shared::outbox::MemoryQueues::default()),
    )
}

async fn published(
    store: &gateway_shared::store::MemoryStore,
    queues: &gateway_shared::outbox::MemoryQueues,
) -> Vec<Message> {
    let metrics = gateway_shared::telemetry::MemorySink::default();
    store.publish(queues, &metrics, chrono::Utc::now()).await;
    queues.sent.lock().unwrap().clone()
}

fn run_budget() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(30)
}

#[tokio::test]
async fn an_utterance_delivered_after_the_stop_event_is_in_the_transcript() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let offset = std::sync::Arc::new(AtomicI64::new(0));
    let (gateway, store, queues) = twilio_with_grace(60, offset.clone());
    let samples = voice_events(now());
    // The last utterance and the stop event race (two requests); the stop wins.
    for case in ["realtime-started", "realtime-customer", "realtime-stopped"] {
        let response = gateway
            .handle(incoming(&find(&samples, "twilio", case)))
            .await;
        assert_eq!(response.status.as_u16(), 200, "{case}");
    }
    assert!(
        published(&store, &queues).await.is_empty(),
        "nothing before the grace has passed"
    );
    let late = gateway
        .handle(incoming(&find(&samples, "twilio", "realtime-agent")))
        .await;
    assert_eq!(late.status.as_u16(), 200);

    offset.store(30, Ordering::SeqCst);
    let early = gateway.scheduled(run_budget()).await.unwrap();
    assert_eq!(early.assembled, 0, "not due yet");

    offset.store(61, Ordering::SeqCst);
    let report = gateway.scheduled(run_budget()).await.unwrap();
    assert_eq!((report.assembled, report.orphaned), (1, 0));
    let queued = published(&store, &queues).await;
    assert_eq!(queued.len(), 1);
    assert_inbound_call(&queued[0], "CA00000000000000000000000000000002");
    assert_eq!(
        turns(&queued[0]),
        [(Speaker::Customer, 4.2, 4.2), (Speaker::Agent, 8.6, 8.6)],
        "the late utterance is in, in sequence order"
    );
    assert_eq!(
        queued[0].transcript.as_ref().unwrap().duration_seconds,
        Some(12.0)
    );
    // The work is done once: the next runs find nothing, the orphan check included.
    offset.store(26 * 3600, Ordering::SeqCst);
    assert_eq!(gateway.scheduled(run_budget()).await.unwrap().assembled, 0);
    assert_eq!(store.messages().len(), 1);
}

#[tokio::test]
async fn a_stop_event_delivered_twice_gives_one_transcript() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let offset = std::sync::Arc::new(AtomicI64::new(0));
    let (gateway, store, queues) = twilio_with_grace(60, offset.clone());
    let samples = voice_events(now());
    for case in [
        "realtime-started",
        "realtime-customer",
        "realtime-agent",
        "realtime-stopped",
    ] {
        gateway
            .handle(incoming(&find(&samples, "twilio", case)))
            .await;
    }
    offset.store(20, Ordering::SeqCst);
    let again = gateway
        .handle(incoming(&find(&samples, "twilio", "realtime-stopped")))
        .await;
    assert_eq!(again.status.as_u16(), 200);
    offset.store(200, Ordering::SeqCst);
    gateway.scheduled(run_budget()).await.unwrap();
    let queued = published(&store, &queues).await;
    assert_eq!(queued.len(), 1, "one transcript per session");
    assert_eq!(turns(&queued[0]).len(), 2);
}

#[tokio::test]
async fn a_session_whose_stop_event_never_came_is_assembled_after_the_longest_call() {
    use std::sync::atomic::{AtomicI64, Ordering};
    let offset = std::sync::Arc::new(AtomicI64::new(0));
    let (gateway, store, queues) = twilio_with_grace(60, offset.clone());
    let samples = voice_events(now());
    for case in ["realtime-started", "realtime-customer", "realtime-agent"] {
        gateway
            .handle(incoming(&find(&samples, "twilio", case)))
            .await;
    }
    offset.store(3600, Ordering::SeqCst);
    assert_eq!(
        gateway.scheduled(run_budget()).await.unwrap().assembled,
        0,
        "a call can still be running an hour later"
    );
    offset.store(25 * 3600 + 60, Ordering::SeqCst);
    let report = gateway.scheduled(run_budget()).await.unwrap();
    assert_eq!(
        (report.assembled, report.orphaned),
        (1, 1),
        "assembled, and counted for the alarm"
    );
    let queued = published(&store, &queues).await;
    assert_eq!(queued.len(), 1);
    let t = queued[0].transcript.as_ref().unwrap();
    assert_eq!(t.segments.len(), 2, "every utterance kept");
    assert_eq!(t.duration_seconds, None, "no stop event, no duration");
}

#[tokio::test]
async fn deepgram_utterances_take_the_roles_passed_with_the_job() {
    let m = transcript("deepgram", "callback-basic-auth").await;
    assert_inbound_call(&m, "CA00000000000000000000000000000004");
    let segments = &m.transcript.as_ref().unwrap().segments;
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[0].speaker, Speaker::Customer);
    assert_eq!(segments[1].speaker, Speaker::Agent);
    assert_eq!(segments[0].start, 0.48);
    assert!(segments[0].end > segments[0].start && segments[1].start >= segments[0].end);
    assert_eq!(segments[0].text, CALL_TEXT);
    assert_eq!(segments[0].confidence, Some(0.96));
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.language.as_deref(), Some("en"));
    assert_eq!(t.duration_seconds, Some(12.4));
}

#[tokio::test]
async fn deepgram_without_utterances_has_one_segment_per_channel() {
    let m = transcript("deepgram", "callback-extra-secret").await;
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.call_id, "CA00000000000000000000000000000005");
    assert_eq!(t.segments.len(), 1);
    assert_eq!(
        t.segments[0].speaker,
        Speaker::Customer,
        "channel 0 is the customer"
    );
    assert!(t.segments[0].text.starts_with(CALL_TEXT));
}

#[tokio::test]
async fn retell_agent_is_the_bot_and_the_summary_is_kept() {
    let m = transcript("retell", "call-analyzed").await;
    assert_inbound_call(&m, "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6");
    let speakers: Vec<Speaker> = turns(&m).into_iter().map(|t| t.0).collect();
    assert_eq!(speakers, [Speaker::Bot, Speaker::Customer, Speaker::Bot]);
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.segments[1].start, 3.1);
    assert!(t.segments[1].end > 3.1);
    assert_eq!(t.duration_seconds, Some(14.3));
    assert!(t.summary.as_ref().unwrap().contains("missing parcel"));
    assert!(t.recording_url.as_ref().unwrap().ends_with("recording.wav"));
    assert_eq!(
        m.sent_at.unwrap().timestamp(),
        now() - 120,
        "the call's start"
    );
}

#[tokio::test]
async fn vapi_bot_and_user_turns_in_seconds_without_the_system_prompt() {
    let m = transcript("vapi", "end-of-call-report").await;
    assert_inbound_call(&m, "3f0c3b6e-0000-4000-8000-000000000007");
    assert_eq!(
        turns(&m),
        [
            (Speaker::Bot, 0.9, 3.3),
            (Speaker::Customer, 4.1, 8.9),
            (Speaker::Bot, 9.7, 12.8)
        ]
    );
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.duration_seconds, Some(61.5));
    assert!(t.summary.as_ref().unwrap().contains("missing parcel"));
}

#[tokio::test]
async fn assemblyai_transcript_is_fetched_and_speakers_mapped() {
    let m = transcript("assemblyai", "completed").await;
    assert_inbound_call(&m, "CA00000000000000000000000000000008");
    assert_eq!(m.provider_message_id, "CA00000000000000000000000000000008");
    assert_eq!(
        turns(&m).iter().map(|t| t.0).collect::<Vec<_>>(),
        [Speaker::Customer, Speaker::Agent]
    );
    let t = m.transcript.as_ref().unwrap();
    assert_eq!(t.segments[0].start, 0.52, "milliseconds become seconds");
    assert_eq!(t.language.as_deref(), Some("en-us"));
    assert_eq!(t.duration_seconds, Some(13.0));
    assert!(t.full_text.as_ref().unwrap().starts_with(CALL_TEXT));
}

#[tokio::test]
async fn a_failed_assemblyai_fetch_answers_5xx_and_stores_nothing() {
    let samples = voice_events(now());
    let g = memory_gateway_for(Channel::Voice);
    let response = send(&g, &find(&samples, "assemblyai", "completed-fetch-fails")).await;
    assert_eq!(response.status.as_u16(), 502, "AssemblyAI retries 5xx");
    assert!(g.store.messages().is_empty() && g.queued().await.is_empty());

    // An API that cannot be reached at all is the same.
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    };
    let gateway = gateway_shared::pipeline::Gateway::new(
        Channel::Voice,
        vec![Box::new(
            gateway_shared::providers::voice::assemblyai::AssemblyAi::new(unreachable),
        )],
        gateway_tests::settings(Channel::Voice),
        gateway_shared::pipeline::Ports {
            store: g.store.clone(),
            blobs: g.blobs.clone(),
            secrets: std::sync::Arc::new(gateway_shared::secrets::StaticSecrets(
                gateway_shared::secrets::ChannelSecrets::from_json(
                    &fixtures::voice_secret().to_string(),
                )
                .unwrap(),
            )),
            metrics: std::sync::Arc::new(gateway_shared::telemetry::MemorySink::default()),
            clock: std::sync::Arc::new(chrono::Utc::now),
        },
    );
    let response = gateway
        .handle(incoming(&find(&samples, "assemblyai", "completed")))
        .await;
    assert_eq!(response.status.as_u16(), 502);
    assert!(g.store.messages().is_empty());
}

#[tokio::test]
async fn non_transcript_events_are_acknowledged_and_not_stored() {
    let samples = voice_events(now());
    for (provider, case) in [
        ("retell", "call-ended"),
        ("vapi", "status-update"),
        ("assemblyai", "error"),
        ("twilio", "recording-transcription-failed"),
    ] {
        let g = memory_gateway_for(Channel::Voice);
        let response = send(&g, &find(&samples, provider, case)).await;
        assert_eq!(response.status.as_u16(), 200, "{provider}-{case}");
        assert!(g.store.messages().is_empty(), "{provider}-{case}");
    }
}

#[tokio::test]
async fn an_oversize_transcript_is_queued_as_a_claim_check_on_the_whole_message() {
    let g = memory_gateway_for(Channel::Voice);
    let sample = fixtures::retell_long_call(now(), 3_000);
    assert!(
        sample.body().len() > 300 * 1024,
        "larger than SQS and DynamoDB allow"
    );
    let response = send(&g, &sample).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    let queued = g.queued().await;
    assert_eq!(queued.len(), 1);
    let slim = &queued[0];
    let bytes = serde_json::to_vec(slim).unwrap();
    assert!(
        bytes.len() <= 200 * 1024,
        "queued message is {} bytes",
        bytes.len()
    );
    assert!(schema_validator().is_valid(&serde_json::to_value(slim).unwrap()));
    let check = slim.claim_check.as_ref().expect("a claim check");
    assert!(check.omitted.contains(&"transcript.segments".to_string()));
    let (content_type, whole) = g.blobs.get(&check.object.key).expect("the object is there");
    assert_eq!(content_type, "application/json");
    let whole: Message = serde_json::from_slice(&whole).unwrap();
    assert_eq!(whole.id, slim.id);
    assert_eq!(whole.transcript.as_ref().unwrap().segments.len(), 3_000);
    assert!(whole.claim_check.is_none());
    // The stored item is the slim message too, and the raw body went to the bucket.
    let stored = g.store.stored();
    assert_eq!(stored[0].message, *slim);
    assert!(matches!(
        stored[0].raw,
        gateway_shared::store::Raw::Object(ref o) if o.size == sample.body().len() as u64
    ));
}
