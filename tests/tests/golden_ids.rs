//! Message ids are the deduplication key in the table and on the queues: a release that changes
//! how an id is made stores and queues again every webhook a provider retries across the
//! deploy. Every sample's ids are pinned here (`tests/data/golden_ids.json`); a change to them
//! is a decision, made with `GATEWAY_UPDATE_GOLDEN_IDS=1 cargo test --test golden_ids` and a
//! migration note in the commit, never a side effect.

use gateway_shared::blob::MemoryBlobs;
use gateway_shared::pipeline::{Gateway, Ports};
use gateway_shared::schema::Channel;
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::MemoryStore;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, COMMITTED_AT};
use gateway_tests::incoming;
use std::collections::BTreeMap;
use std::sync::Arc;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/golden_ids.json");

#[tokio::test]
async fn every_samples_message_ids_are_the_pinned_ones() {
    let at = chrono::DateTime::from_timestamp(COMMITTED_AT + 5, 0).unwrap();
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sample in fixtures::all_events(COMMITTED_AT) {
        let channel: Channel = sample.channel.parse().unwrap();
        let store = Arc::new(MemoryStore::default());
        let secrets =
            ChannelSecrets::from_json(&fixtures::channel_secret(sample.channel).to_string())
                .unwrap();
        let gateway = Gateway::new(
            channel,
            gateway_tests::providers(channel),
            gateway_tests::settings(channel),
            Ports {
                store: store.clone(),
                blobs: Arc::new(MemoryBlobs::default()),
                secrets: Arc::new(StaticSecrets(secrets)),
                metrics: Arc::new(MemorySink::default()),
                clock: Arc::new(move || at),
            },
        );
        gateway.handle(incoming(&sample)).await;
        let made: Vec<String> = store.messages().into_iter().map(|m| m.id).collect();
        if !made.is_empty() {
            ids.insert(format!("{}/{}", sample.channel, sample.file_name()), made);
        }
    }
    assert!(ids.len() > 50, "the samples store messages: {}", ids.len());
    let now = serde_json::to_string_pretty(&ids).unwrap() + "\n";
    if std::env::var_os("GATEWAY_UPDATE_GOLDEN_IDS").is_some() {
        std::fs::write(GOLDEN, &now).unwrap();
        return;
    }
    let pinned: BTreeMap<String, Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(GOLDEN).expect("tests/data/golden_ids.json is committed"),
    )
    .unwrap();
    for (sample, pinned_ids) in &pinned {
        assert_eq!(
            ids.get(sample),
            Some(pinned_ids),
            "{sample}: its message ids changed (a retried webhook would be stored again)"
        );
    }
    assert_eq!(
        ids.keys().collect::<Vec<_>>(),
        pinned.keys().collect::<Vec<_>>(),
        "a sample was added or removed: pin its ids with GATEWAY_UPDATE_GOLDEN_IDS=1"
    );
}
