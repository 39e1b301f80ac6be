//! Per provider, the in-process cost of what the gateway does to a webhook before storage
//! (verify, normalise, serialise the messages) for its sample, beside the floor for the same
//! bytes: HMAC-SHA256 over the body and a parse of it (JSON, or form fields). Both run inside
//! the same single-threaded Tokio runtime's `block_on`, so its small cost is on both sides.
//! `scripts/bench_report.py` turns criterion's estimates into BENCHMARKS.md's table.
//!
//!   cargo bench -p gateway-bench --bench providers

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use gateway_shared::provider::{Auth, Context, Outcome, Provider, Window};
use gateway_shared::request::{WebhookRequest, public_url};
use gateway_shared::schema::Channel;
use gateway_shared::secrets::ChannelSecrets;
use gateway_shared::store::MemoryStore;
use gateway_tests::fixtures::{self, COMMITTED_AT, Sample};
use gateway_tests::{incoming, providers_at, standins};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

struct Case {
    sample: Sample,
    provider: Box<dyn Provider>,
    req: WebhookRequest,
    ctx: Context,
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(COMMITTED_AT, 0).expect("a valid time")
}

/// The first sample of each provider that stores a message, with what its provider needs.
/// The callers-back (AssemblyAI's transcript fetch, SNS's certificate, fetched once and then
/// cached) talk to the in-process stand-in on loopback.
fn cases() -> Vec<Case> {
    let standin = standins::base_url();
    let mut cases: Vec<Case> = Vec::new();
    for sample in fixtures::all_events_at(COMMITTED_AT, standin) {
        if sample.expect.messages == 0 || cases.iter().any(|c| c.sample.provider == sample.provider)
        {
            continue;
        }
        let channel: Channel = sample.channel.parse().expect("a channel");
        let provider = providers_at(channel, standin)
            .into_iter()
            .find(|p| p.name() == sample.provider)
            .expect("a registered provider");
        let incoming = incoming(&sample);
        let req = WebhookRequest {
            public_url: public_url(
                Some(&fixtures::public_base_url(sample.channel)),
                provider.name(),
                &incoming.raw_query,
            ),
            method: incoming.method,
            provider: provider.name().to_string(),
            raw_query: incoming.raw_query,
            headers: incoming.headers,
            body: incoming.body.expect("a sample body"),
        };
        let secrets =
            ChannelSecrets::from_json(&fixtures::channel_secret(sample.channel).to_string())
                .expect("test secrets");
        let ctx = Context {
            channel,
            provider: provider.name(),
            received_at: now(),
            secret: secrets.provider(provider.name()),
            parts: Arc::new(MemoryStore::default()),
        };
        cases.push(Case {
            sample,
            provider,
            req,
            ctx,
        });
    }
    cases
}

async fn gateway_path(case: &Case) -> usize {
    let tokens = MemoryStore::default();
    let auth = Auth {
        secret: &case.ctx.secret,
        now: now(),
        window_secs: match case.provider.window() {
            Window::Standard => 300,
            Window::Secs(secs) => secs,
        },
        tokens: &tokens,
    };
    case.provider
        .authenticate(&case.req, &auth)
        .await
        .unwrap_or_else(|e| panic!("{}: the sample verifies: {e}", case.sample.file_name()));
    match case.provider.normalise(&case.req, &case.ctx).await {
        Ok(Outcome::Store(messages)) => messages
            .iter()
            .map(|m| serde_json::to_vec(m).expect("serialises").len())
            .sum(),
        other => panic!("{}: {other:?}", case.sample.file_name()),
    }
}

fn floor(case: &Case) -> usize {
    let mut mac = Hmac::<Sha256>::new_from_slice(b"floor-benchmark-key").expect("any key");
    mac.update(&case.req.body);
    let tag = mac.finalize().into_bytes();
    let parsed = match case.req.content_type().as_str() {
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&case.req.body)
                .expect("a form")
                .len()
        }
        // Multipart and MIME bodies: the floor has no parse for them, only the HMAC.
        t if t.starts_with("multipart/") => 0,
        _ => {
            match serde_json::from_slice::<serde_json::Value>(&case.req.body).expect("a JSON body")
            {
                serde_json::Value::Object(fields) => fields.len(),
                _ => 1,
            }
        }
    };
    tag.len() + parsed
}

fn providers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    for case in cases() {
        // Checked once outside the timing: the path measured is the one that stores.
        assert!(rt.block_on(gateway_path(&case)) > 0);
        let mut group =
            c.benchmark_group(format!("{}/{}", case.sample.channel, case.sample.provider));
        group.throughput(Throughput::Bytes(case.req.body.len() as u64));
        group.bench_function("gateway", |b| {
            b.iter(|| rt.block_on(async { black_box(gateway_path(black_box(&case)).await) }))
        });
        group.bench_function("floor", |b| {
            b.iter(|| rt.block_on(async { black_box(floor(black_box(&case))) }))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = providers
}
criterion_main!(benches);
