//! Logs and metrics never carry message text, phone numbers, e-mail addresses or secrets.
//! A test binary of its own: tracing's per-callsite interest cache is process-wide, so a
//! thread-local subscriber is only reliable when no other test runs beside it.

use gateway_shared::schema::Channel;
use gateway_tests::fixtures::{self, all_events};
use gateway_tests::{incoming, memory_gateway_for};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A writer that keeps what the JSON log layer writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_and_metrics_carry_no_message_text_numbers_or_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let now = chrono::Utc::now().timestamp();
    let mut metrics = Vec::new();
    for channel in [Channel::Sms, Channel::Social, Channel::Chat] {
        let g = memory_gateway_for(channel);
        g.queues.down.store(true, Ordering::SeqCst);
        let mut samples = all_events(now);
        samples.extend(all_events(now - 3600)); // stale where the scheme is timed: rejected
        samples.retain(|s| s.channel == channel.as_str());
        for sample in &samples {
            g.gateway.handle(incoming(sample)).await;
        }
        // The publisher's logs too: SQS down (retried), then one message refused for good.
        g.queued().await;
        g.queues.down.store(false, Ordering::SeqCst);
        if let Some(first) = g.store.outbox().first() {
            g.queues.refuse.lock().unwrap().insert(first.id.clone());
        }
        g.queued().await;
        // The store down: a request kept for the replay; the bucket down too: a 503. Then
        // the replay of what was kept.
        g.store.down.store(true, Ordering::SeqCst);
        g.gateway.handle(incoming(&samples[1])).await;
        g.blobs.down.store(true, Ordering::SeqCst);
        g.gateway.handle(incoming(&samples[1])).await;
        g.store.down.store(false, Ordering::SeqCst);
        g.blobs.down.store(false, Ordering::SeqCst);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        g.gateway.replay_intake(until).await.expect("replayed");
        metrics.extend(g.metrics.0.lock().unwrap().clone());
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let metrics = metrics.join("\n");
    assert!(
        logs.contains("webhook handled") && logs.contains("webhook rejected"),
        "logs were captured"
    );
    assert!(
        logs.contains("publication failed") && logs.contains("message quarantined"),
        "the publisher's warnings and errors were captured"
    );
    assert!(logs.contains("webhook failed"), "errors were captured");
    assert!(
        logs.contains("kept for replay") && logs.contains("kept request replayed"),
        "the intake's logs were captured"
    );
    let forbidden = fixtures::never_logged();
    for needle in forbidden {
        assert!(!logs.contains(&needle), "logs contain {needle:?}");
        assert!(!metrics.contains(&needle), "metrics contain {needle:?}");
    }
}
