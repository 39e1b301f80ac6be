//! What the social providers' samples normalise into.

use gateway_shared::schema::{AttachmentKind, Channel, DeliveryState, Kind, Message, Visibility};
use gateway_tests::fixtures::{self, find, social_events};
use gateway_tests::{incoming, memory_gateway_for};

async fn messages(provider: &str, case: &str) -> Vec<Message> {
    let sample = find(&social_events(gateway_tests::test_now()), provider, case);
    let g = memory_gateway_for(Channel::Social);
    let response = g.gateway.handle(incoming(&sample)).await;
    assert_eq!(
        response.status.as_u16(),
        200,
        "{provider}-{case}: {}",
        response.body
    );
    // Queue order is the order the provider sent them in.
    g.queued().await
}

#[tokio::test]
async fn whatsapp_text_survives_meta_escaping_and_keeps_wa_id_and_e164() {
    let [m] = <[Message; 1]>::try_from(messages("meta", "whatsapp-text").await).unwrap();
    assert_eq!(m.text.as_deref(), Some(fixtures::SOCIAL_TEXT));
    assert_eq!(m.customer.id, fixtures::WA_ID, "wa_id kept as given");
    assert_eq!(m.customer.phone.as_deref(), Some("+14155550100"));
    assert_eq!(m.customer.key, "phone:+14155550100");
    assert_eq!(m.customer.display_name.as_deref(), Some("Layla"));
    assert_eq!(m.business.id, "106540352242922");
    assert_eq!(m.visibility, Some(Visibility::Private));
    assert!(m.sent_at.is_some());
}

#[tokio::test]
async fn a_whatsapp_batch_becomes_one_message_each_and_a_retry_stores_nothing_twice() {
    let sample = find(
        &social_events(gateway_tests::test_now()),
        "meta",
        "whatsapp-batch",
    );
    let g = memory_gateway_for(Channel::Social);
    assert_eq!(
        g.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );
    assert_eq!(
        g.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );
    let all = g.queued().await;
    assert_eq!(all.len(), 7, "each entry's messages and statuses, once");
    let image = &all[0];
    assert_eq!(image.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(image.attachments[0].id.as_deref(), Some("1479537139650973"));
    assert_eq!(image.text.as_deref(), Some("صورة الصندوق"));
    let button = &all[1];
    assert_eq!(
        (button.text.as_deref(), button.postback.as_deref()),
        (Some("Track my order"), Some("track-order"))
    );
    assert_eq!(button.reply_to.as_deref(), Some("wamid.outbound-menu"));
    let reaction = &all[2];
    assert_eq!(reaction.reaction.as_deref(), Some("👍"));
    assert_eq!(reaction.reply_to.as_deref(), Some("wamid.outbound-menu"));
    assert_eq!(all[3].attachments[0].kind, AttachmentKind::Location);
    let statuses: Vec<_> = all.iter().filter(|m| m.kind == Kind::Status).collect();
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        statuses[0].status.as_ref().unwrap().state,
        DeliveryState::Delivered
    );
    assert_eq!(
        statuses[1].status.as_ref().unwrap().state,
        DeliveryState::Read
    );
    assert_ne!(
        statuses[0].id, statuses[1].id,
        "two states of one message are two events"
    );
    let chinese = all.last().unwrap();
    assert_eq!(chinese.text.as_deref(), Some("我的订单还没到 🙏"));
    assert_eq!(chinese.customer.id, "8613800138000");
    assert_eq!(chinese.customer.phone.as_deref(), Some("+8613800138000"));
    assert_eq!(
        chinese.customer.key,
        format!("social:meta:{}", fixtures::WA_USER_ID),
        "the business-scoped user id is the key where present"
    );
}

#[tokio::test]
async fn messenger_skips_echoes_and_instagram_tells_private_from_public() {
    let [dm] = <[Message; 1]>::try_from(messages("meta", "messenger-text").await).unwrap();
    assert_eq!(
        dm.provider_message_id, "m_messenger-1",
        "the page's echo is not stored"
    );
    assert_eq!(dm.postback.as_deref(), Some("ORDER_HELP"));
    let [story, comment] =
        <[Message; 2]>::try_from(messages("meta", "instagram-story-and-comment").await).unwrap();
    assert_eq!(story.visibility, Some(Visibility::Private));
    assert_eq!(story.post_id.as_deref(), Some("17900000000000001"));
    assert_eq!(comment.visibility, Some(Visibility::Public));
    assert_eq!(comment.post_id.as_deref(), Some("17900000000000002"));
    assert_eq!(comment.customer.handle.as_deref(), Some("parcel_fan"));
}

#[tokio::test]
async fn x_direct_messages_are_private_and_mentions_public() {
    let [dm] = <[Message; 1]>::try_from(messages("x", "direct-message").await).unwrap();
    assert_eq!(dm.visibility, Some(Visibility::Private));
    assert_eq!(dm.customer.handle.as_deref(), Some("samparcel"));
    assert_eq!(dm.text.as_deref(), Some(fixtures::SOCIAL_TEXT));
    let [mention] = <[Message; 1]>::try_from(messages("x", "mention").await).unwrap();
    assert_eq!(mention.visibility, Some(Visibility::Public));
    assert_eq!(mention.post_id.as_deref(), Some("1859999999999999999"));
    assert_eq!(
        dm.conversation_id, mention.conversation_id,
        "one customer, one account"
    );
}

#[tokio::test]
async fn line_viber_and_telegram_messages() {
    let line = messages("line", "messages").await;
    assert_eq!(line.len(), 3, "the follow event is not stored");
    assert_eq!(line[1].attachments[0].kind, AttachmentKind::Sticker);
    assert_eq!(
        line[2].attachments[0].id.as_deref(),
        Some("468789577898262532")
    );
    let [viber] = <[Message; 1]>::try_from(messages("viber", "message").await).unwrap();
    assert_eq!(viber.customer.display_name.as_deref(), Some("Olena"));
    let [seen] = <[Message; 1]>::try_from(messages("viber", "status-delivered").await).unwrap();
    assert_eq!(seen.status.unwrap().state, DeliveryState::Delivered);
    let [text] = <[Message; 1]>::try_from(messages("telegram", "message").await).unwrap();
    assert_eq!(
        text.provider_message_id, "900000001",
        "update_id identifies the message"
    );
    assert_eq!(text.customer.handle.as_deref(), Some("yuki_t"));
    let [edit] = <[Message; 1]>::try_from(messages("telegram", "edited-message").await).unwrap();
    assert_ne!(edit.id, text.id, "an edit is its own event");
    let [photo] = <[Message; 1]>::try_from(messages("telegram", "photo-reply").await).unwrap();
    assert_eq!(
        photo.attachments[0].id.as_deref(),
        Some("AgAD-large"),
        "the largest size"
    );
    assert_eq!(photo.reply_to.as_deref(), Some("41"));
    let [post] = <[Message; 1]>::try_from(messages("telegram", "channel-post").await).unwrap();
    assert_eq!(post.visibility, Some(Visibility::Public));
    assert_eq!(post.attachments[0].name.as_deref(), Some("receipt.pdf"));
}

#[tokio::test]
async fn every_whatsapp_kind_and_a_failed_status() {
    let all = messages("meta", "whatsapp-media-kinds").await;
    let kinds: Vec<_> = all.iter().take(5).map(|m| m.attachments[0].kind).collect();
    assert_eq!(
        kinds,
        [
            AttachmentKind::Audio,
            AttachmentKind::Video,
            AttachmentKind::File,
            AttachmentKind::Sticker,
            AttachmentKind::Contact
        ]
    );
    assert_eq!(all[0].attachments[0].id.as_deref(), Some("2001"));
    assert_eq!(
        all[2].attachments[0].name.as_deref(),
        Some("invoice-4411.pdf")
    );
    assert_eq!(
        all[4].attachments[0].url.as_deref(),
        Some("tel:+1 202 555 0199")
    );
    assert_eq!(
        (all[5].text.as_deref(), all[5].postback.as_deref()),
        (Some("Refund"), Some("refund"))
    );
    let failed = all[6].status.as_ref().unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("131026"));
}

#[tokio::test]
async fn messenger_postbacks_attachments_reactions_and_instagram_mentions() {
    let [postback, image, reaction, read] =
        <[Message; 4]>::try_from(messages("meta", "messenger-postback-attachment-reaction").await)
            .unwrap();
    // A read receipt names no message: it covers every message before its watermark.
    assert_eq!(read.kind, Kind::Status);
    assert_eq!(read.status.as_ref().unwrap().state, DeliveryState::Read);
    assert!(read.provider_message_id.starts_with("watermark:"));
    assert_eq!(read.customer.id, "6011223344556677");
    assert_eq!(
        (postback.text.as_deref(), postback.postback.as_deref()),
        (Some("Talk to an agent"), Some("AGENT"))
    );
    assert_eq!(
        image.attachments[0].url.as_deref(),
        Some("https://scontent.example/box.jpg")
    );
    assert_eq!(
        (reaction.reaction.as_deref(), reaction.reply_to.as_deref()),
        (Some("❤"), Some("m_outbound-3"))
    );
    let [mention] = <[Message; 1]>::try_from(messages("meta", "instagram-mention").await).unwrap();
    assert_eq!(mention.visibility, Some(Visibility::Public));
    assert_eq!(mention.post_id.as_deref(), Some("17900000000000003"));
}

#[tokio::test]
async fn line_locations_and_files_and_telegram_voice_and_locations() {
    let [location, file] =
        <[Message; 2]>::try_from(messages("line", "location-and-file").await).unwrap();
    assert_eq!(
        location.attachments[0].url.as_deref(),
        Some("geo:37.7936,-122.395")
    );
    assert_eq!(
        (
            file.attachments[0].name.as_deref(),
            file.attachments[0].size
        ),
        (Some("label.pdf"), Some(2048))
    );
    let [voice] = <[Message; 1]>::try_from(messages("telegram", "voice").await).unwrap();
    assert_eq!(voice.attachments[0].kind, AttachmentKind::Audio);
    let [place] = <[Message; 1]>::try_from(messages("telegram", "location").await).unwrap();
    assert_eq!(
        place.attachments[0].url.as_deref(),
        Some("geo:35.6812,139.7671")
    );
    assert!(
        messages("telegram", "callback-query").await.is_empty(),
        "acknowledged, not stored"
    );
}

#[tokio::test]
async fn a_messenger_reaction_made_again_later_is_a_new_event() {
    use hmac::{Hmac, Mac};
    let now = gateway_tests::test_now();
    let sample = find(
        &social_events(now),
        "meta",
        "messenger-postback-attachment-reaction",
    );
    let g = memory_gateway_for(Channel::Social);
    assert_eq!(
        g.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );
    // The customer takes the reaction back and gives it again a few seconds later: the same
    // message id, action and emoji, a new time.
    let at = format!("\"timestamp\":{}", now * 1000 - 700);
    let later = format!("\"timestamp\":{}", now * 1000 + 4_300);
    let mut again = fixtures::tamper(sample, &at, &later);
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(fixtures::META_APP_SECRET.as_bytes()).unwrap();
    mac.update(&again.body());
    again.event["headers"]["x-hub-signature-256"] =
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())).into();
    assert_eq!(
        g.gateway.handle(incoming(&again)).await.status.as_u16(),
        200
    );
    let reactions: Vec<Message> = g
        .queued()
        .await
        .into_iter()
        .filter(|m| m.reaction.is_some())
        .collect();
    assert_eq!(
        reactions.len(),
        2,
        "the second reaction is kept, not taken for a retry"
    );
}

#[tokio::test]
async fn telegram_update_ids_are_scoped_by_the_bot_the_url_names() {
    // Two bots' updates can carry the same update_id: each is its own message, and each bot
    // is its own business endpoint. A redelivery to the same bot is still one message.
    let sample = find(
        &social_events(gateway_tests::test_now()),
        "telegram",
        "message",
    );
    let at = |query: &str| {
        let mut s = sample.clone();
        s.event["rawQueryString"] = serde_json::json!(query);
        s
    };
    let g = memory_gateway_for(Channel::Social);
    for query in ["bot=support_bot", "bot=Sales_Bot", "bot=support_bot", ""] {
        let response = g.gateway.handle(incoming(&at(query))).await;
        assert_eq!(response.status.as_u16(), 200, "{query}: {}", response.body);
    }
    let stored = g.store.messages();
    assert_eq!(stored.len(), 3, "support, sales, and the URL without a bot");
    let mut businesses: Vec<&str> = stored.iter().map(|m| m.business.id.as_str()).collect();
    businesses.sort_unstable();
    assert_eq!(
        businesses,
        [
            "telegram-bot",
            "telegram-bot:sales_bot",
            "telegram-bot:support_bot"
        ]
    );
    let response = g.gateway.handle(incoming(&at("bot=a%20b"))).await;
    assert_eq!(
        response.status.as_u16(),
        400,
        "a bot name no username can have"
    );
}
