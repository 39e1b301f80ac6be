//! What the e-mail providers' samples normalise into: addresses, subject, the new text
//! without the quoted history, threading, attachments in the bucket; Mailgun's token replay;
//! SNS certificates and subscription confirmations; a large attachment as a claim check.

use gateway_shared::pipeline::{Gateway, Ports, Response};
use gateway_shared::providers::email::ses::{CertPolicy, Ses};
use gateway_shared::schema::{AttachmentKind, Channel, Message};
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::MemoryStore;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, BUSINESS_EMAIL, EMAIL_TEXT, Sample, find};
use gateway_tests::{MemoryGateway, incoming, memory_gateway_for, schema_validator, standins};
use std::sync::Arc;

fn now() -> i64 {
    gateway_tests::test_now()
}

fn samples() -> Vec<Sample> {
    fixtures::email_events(now(), &standins::url())
}

async fn send(g: &MemoryGateway, sample: &Sample) -> Response {
    g.gateway.handle(incoming(sample)).await
}

async fn one(provider: &str, case: &str) -> (Message, MemoryGateway) {
    let g = memory_gateway_for(Channel::Email);
    let response = send(&g, &find(&samples(), provider, case)).await;
    assert_eq!(
        response.status.as_u16(),
        200,
        "{provider}-{case}: {}",
        response.body
    );
    let queued = g.queued().await;
    assert_eq!(queued.len(), 1, "{provider}-{case}: one message");
    let m = queued[0].clone();
    assert!(
        schema_validator().is_valid(&serde_json::to_value(&m).unwrap()),
        "{provider}-{case} matches the JSON Schema"
    );
    (m, g)
}

fn assert_from_jane(m: &Message) {
    assert_eq!(
        m.customer.email.as_deref(),
        Some("Jane.Doe@example.com"),
        "domain lower-cased"
    );
    assert_eq!(m.customer.key, "email:Jane.Doe@example.com");
    assert_eq!(m.business.email.as_deref(), Some(BUSINESS_EMAIL));
}

/// The conversation of a thread whose root is `root`.
fn thread(m: &Message, root: &str) -> String {
    gateway_shared::schema::conversation_id(
        Channel::Email,
        &m.business.key,
        &format!("thread:{root}"),
    )
}

#[tokio::test]
async fn every_provider_gives_sender_subject_new_text_and_thread() {
    for (provider, case, message_id, root, text) in [
        (
            "mailgun",
            "form-text",
            "m1.mailgun@mail.example",
            "m1.mailgun@mail.example",
            EMAIL_TEXT,
        ),
        (
            "mailgun",
            "mime-reply",
            "m3.mailgun@mail.example",
            "m1.mailgun@mail.example",
            "Thanks, the tracking link works now.",
        ),
        (
            "sendgrid",
            "parsed-attachment",
            "m2.sendgrid@mail.example",
            "m1.sendgrid@mail.example",
            "Thanks, the tracking link works now.",
        ),
        (
            "sendgrid",
            "raw-mime",
            "m3.sendgrid@mail.example",
            "m3.sendgrid@mail.example",
            EMAIL_TEXT,
        ),
        (
            "postmark",
            "inbound-reply",
            "m2.postmark@mail.example",
            "m1.postmark@mail.example",
            "Thanks, the tracking link works now.",
        ),
        (
            "ses",
            "notification-v1",
            "m1.ses@mail.example",
            "m1.ses@mail.example",
            EMAIL_TEXT,
        ),
        (
            "ses",
            "notification-v2-base64",
            "m2.ses@mail.example",
            "m1.ses@mail.example",
            "Thanks, the tracking link works now.",
        ),
    ] {
        let (m, _) = one(provider, case).await;
        let label = format!("{provider}-{case}");
        assert_from_jane(&m);
        let email = m.email.as_ref().expect("the email block");
        assert_eq!(email.message_id.as_deref(), Some(message_id), "{label}");
        assert!(
            email
                .subject
                .as_deref()
                .unwrap()
                .contains("Where is my order?"),
            "{label}"
        );
        assert_eq!(m.text.as_deref(), Some(text), "{label}: the new text only");
        assert!(
            email.full_text.as_deref().unwrap().contains(text),
            "{label}: the full text keeps everything"
        );
        assert_eq!(
            m.conversation_id,
            thread(&m, root),
            "{label}: threaded on {root}"
        );
        if message_id != root {
            assert!(
                m.reply_to.is_some(),
                "{label}: a reply names what it replies to"
            );
            assert!(
                email
                    .full_text
                    .as_deref()
                    .unwrap()
                    .contains("> Could you send us"),
                "{label}: the quote is kept in full_text"
            );
        }
    }
}

#[tokio::test]
async fn a_reply_joins_its_first_message_conversation_across_providers_of_one_thread() {
    let (first, _) = one("ses", "notification-v1").await;
    let (reply, _) = one("ses", "notification-v2-base64").await;
    assert_eq!(first.conversation_id, reply.conversation_id);
    assert_ne!(first.id, reply.id);
    let (other, _) = one("sendgrid", "raw-mime").await;
    assert_ne!(
        other.conversation_id, first.conversation_id,
        "another thread"
    );
}

#[tokio::test]
async fn attachments_are_stored_in_the_bucket_and_referenced() {
    for (provider, case, size) in [
        ("mailgun", "multipart-attachment", 2048),
        ("sendgrid", "parsed-attachment", 4096),
        ("postmark", "inbound-reply", 1024),
        ("ses", "notification-v1", 1536),
    ] {
        let (m, g) = one(provider, case).await;
        assert_eq!(m.attachments.len(), 1, "{provider}-{case}");
        let a = &m.attachments[0];
        assert_eq!(a.kind, AttachmentKind::File);
        assert_eq!(a.name.as_deref(), Some("receipt.pdf"));
        assert_eq!(a.mime_type.as_deref(), Some("application/pdf"));
        assert_eq!(a.size, Some(size));
        let content = a.content.as_ref().expect("a reference to the bytes");
        let (content_type, bytes) = g
            .blobs
            .get(&content.key)
            .expect("the bytes are in the bucket");
        assert_eq!(content_type, "application/pdf");
        assert_eq!(bytes.to_vec(), fixtures::receipt(size as usize));
    }
}

#[tokio::test]
async fn html_only_mail_gets_text_made_from_the_html() {
    let mut body = fixtures::postmark_body("html-only@mail.example", b"x");
    body["TextBody"] = serde_json::json!("");
    body["StrippedTextReply"] = serde_json::json!("");
    body["HtmlBody"] = serde_json::json!("<p>It <b>still</b> hasn&#39;t come</p>");
    let sample = fixtures::postmark_request(
        "html-only",
        find(&samples(), "postmark", "inbound-reply").expect,
        &body,
        now(),
    );
    let g = memory_gateway_for(Channel::Email);
    assert_eq!(send(&g, &sample).await.status.as_u16(), 200);
    let m = g.queued().await[0].clone();
    assert_eq!(m.text.as_deref(), Some("It still hasn't come"));
    assert!(m.email.unwrap().html.unwrap().contains("<b>still</b>"));
}

#[tokio::test]
async fn a_mailgun_token_is_refused_with_another_mail_but_a_redelivery_is_fine() {
    let g = memory_gateway_for(Channel::Email);
    let original = find(&samples(), "mailgun", "form-text");
    assert_eq!(send(&g, &original).await.status.as_u16(), 200);
    // Mailgun redelivers: the same request, or the same token signed again later.
    assert_eq!(send(&g, &original).await.status.as_u16(), 200);
    let later = fixtures::email_events(now() + 60, &standins::url());
    assert_eq!(
        send(&g, &find(&later, "mailgun", "form-text"))
            .await
            .status
            .as_u16(),
        200
    );
    assert_eq!(g.store.messages().len(), 1);
    // The signed token and timestamp on another mail (the signature does not cover the body).
    let forged = fixtures::tamper(
        original.clone(),
        "m1.mailgun%40mail.example",
        "m9.mailgun%40mail.example",
    );
    let response = send(&g, &forged).await;
    assert_eq!(response.status.as_u16(), 401, "{}", response.body);
    // The same mail with its text changed: that mail is already stored, nothing changes.
    let altered = fixtures::tamper(original, "4411", "9999");
    assert_eq!(send(&g, &altered).await.status.as_u16(), 200);
    assert_eq!(g.store.messages().len(), 1);
    assert!(
        g.store.messages()[0]
            .text
            .as_deref()
            .unwrap()
            .contains("4411")
    );
}

fn ses_gateway(policy: CertPolicy) -> (Gateway, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    let gateway = Gateway::new(
        Channel::Email,
        vec![Box::new(Ses::new(policy))],
        gateway_tests::settings(Channel::Email),
        Ports {
            store: store.clone(),
            blobs: Arc::new(gateway_shared::blob::MemoryBlobs::default()),
            secrets: Arc::new(StaticSecrets(
                ChannelSecrets::from_json(&fixtures::email_secret().to_string()).unwrap(),
            )),
            metrics: Arc::new(MemorySink::default()),
            clock: Arc::new(chrono::Utc::now),
        },
    );
    (gateway, store)
}

#[tokio::test]
async fn sns_subscriptions_are_confirmed_once_verified() {
    // This process's own stand-in, so its confirmation count is readable here.
    let base = standins::base_url();
    let (gateway, store) = ses_gateway(CertPolicy::Prefix(format!("{base}/sns/")));
    let samples = fixtures::email_events(now(), base);
    let before = standins::CONFIRMATIONS.load(std::sync::atomic::Ordering::SeqCst);
    let response = gateway
        .handle(incoming(&find(
            &samples,
            "ses",
            "subscription-confirmation",
        )))
        .await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    assert_eq!(
        standins::CONFIRMATIONS.load(std::sync::atomic::Ordering::SeqCst),
        before + 1,
        "the SubscribeURL was visited"
    );
    assert!(store.messages().is_empty());
}

#[tokio::test]
async fn sns_certificates_come_only_from_sns_hosts() {
    // With AWS's rule, the stand-in's certificate URL is never fetched: 401, not 5xx.
    let (gateway, store) = ses_gateway(CertPolicy::AwsSns);
    let response = gateway
        .handle(incoming(&find(&samples(), "ses", "notification-v1")))
        .await;
    assert_eq!(response.status.as_u16(), 401);
    assert!(store.messages().is_empty());

    // An allowed host that cannot be reached is transient: 5xx, so SNS retries.
    let unreachable = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    };
    let (gateway, _) = ses_gateway(CertPolicy::Prefix(format!("{unreachable}/sns/")));
    let samples = fixtures::email_events(now(), &unreachable);
    let response = gateway
        .handle(incoming(&find(&samples, "ses", "notification-v1")))
        .await;
    assert_eq!(response.status.as_u16(), 502);
}

#[tokio::test]
async fn a_large_attachment_arrives_as_a_reference_and_the_message_stays_small() {
    let g = memory_gateway_for(Channel::Email);
    let big = fixtures::receipt(600 * 1024);
    let body = fixtures::postmark_body("large@mail.example", &big);
    let expect = find(&samples(), "postmark", "inbound-reply").expect;
    let sample = fixtures::postmark_request("large-attachment", expect, &body, now());
    assert!(sample.body().len() > 800 * 1024);
    let response = send(&g, &sample).await;
    assert_eq!(response.status.as_u16(), 200, "{}", response.body);
    let m = g.queued().await[0].clone();
    assert!(
        serde_json::to_vec(&m).unwrap().len() < 16 * 1024,
        "only references are queued"
    );
    let content = m.attachments[0].content.as_ref().unwrap();
    assert_eq!(content.size, big.len() as u64);
    assert_eq!(g.blobs.get(&content.key).unwrap().1.len(), big.len());
    assert!(matches!(
        g.store.stored()[0].raw,
        gateway_shared::store::Raw::Object(_)
    ));
}
