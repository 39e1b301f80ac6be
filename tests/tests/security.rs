//! Regression tests for the security review of 440859e (`../shared/reviews/`): each fails on
//! that commit and passes now. On in-memory adapters through the whole pipeline; the X
//! forgery is also proven end to end through the served function (`served.rs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use gateway_shared::blob::MemoryBlobs;
use gateway_shared::pipeline::{Gateway, Incoming, Ports, Response, Settings};
use gateway_shared::schema::{Channel, Message};
use gateway_shared::secrets::{ChannelSecrets, StaticSecrets};
use gateway_shared::store::MemoryStore;
use gateway_shared::telemetry::MemorySink;
use gateway_tests::fixtures::{self, find};
use gateway_tests::{incoming, providers, standins};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::Sha256;
use std::sync::Arc;

struct Test {
    gateway: Gateway,
    store: Arc<MemoryStore>,
    metrics: MemorySink,
}

/// A channel's gateway with `secret` (the channel's test secret when `None`), the clock at
/// `now` and the given public base URL.
fn gateway(
    channel: Channel,
    secret: Option<Value>,
    public_base_url: Option<String>,
    now: i64,
) -> Test {
    let secret = secret.unwrap_or_else(|| fixtures::channel_secret(channel.as_str()));
    let store = Arc::new(MemoryStore::default());
    let metrics = MemorySink::default();
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap();
    let gateway = Gateway::new(
        channel,
        providers(channel),
        Settings {
            public_base_url,
            max_body_bytes: 1024 * 1024,
            signature_tolerance_secs: 300,
            claim_check_bytes: 200 * 1024,
        },
        Ports {
            store: store.clone(),
            blobs: Arc::new(MemoryBlobs::default()),
            secrets: Arc::new(StaticSecrets(
                ChannelSecrets::from_json(&secret.to_string()).unwrap(),
            )),
            metrics: Arc::new(metrics.clone()),
            clock: Arc::new(move || at),
        },
    );
    Test {
        gateway,
        store,
        metrics,
    }
}

fn base(channel: Channel) -> Option<String> {
    Some(fixtures::public_base_url(channel.as_str()))
}

fn request(
    path: &str,
    method: Method,
    query: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Incoming {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Incoming {
        method,
        path: path.to_string(),
        raw_query: query.to_string(),
        headers: map,
        body: Ok(Bytes::copy_from_slice(body)),
    }
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

fn hmac1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
    parts.iter().for_each(|p| mac.update(p));
    mac.finalize().into_bytes().to_vec()
}

fn now() -> i64 {
    gateway_tests::test_now()
}

/// Every keyed value anyone could want from an answer: HMACs of each caller-chosen text with
/// each configured key, as hex and base64.
fn keyed_values(secret: &Value, chosen: &[Vec<u8>]) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    strings(secret, &mut keys);
    let mut out = Vec::new();
    for key in &keys {
        for text in chosen {
            for mac in [
                hmac256(key.as_bytes(), &[text]),
                hmac1(key.as_bytes(), &[text]),
            ] {
                out.push(hex::encode(&mac));
                out.push(STANDARD.encode(&mac));
            }
        }
    }
    out
}

fn assert_nothing_keyed(response: &Response, secret: &Value, chosen: &[Vec<u8>], what: &str) {
    for value in keyed_values(secret, chosen) {
        assert!(
            !response.body.contains(&value),
            "{what}: the answer carries a MAC of caller-chosen bytes: {}",
            response.body
        );
    }
}

#[tokio::test]
async fn the_x_crc_answers_only_a_signed_request_and_never_signs_a_body() {
    let forged = fixtures::dm_body_for_crc();
    let secret = fixtures::channel_secret("social");
    let t = gateway(Channel::Social, None, base(Channel::Social), now());
    let query =
        serde_urlencoded::to_string([("crc_token", forged.as_str()), ("nonce", "n1")]).unwrap();
    // The audit's proof of concept: the CRC answer for a JSON body was a POST signature.
    let answer = t
        .gateway
        .handle(request("/social/x", Method::GET, &query, &[], b""))
        .await;
    assert_eq!(answer.status.as_u16(), 401, "{}", answer.body);
    assert_nothing_keyed(
        &answer,
        &secret,
        &[forged.clone().into_bytes(), query.clone().into_bytes()],
        "unsigned CRC",
    );
    let token = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["response_token"].as_str().map(str::to_string));
    let post = t
        .gateway
        .handle(request(
            "/social/x",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                (
                    "x-twitter-webhooks-signature",
                    token.unwrap_or_else(|| "sha256=".into()),
                ),
            ],
            forged.as_bytes(),
        ))
        .await;
    assert_eq!(post.status.as_u16(), 401);
    assert!(t.store.messages().is_empty(), "nothing forged is stored");

    // Signed by X (the test knows the key) but shaped like a body: refused, nothing keyed.
    let signature = format!(
        "sha256={}",
        STANDARD.encode(hmac256(
            fixtures::X_CONSUMER_SECRET.as_bytes(),
            &[query.as_bytes()]
        ))
    );
    let signed_json = t
        .gateway
        .handle(request(
            "/social/x",
            Method::GET,
            &query,
            &[("x-twitter-webhooks-signature", signature)],
            b"",
        ))
        .await;
    assert_eq!(signed_json.status.as_u16(), 400);
    assert_nothing_keyed(
        &signed_json,
        &secret,
        &[forged.into_bytes()],
        "JSON-shaped token",
    );
    // A wrongly signed, well-shaped token: 401, no answer.
    let shaped = format!("crc_token={}&nonce=n1", fixtures::X_CRC_TOKEN);
    let wrong = t
        .gateway
        .handle(request(
            "/social/x",
            Method::GET,
            &shaped,
            &[("x-twitter-webhooks-signature", "sha256=AAAA".into())],
            b"",
        ))
        .await;
    assert_eq!(wrong.status.as_u16(), 401);
    assert_nothing_keyed(
        &wrong,
        &secret,
        &[fixtures::X_CRC_TOKEN.as_bytes().to_vec()],
        "wrongly signed CRC",
    );
}

/// Every handshake and echo the gateway answers: sent unsigned or wrongly signed, with bytes
/// the caller chose, none is answered with a keyed value (nor, where it echoes, the echo).
#[tokio::test]
async fn no_handshake_or_echo_is_answered_before_verification() {
    let chosen = b"{\"for_user_id\":\"1\",\"direct_message_events\":[]}".to_vec();
    let chosen_text = String::from_utf8(chosen.clone()).unwrap();
    let json = || ("content-type", "application/json".to_string());
    let cases: Vec<(Channel, &str, Incoming)> = vec![
        (
            Channel::Social,
            "meta: a wrong verify token",
            request(
                "/social/meta",
                Method::GET,
                &serde_urlencoded::to_string([
                    ("hub.mode", "subscribe"),
                    ("hub.verify_token", "guess"),
                    ("hub.challenge", chosen_text.as_str()),
                ])
                .unwrap(),
                &[],
                b"",
            ),
        ),
        (
            Channel::Social,
            "meta: no verify token",
            request(
                "/social/meta",
                Method::GET,
                &serde_urlencoded::to_string([("hub.mode", "subscribe"), ("hub.challenge", chosen_text.as_str())]).unwrap(),
                &[],
                b"",
            ),
        ),
        (
            Channel::Chat,
            "slack: url_verification with a wrong signature",
            request(
                "/chat/slack",
                Method::POST,
                "",
                &[
                    json(),
                    ("x-slack-request-timestamp", now().to_string()),
                    ("x-slack-signature", format!("v0={}", "0".repeat(64))),
                ],
                json!({"type": "url_verification", "challenge": chosen_text}).to_string().as_bytes(),
            ),
        ),
        (
            Channel::Chat,
            "sunshine: a POST with a wrong key",
            request("/chat/sunshine", Method::POST, "", &[json(), ("x-api-key", "guess".into())], &chosen),
        ),
        (
            Channel::Social,
            "line: the verify request with a wrong signature",
            request(
                "/social/line",
                Method::POST,
                "",
                &[json(), ("x-line-signature", STANDARD.encode([0u8; 32]))],
                br#"{"destination":"U0","events":[]}"#,
            ),
        ),
        (
            Channel::Social,
            "viber: the webhook callback with a wrong signature",
            request(
                "/social/viber",
                Method::POST,
                "",
                &[json(), ("x-viber-content-signature", "00".repeat(32))],
                br#"{"event":"webhook","timestamp":1,"message_token":1}"#,
            ),
        ),
        (
            Channel::Chat,
            "intercom: a ping with a wrong signature",
            request(
                "/chat/intercom",
                Method::POST,
                "",
                &[json(), ("x-hub-signature", format!("sha1={}", "0".repeat(40)))],
                br#"{"type":"notification_event","topic":"ping","data":{"item":{"type":"ping","message":"hi"}}}"#,
            ),
        ),
        (
            Channel::Email,
            "ses: a subscription confirmation with a wrong signature",
            request(
                "/email/ses",
                Method::POST,
                "",
                &[("content-type", "text/plain".into()), ("x-amz-sns-message-type", "SubscriptionConfirmation".into())],
                json!({"Type": "SubscriptionConfirmation", "MessageId": "m", "Token": chosen_text,
                       "TopicArn": fixtures::SES_TOPIC_ARN, "Message": chosen_text,
                       "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
                       "Timestamp": "2026-11-23T11:58:01.000Z", "SignatureVersion": "1",
                       "Signature": STANDARD.encode([0u8; 256]),
                       "SigningCertURL": format!("{}/sns/SimpleNotificationService-test.pem", standins::url())})
                    .to_string()
                    .as_bytes(),
            ),
        ),
    ];
    for (channel, what, req) in cases {
        let secret = fixtures::channel_secret(channel.as_str());
        let t = gateway(channel, None, base(channel), now());
        let answer = t.gateway.handle(req).await;
        assert!(
            answer.status.is_client_error(),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert!(
            !answer.body.contains("for_user_id"),
            "{what}: echoed: {}",
            answer.body
        );
        assert_nothing_keyed(&answer, &secret, std::slice::from_ref(&chosen), what);
        assert!(t.store.messages().is_empty(), "{what}");
    }
    // Sunshine's target check is the one unsigned answer: an empty 200.
    let t = gateway(Channel::Chat, None, base(Channel::Chat), now());
    let head = t
        .gateway
        .handle(request("/chat/sunshine", Method::HEAD, "", &[], b""))
        .await;
    assert_eq!((head.status.as_u16(), head.body.as_str()), (200, ""));
}

#[tokio::test]
async fn blank_short_and_empty_keys_are_refused_when_loaded_and_their_provider_fails_closed() {
    let secret = json!({
        "webchat": "whsec_",
        "slack": " ",
        "crisp": "short-secret",
        "postmark": "user:",
    });
    let t = gateway(Channel::Chat, Some(secret), base(Channel::Chat), now());
    // The audit's proof of concept: a web chat message signed with the empty key `whsec_`
    // decoded to.
    let body = fixtures::webchat_body(now()).to_string();
    let ts = now().to_string();
    let sig = STANDARD.encode(hmac256(
        b"",
        &[b"msg_forged.", ts.as_bytes(), b".", body.as_bytes()],
    ));
    let forged = t
        .gateway
        .handle(request(
            "/chat/webchat",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                ("webhook-id", "msg_forged".into()),
                ("webhook-timestamp", ts.clone()),
                ("webhook-signature", format!("v1,{sig}")),
            ],
            body.as_bytes(),
        ))
        .await;
    assert_eq!(forged.status.as_u16(), 401);
    // A Slack request signed with the blank key.
    let slack_body = br#"{"type":"event_callback","event_id":"Ev1","team_id":"T1","event":{"type":"message","user":"U1","text":"hi","ts":"1.1","channel":"D1","channel_type":"im"}}"#;
    let slack_sig = hex::encode(hmac256(b" ", &[b"v0:", ts.as_bytes(), b":", slack_body]));
    let slack = t
        .gateway
        .handle(request(
            "/chat/slack",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                ("x-slack-request-timestamp", ts),
                ("x-slack-signature", format!("v0={slack_sig}")),
            ],
            slack_body,
        ))
        .await;
    assert_eq!(slack.status.as_u16(), 401);
    assert!(t.store.messages().is_empty());
    let lines = t.metrics.0.lock().unwrap().clone();
    for provider in ["webchat", "slack", "crisp"] {
        assert!(
            lines.iter().any(|l| l.contains("SecretRejected")
                && l.contains(&format!("\"provider\":\"{provider}\""))),
            "{provider}'s refused entry is counted"
        );
    }
    assert!(
        lines.iter().all(|l| !l.contains("short-secret")),
        "never the key"
    );

    // Postmark (a chat gateway cannot serve it): `Basic IA==` (" ") against a blank key.
    let t = gateway(
        Channel::Email,
        Some(json!({"postmark": " "})),
        base(Channel::Email),
        now(),
    );
    let answer = t
        .gateway
        .handle(request(
            "/email/postmark",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                ("authorization", "Basic IA==".into()),
            ],
            &serde_json::to_vec(&fixtures::postmark_body("m@x", b"")).unwrap(),
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 401);

    // Meta's blank verify token no longer answers any caller's handshake.
    let t = gateway(
        Channel::Social,
        Some(json!({"meta": {"keys": [fixtures::META_APP_SECRET], "verify_token": ""}})),
        base(Channel::Social),
        now(),
    );
    let answer = t
        .gateway
        .handle(request(
            "/social/meta",
            Method::GET,
            "hub.mode=subscribe&hub.challenge=42",
            &[],
            b"",
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 403);
    assert_ne!(answer.body, "42");
}

#[tokio::test]
async fn the_signed_url_is_the_configured_public_url_never_a_forwarded_host() {
    // A signature Twilio made for another deployment's URL, replayed with X-Forwarded-Host.
    let staging = "https://staging-hooks.example.net/sms/twilio";
    let params = [
        ("MessageSid", "SM9"),
        ("From", "+14155550100"),
        ("To", "+12025550123"),
        ("Body", "hi"),
    ];
    let signature = fixtures::twilio_signature(fixtures::TWILIO_AUTH_TOKEN, staging, &params);
    let replay = |headers: Vec<(&'static str, String)>| {
        let mut all = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("x-twilio-signature", signature.clone()),
        ];
        all.extend(headers);
        request(
            "/sms/twilio",
            Method::POST,
            "",
            &all,
            &fixtures::form(&params),
        )
    };
    for public in [None, base(Channel::Sms)] {
        let t = gateway(Channel::Sms, None, public.clone(), now());
        let answer = t
            .gateway
            .handle(replay(vec![
                ("x-forwarded-host", "staging-hooks.example.net".into()),
                ("host", "staging-hooks.example.net".into()),
                ("x-forwarded-proto", "https".into()),
            ]))
            .await;
        assert_eq!(
            answer.status.as_u16(),
            401,
            "with PUBLIC_BASE_URL {public:?}"
        );
        assert!(t.store.messages().is_empty());
    }
    // Without PUBLIC_BASE_URL even a request signed for the real URL is refused: fail closed.
    let sample = find(&fixtures::sms_events(now()), "twilio", "inbound-text");
    let t = gateway(Channel::Sms, None, None, now());
    assert_eq!(
        t.gateway.handle(incoming(&sample)).await.status.as_u16(),
        401
    );
    let t = gateway(Channel::Sms, None, base(Channel::Sms), now());
    assert_eq!(
        t.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );
}

#[tokio::test]
async fn twilio_shared_keys_sign_only_with_the_settings_header_and_auth_tokens_only_without() {
    let shared = "test-twilio-shared-key-0001";
    let secret =
        json!({"twilio": {"keys": [fixtures::TWILIO_AUTH_TOKEN], "shared_keys": [shared]}});
    let url = format!("{}/twilio", fixtures::public_base_url("sms"));
    let params = [
        ("MessageSid", "SM10"),
        ("From", "+14155550100"),
        ("To", "+12025550123"),
        ("Body", "shared"),
    ];
    let string_to_sign = {
        let mut sorted = params.to_vec();
        sorted.sort();
        sorted.iter().fold(url.clone(), |acc, (k, v)| acc + k + v)
    };
    let sign = |key: &str, sha256: bool| {
        STANDARD.encode(if sha256 {
            hmac256(key.as_bytes(), &[string_to_sign.as_bytes()])
        } else {
            hmac1(key.as_bytes(), &[string_to_sign.as_bytes()])
        })
    };
    let settings = "key=KS0001,algorithm=HMAC_SHA256";
    let cases = [
        (
            "the shared key, SHA-256, with the header",
            sign(shared, true),
            Some(settings),
            200,
        ),
        (
            "the Auth Token, SHA-256, with the header",
            sign(fixtures::TWILIO_AUTH_TOKEN, true),
            Some(settings),
            401,
        ),
        (
            "the shared key, SHA-1, without the header",
            sign(shared, false),
            None,
            401,
        ),
        (
            "the Auth Token, SHA-1, without the header",
            sign(fixtures::TWILIO_AUTH_TOKEN, false),
            None,
            200,
        ),
        (
            "an unknown algorithm",
            sign(shared, true),
            Some("key=KS0001,algorithm=HMAC_MD5"),
            401,
        ),
    ];
    for (what, signature, header, status) in cases {
        let t = gateway(
            Channel::Sms,
            Some(secret.clone()),
            base(Channel::Sms),
            now(),
        );
        let mut headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("x-twilio-signature", signature),
        ];
        if let Some(h) = header {
            headers.push(("x-twilio-webhooks-signature-settings", h.to_string()));
        }
        let answer = t
            .gateway
            .handle(request(
                "/sms/twilio",
                Method::POST,
                "",
                &headers,
                &fixtures::form(&params),
            ))
            .await;
        assert_eq!(answer.status.as_u16(), status, "{what}");
    }
    // The header with no shared key configured: refused (not the Auth Tokens instead).
    let t = gateway(Channel::Sms, None, base(Channel::Sms), now());
    let answer = t
        .gateway
        .handle(request(
            "/sms/twilio",
            Method::POST,
            "",
            &[
                ("content-type", "application/x-www-form-urlencoded".into()),
                (
                    "x-twilio-signature",
                    sign(fixtures::TWILIO_AUTH_TOKEN, true),
                ),
                ("x-twilio-webhooks-signature-settings", settings.into()),
            ],
            &fixtures::form(&params),
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 401);
}

#[tokio::test]
async fn twilio_urls_whose_query_twilio_re_encodes_pass_as_twilio_node_accepts_them() {
    // On the wire `a+b`; Twilio signed the query as Node's querystring writes it, `a%20b`.
    let params = [
        ("MessageSid", "SM11"),
        ("From", "+14155550100"),
        ("To", "+12025550123"),
        ("Body", "q"),
    ];
    let signed_url = format!(
        "{}/twilio?tenant=a%20b&x=~",
        fixtures::public_base_url("sms")
    );
    let signature = fixtures::twilio_signature(fixtures::TWILIO_AUTH_TOKEN, &signed_url, &params);
    let t = gateway(Channel::Sms, None, base(Channel::Sms), now());
    let answer = t
        .gateway
        .handle(request(
            "/sms/twilio",
            Method::POST,
            "tenant=a+b&x=~",
            &[
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("x-twilio-signature", signature),
            ],
            &fixtures::form(&params),
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    // A query that re-encodes to something else is still another URL.
    let t = gateway(Channel::Sms, None, base(Channel::Sms), now());
    let signature = fixtures::twilio_signature(fixtures::TWILIO_AUTH_TOKEN, &signed_url, &params);
    let answer = t
        .gateway
        .handle(request(
            "/sms/twilio",
            Method::POST,
            "tenant=a+c&x=~",
            &[
                ("content-type", "application/x-www-form-urlencoded".into()),
                ("x-twilio-signature", signature),
            ],
            &fixtures::form(&params),
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 401);
}

fn mailgun_form(token: &str, at: i64, sender: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let signature = fixtures::mailgun_signature(at, token);
    let mut fields: Vec<(&str, String)> = vec![
        ("recipient", fixtures::BUSINESS_EMAIL.into()),
        ("sender", sender.into()),
        ("from", sender.into()),
        ("subject", "Change my bank details".into()),
        ("body-plain", "Please use IBAN XX00.".into()),
        ("timestamp", at.to_string()),
        ("token", token.into()),
    ];
    fields.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    if !extra.iter().any(|(k, _)| *k == "signature") {
        fields.push(("signature", signature));
    }
    serde_urlencoded::to_string(&fields).unwrap().into_bytes()
}

fn mailgun_post(body: Vec<u8>) -> Incoming {
    request(
        "/email/mailgun",
        Method::POST,
        "",
        &[("content-type", "application/x-www-form-urlencoded".into())],
        &body,
    )
}

#[tokio::test]
async fn a_mailgun_token_carries_its_first_mail_only_and_subaccount_signatures_pass() {
    let t = gateway(Channel::Email, None, base(Channel::Email), now());
    let token = "0000000000000000000000000000000000000000000000rebind";
    let first = mailgun_form(token, now(), "jane@example.com", &[]);
    assert_eq!(
        t.gateway
            .handle(mailgun_post(first.clone()))
            .await
            .status
            .as_u16(),
        200
    );
    // The same mail again (a retry): acknowledged, not stored twice.
    assert_eq!(
        t.gateway.handle(mailgun_post(first)).await.status.as_u16(),
        200
    );
    assert_eq!(t.store.messages().len(), 1);
    // The audit's replay: the same signed trio, another sender (the mail has no Message-Id).
    let replay = mailgun_form(token, now(), "ceo@victim.example", &[]);
    let answer = t.gateway.handle(mailgun_post(replay)).await;
    assert_eq!(answer.status.as_u16(), 401);
    assert_eq!(t.store.messages().len(), 1, "the replay stored nothing");
    // A subaccount's mail: the primary account's key signs `parent-signature`.
    let other = "0000000000000000000000000000000000000000000subacct";
    let parent = fixtures::mailgun_signature(now(), other);
    let sub = mailgun_form(
        other,
        now(),
        "joe@example.com",
        &[("signature", "00"), ("parent-signature", &parent)],
    );
    assert_eq!(
        t.gateway.handle(mailgun_post(sub)).await.status.as_u16(),
        200
    );
}

async fn stored_one(t: &Test, req: Incoming) -> Message {
    let answer = t.gateway.handle(req).await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    let messages = t.store.messages();
    assert_eq!(messages.len(), 1);
    messages[0].clone()
}

#[tokio::test]
async fn an_unauthenticated_email_sender_never_becomes_the_verified_email_identity() {
    let headers = |list: Value| ("message-headers", list.to_string());
    let cases = [
        (
            "no verdicts (spam filter not marking)",
            json!([["Received", "from x by mxa.mailgun.org"]]),
            false,
        ),
        (
            "SPF pass above Mailgun's Received line",
            json!([
                ["X-Mailgun-Spf", "Pass"],
                ["Received", "from x by mxa.mailgun.org"]
            ]),
            true,
        ),
        (
            "the sender's own X-Mailgun-Spf, below Mailgun's Received line",
            json!([
                ["Received", "from x by mxa.mailgun.org"],
                ["X-Mailgun-Spf", "Pass"]
            ]),
            false,
        ),
        (
            "SPF fail",
            json!([
                ["X-Mailgun-Spf", "Fail"],
                ["Received", "from x by mxa.mailgun.org"]
            ]),
            false,
        ),
    ];
    for (i, (what, list, verified)) in cases.into_iter().enumerate() {
        let t = gateway(Channel::Email, None, base(Channel::Email), now());
        let (name, value) = headers(list);
        let token = format!("{:0>50}", format!("verdict{i}"));
        let m = stored_one(
            &t,
            mailgun_post(mailgun_form(
                &token,
                now(),
                "jane@example.com",
                &[(name, &value)],
            )),
        )
        .await;
        let auth = m.email.as_ref().unwrap().authentication.as_ref().unwrap();
        assert_eq!(auth.sender_verified, verified, "{what}");
        let want = if verified {
            "email:jane@example.com"
        } else {
            "unverified-email:jane@example.com"
        };
        assert_eq!(m.customer.key, want, "{what}");
    }
    // SES: DMARC failed, though SPF passed for the envelope sender.
    let t = gateway(Channel::Email, None, base(Channel::Email), now());
    let mut note: Value = serde_json::from_str(&fixtures::ses_notification(
        &fixtures::mime("spoof@x", None, "hi", None),
        false,
    ))
    .unwrap();
    note["receipt"]["dmarcVerdict"]["status"] = json!("FAIL");
    let sns = fixtures::sns_message("Notification", &note.to_string(), 2, &standins::url(), &[]);
    let m = stored_one(
        &t,
        request(
            "/email/ses",
            Method::POST,
            "",
            &[
                ("content-type", "text/plain".into()),
                ("x-amz-sns-message-type", "Notification".into()),
            ],
            sns.to_string().as_bytes(),
        ),
    )
    .await;
    assert!(
        m.customer.key.starts_with("unverified-email:"),
        "{}",
        m.customer.key
    );
}

#[tokio::test]
async fn timestamps_at_the_ends_of_i64_are_refused_not_a_panic_or_a_wrap() {
    // On 440859e, `(now - ts).abs()` overflowed before the MAC check: a panic in debug
    // builds, and in release i64::MIN.abs() == i64::MIN passed the window.
    let t = gateway(Channel::Chat, None, base(Channel::Chat), now());
    for ts in [i64::MIN.to_string(), i64::MAX.to_string()] {
        let answer = t
            .gateway
            .handle(request(
                "/chat/slack",
                Method::POST,
                "",
                &[
                    ("content-type", "application/json".into()),
                    ("x-slack-request-timestamp", ts.clone()),
                    ("x-slack-signature", format!("v0={}", "0".repeat(64))),
                ],
                b"{}",
            ))
            .await;
        assert_eq!(answer.status.as_u16(), 401, "slack {ts}");
    }
    let t = gateway(Channel::Voice, None, base(Channel::Voice), now());
    let body = b"{\"event\":\"call_analyzed\"}";
    let at = i64::MAX;
    let answer = t
        .gateway
        .handle(request(
            "/voice/retell",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                (
                    "x-retell-signature",
                    fixtures::retell_signature(fixtures::RETELL_API_KEY, body, at),
                ),
            ],
            body,
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 401, "retell at i64::MAX ms");
    let t = gateway(Channel::Email, None, base(Channel::Email), now());
    for at in [i64::MIN, i64::MAX] {
        let form = mailgun_form(&format!("{:0>50}", "overflow"), at, "jane@example.com", &[]);
        assert_eq!(
            t.gateway.handle(mailgun_post(form)).await.status.as_u16(),
            401,
            "mailgun {at}"
        );
    }
}

#[tokio::test]
async fn an_sns_certificate_outside_its_validity_is_refused() {
    let sample = find(
        &fixtures::email_events(now(), &standins::url()),
        "ses",
        "notification-v1",
    );
    let inside = gateway(Channel::Email, None, base(Channel::Email), now());
    assert_eq!(
        inside
            .gateway
            .handle(incoming(&sample))
            .await
            .status
            .as_u16(),
        200
    );
    // The test certificate expires in 2126.
    let after = gateway(Channel::Email, None, base(Channel::Email), 5_000_000_000);
    assert_eq!(
        after
            .gateway
            .handle(incoming(&sample))
            .await
            .status
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn retries_that_keep_their_first_signature_pass_within_the_providers_retry_horizons() {
    // SendGrid retries for 3 days: a mail signed 2 days ago is a retry, not a stale replay.
    let sample = find(
        &fixtures::email_events(now() - 2 * 86_400, &standins::url()),
        "sendgrid",
        "raw-mime",
    );
    let t = gateway(Channel::Email, None, base(Channel::Email), now());
    assert_eq!(
        t.gateway.handle(incoming(&sample)).await.status.as_u16(),
        200
    );
    // Crisp's verifier signs JSON.stringify of the parsed body, not the bytes sent.
    let sent = br#"{ "event" : "message:send", "website_id": "w1", "data": { "type": "text", "from": "user", "origin": "chat", "content": "Caf\u00e9 \/ order 4411", "fingerprint": 1, "user": {"user_id": "u1", "nickname": "Jane"}, "session_id": "s1", "timestamp": 1795435200000 }, "timestamp": 1795435200000 }"#;
    let ts = (now() * 1000).to_string();
    let signature = hex::encode(hmac256(
        fixtures::CRISP_HOOK_SECRET.as_bytes(),
        &[b"[", ts.as_bytes(), b";", CRISP_NODE_FORM.as_bytes(), b"]"],
    ));
    let t = gateway(Channel::Chat, None, base(Channel::Chat), now());
    let answer = t
        .gateway
        .handle(request(
            "/chat/crisp",
            Method::POST,
            "",
            &[
                ("content-type", "application/json".into()),
                ("x-crisp-signature", signature),
                ("x-crisp-request-timestamp", ts),
            ],
            sent,
        ))
        .await;
    assert_eq!(answer.status.as_u16(), 200, "{}", answer.body);
    assert_eq!(t.store.messages().len(), 1);
}

/// What Node prints for `JSON.stringify(JSON.parse(body))` of the Crisp body above: no
/// spaces, `\u00e9` and `\/` unescaped, keys in the body's order.
const CRISP_NODE_FORM: &str = concat!(
    r#"{"event":"message:send","website_id":"w1","data":{"type":"text","from":"user","origin":"chat","#,
    r#""content":"Café / order 4411","fingerprint":1,"user":{"user_id":"u1","nickname":"Jane"},"#,
    r#""session_id":"s1","timestamp":1795435200000},"timestamp":1795435200000}"#
);
