//! What the chat providers' samples normalise into, and Slack's retries.

use gateway_shared::schema::{AttachmentKind, Channel, Message, Visibility};
use gateway_tests::fixtures::{self, chat_events, find};
use gateway_tests::{incoming, memory_gateway_for};
use serde_json::Value;

async fn messages(provider: &str, case: &str) -> Vec<Message> {
    let sample = find(&chat_events(gateway_tests::test_now()), provider, case);
    let g = memory_gateway_for(Channel::Chat);
    let response = g.gateway.handle(incoming(&sample)).await;
    assert_eq!(
        response.status.as_u16(),
        200,
        "{provider}-{case}: {}",
        response.body
    );
    g.queued().await
}

fn one(mut all: Vec<Message>) -> Message {
    assert_eq!(all.len(), 1, "one message");
    all.remove(0)
}

#[tokio::test]
async fn slack_retries_are_stored_once_and_bots_and_deletions_not_at_all() {
    let now = chrono::Utc::now().timestamp();
    let body = fixtures::slack_message(
        now,
        "Ev0001",
        serde_json::json!({
            "type": "message", "user": "U0CUSTOMER", "text": "hello", "ts": format!("{now}.000100"),
            "channel": "D0DM", "channel_type": "im",
        }),
    );
    let g = memory_gateway_for(Channel::Chat);
    let first = fixtures::slack_request(
        "dm",
        fixtures::find(&chat_events(now), "slack", "dm").expect,
        &body,
        now,
        vec![],
    );
    let retry = fixtures::slack_request(
        "dm",
        first.expect.clone(),
        &body,
        now + 60,
        vec![("x-slack-retry-num", "1".into())],
    );
    for sample in [&first, &retry] {
        assert_eq!(
            g.gateway.handle(incoming(sample)).await.status.as_u16(),
            200
        );
    }
    assert_eq!(
        g.store.messages().len(),
        1,
        "the retry carries the same event_id"
    );
    let duplicates: u64 = g
        .metrics
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["Duplicates"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(duplicates, 1);
    assert!(messages("slack", "bot-message").await.is_empty());
    assert!(messages("slack", "deleted").await.is_empty());
}

#[tokio::test]
async fn slack_messages_files_and_edits() {
    let dm = one(messages("slack", "dm").await);
    assert_eq!(dm.text.as_deref(), Some(fixtures::CHAT_TEXT));
    assert_eq!(dm.visibility, Some(Visibility::Private));
    let file = one(messages("slack", "file-share").await);
    assert_eq!(
        file.visibility,
        Some(Visibility::Public),
        "a shared channel"
    );
    assert_eq!(file.attachments[0].kind, AttachmentKind::Image);
    let edit = one(messages("slack", "edited").await);
    assert_eq!(edit.text.as_deref(), Some("Order 4411 arrived broken"));
    assert_eq!(
        edit.reply_to.as_deref(),
        Some(dm.provider_message_id.as_str()),
        "points at the edited message"
    );
    assert_ne!(edit.id, dm.id);
}

#[tokio::test]
async fn intercom_zendesk_sunshine_crisp_livechat_and_webchat() {
    let created = one(messages("intercom", "conversation-created").await);
    assert_eq!(
        created.text.as_deref(),
        Some(fixtures::CHAT_TEXT),
        "HTML reduced to its text"
    );
    assert_eq!(
        created.customer.email.as_deref(),
        Some("Jane.Doe@example.com")
    );
    assert_eq!(created.customer.key, "email:Jane.Doe@example.com");
    let replied = one(messages("intercom", "conversation-replied").await);
    assert_eq!(
        replied.provider_message_id, "3000000002",
        "the customer's part, not the agent's"
    );
    assert_eq!(replied.attachments[0].name.as_deref(), Some("box.jpg"));
    assert!(messages("intercom", "ping").await.is_empty());

    let ticket = one(messages("zendesk", "comment-added").await);
    assert_eq!(ticket.post_id.as_deref(), Some("42"));
    assert!(messages("zendesk", "staff-comment").await.is_empty());

    let sunshine = messages("sunshine", "conversation-message").await;
    assert_eq!(
        sunshine.len(),
        2,
        "the business's own message is not stored"
    );
    assert_eq!(
        sunshine[1].attachments[0].mime_type.as_deref(),
        Some("image/jpeg")
    );

    let crisp = one(messages("crisp", "message-send").await);
    assert_eq!(crisp.text.as_deref(), Some(fixtures::CHAT_TEXT));
    let crisp_file = one(messages("crisp", "file").await);
    assert_eq!(crisp_file.attachments[0].name.as_deref(), Some("box.jpg"));

    let chat = messages("livechat", "incoming-chat").await;
    assert_eq!(chat.len(), 2, "the agent's message is not stored");
    assert_eq!(chat[0].customer.key, "email:Jane.Doe@example.com");
    assert_eq!(chat[1].attachments[0].kind, AttachmentKind::Image);

    let web = one(messages("webchat", "message").await);
    assert_eq!(
        web.customer.key, created.customer.key,
        "one customer across chat tools, by e-mail"
    );
    assert_eq!(web.attachments[0].size, Some(1234));
    let rotated = one(messages("webchat", "rotated-key").await);
    assert_eq!(
        rotated.provider_message_id, "m-0002",
        "the previous key still verifies"
    );
}

#[tokio::test]
async fn two_sites_with_the_same_message_id_are_two_messages() {
    // Web chat message ids are the site's own, often a per-site sequence (`m-0001`).
    let now = gateway_tests::test_now();
    let g = memory_gateway_for(Channel::Chat);
    let mut body = fixtures::webchat_body(now);
    for site in ["acme-web", "acme-shop"] {
        body["site"] = site.into();
        let sample = fixtures::webchat_request(
            "site",
            fixtures::Expect {
                status: 200,
                messages: 1,
                kind: Some("message"),
                body: None,
            },
            &body,
            now,
            &[fixtures::WEBCHAT_SECRET],
        );
        assert_eq!(
            g.gateway.handle(incoming(&sample)).await.status.as_u16(),
            200
        );
    }
    let queued = g.queued().await;
    assert_eq!(
        queued.len(),
        2,
        "neither site's message is taken for the other's"
    );
    assert_ne!(queued[0].business.key, queued[1].business.key);
}
