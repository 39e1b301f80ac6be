//! Genuine payloads (`tests/data/genuine`, copied from providers' documentation, SDK fixtures
//! and captured traffic) signed as their provider signs and sent to the served functions:
//! each gets the answer a user expects and yields exactly the messages its manifest entry
//! names (kind, direction, ids, customer, text, attachments, state). `scripts/test.sh` serves
//! the functions and sets `GATEWAY_<CHANNEL>_URL`, `GATEWAY_TABLE`.

use gateway_shared::schema::Channel;
use gateway_tests::genuine::{self, mismatch};
use gateway_tests::{incoming, local, memory_gateway_for, send, standins};

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this test with scripts/test.sh"))
}

#[tokio::test]
async fn genuine_payloads_get_the_answers_and_messages_users_expect() {
    let now = chrono::Utc::now().timestamp();
    let client = reqwest::Client::new();
    let sdk = local::sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let served_standin = var("GATEWAY_STANDIN_URL");
    let cases = genuine::cases();
    let mut problems = Vec::new();
    let mut providers = std::collections::BTreeSet::new();
    for case in &cases {
        providers.insert(case.provider.clone());
        let label = format!("{} ({})", case.file, case.source);
        // Through the served function: the answer, and the messages in the table.
        let sample = genuine::signed(case, now, &served_standin);
        let base = var(&format!("GATEWAY_{}_URL", case.channel.to_uppercase()));
        let (status, body) = send(&client, &base, &sample).await.unwrap();
        let want_status = case.expect()["status"].as_u64().unwrap() as u16;
        if status != want_status {
            problems.push(format!(
                "{label}: answered {status} {body}, expected {want_status}"
            ));
            continue;
        }
        // On a fresh store (two genuine payloads share a message id): the messages themselves.
        let channel: Channel = case.channel.parse().unwrap();
        let memory = memory_gateway_for(channel);
        memory
            .gateway
            .handle(incoming(&genuine::signed(case, now, &standins::url())))
            .await;
        let messages = memory.store.messages();
        let expected = case.expect()["messages"].as_array().unwrap();
        if messages.len() != expected.len() {
            problems.push(format!(
                "{label}: {} messages ({:?}), expected {}",
                messages.len(),
                messages.iter().map(|m| m.kind).collect::<Vec<_>>(),
                expected.len()
            ));
            continue;
        }
        for (m, want) in messages.iter().zip(expected) {
            if let Some(why) = mismatch(want, m) {
                problems.push(format!("{label}: {why}"));
            }
            let stored = ddb
                .get_item()
                .table_name(var("GATEWAY_TABLE"))
                .key(
                    "id",
                    aws_sdk_dynamodb::types::AttributeValue::S(m.id.clone()),
                )
                .send()
                .await
                .unwrap();
            if stored.item.is_none() {
                problems.push(format!("{label}: {} is not in the served table", m.id));
            }
        }
    }
    println!(
        "{} genuine payloads of {} providers",
        cases.len(),
        providers.len()
    );
    assert!(providers.len() >= 24, "providers covered: {providers:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
