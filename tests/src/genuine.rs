//! Genuine provider payloads (`tests/data/genuine`): bodies copied from the providers'
//! documentation, their SDKs' test fixtures and open-source integrations' captured traffic,
//! each with the messages a user of the gateway expects from it (`manifest.json`, with each
//! body's source). They are signed here as their provider signs, with the test keys, so they
//! can be sent to the served functions; the bodies stay as published, except where the
//! provider's scheme puts the proof in the body (Mailgun's signature fields, the Vonage SMS
//! API's `sig`, LiveChat's `secret_key`) or wraps it (SES inside a signed SNS message).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::Sha256;

use crate::fixtures::{self, Sample};

/// The folder of the genuine payloads.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/genuine")
}

/// One genuine payload and what it must yield.
#[derive(Debug, Clone)]
pub struct Case {
    pub file: String,
    pub source: String,
    pub channel: String,
    pub provider: String,
    pub method: String,
    pub content_type: String,
    pub query: String,
    pub body: Vec<u8>,
    pub entry: Value,
}

impl Case {
    pub fn expect(&self) -> &Value {
        &self.entry["expect"]
    }
}

/// Every case of the manifest, bodies read.
pub fn cases() -> Vec<Case> {
    let manifest: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir().join("manifest.json")).expect("manifest"))
            .expect("the manifest is JSON");
    manifest
        .into_iter()
        .map(|entry| {
            let file = entry["file"].as_str().unwrap().to_string();
            let mut body = std::fs::read(dir().join(&file)).expect("a genuine body");
            if file.ends_with(".form") {
                // One line per body; a trailing newline is the file's, not the provider's.
                while body.last().is_some_and(|b| b.is_ascii_whitespace()) {
                    body.pop();
                }
            }
            let s = |k: &str| entry[k].as_str().unwrap_or_default().to_string();
            Case {
                source: s("source"),
                channel: s("channel"),
                provider: s("provider"),
                method: s("method"),
                content_type: s("content_type"),
                query: s("query"),
                file,
                body,
                entry,
            }
        })
        .collect()
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(body).expect("a genuine form body decodes")
}

/// The case as its provider would send it now, signed with the test keys; `standin` is where
/// the SNS certificate is served.
pub fn signed(case: &Case, now: i64, standin: &str) -> Sample {
    let mut body = case.body.clone();
    let mut headers: Vec<(&str, String)> = vec![("content-type", case.content_type.clone())];
    let url = format!(
        "{}/{}{}",
        fixtures::public_base_url(&case.channel),
        case.provider,
        if case.query.is_empty() {
            String::new()
        } else {
            format!("?{}", case.query)
        }
    );
    match case.provider.as_str() {
        "twilio" => {
            let pairs = form_pairs(&body);
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            headers.push((
                "x-twilio-signature",
                fixtures::twilio_signature(fixtures::TWILIO_AUTH_TOKEN, &url, &refs),
            ));
        }
        "plivo" => {
            let pairs = form_pairs(&body);
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let nonce = format!("genuine-{now}");
            headers.push((
                "x-plivo-signature-v3",
                fixtures::plivo_signature(fixtures::PLIVO_AUTH_TOKEN, &url, &refs, &nonce),
            ));
            headers.push(("x-plivo-signature-v3-nonce", nonce));
        }
        "vonage" if case.content_type.starts_with("application/json") && is_sms_api(case) => {
            // The SMS API signs parameters, here a JSON body's fields: sign them afresh.
            let mut object: serde_json::Map<String, Value> = serde_json::from_slice(&body).unwrap();
            object.retain(|k, _| !matches!(k.as_str(), "sig" | "timestamp" | "nonce"));
            object.insert("timestamp".into(), json!(now.to_string()));
            object.insert("nonce".into(), json!(format!("genuine-{now}")));
            let texts: Vec<(String, String)> = object
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_string)))
                .collect();
            let refs: Vec<(&str, &str)> = texts
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let sig = fixtures::vonage_sig(fixtures::VONAGE_SIGNATURE_SECRET, &refs);
            object.insert("sig".into(), json!(sig));
            body = serde_json::to_vec(&object).unwrap();
        }
        "vonage" if case.content_type.starts_with("application/json") => headers.push((
            "authorization",
            format!(
                "Bearer {}",
                fixtures::vonage_jwt(fixtures::VONAGE_SIGNATURE_SECRET, &body, now)
            ),
        )),
        "vonage" => {
            let mut pairs = form_pairs(&body);
            pairs.retain(|(k, _)| !matches!(k.as_str(), "sig" | "timestamp" | "nonce"));
            pairs.push(("timestamp".into(), now.to_string()));
            pairs.push(("nonce".into(), format!("genuine-{now}")));
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let sig = fixtures::vonage_sig(fixtures::VONAGE_SIGNATURE_SECRET, &refs);
            pairs.push(("sig".into(), sig));
            body = serde_urlencoded::to_string(&pairs).unwrap().into_bytes();
        }
        "telnyx" => {
            headers.push(("telnyx-timestamp", now.to_string()));
            headers.push((
                "telnyx-signature-ed25519",
                fixtures::telnyx_signature(&now.to_string(), &body),
            ));
        }
        "meta" => headers.push((
            "x-hub-signature-256",
            format!(
                "sha256={}",
                hex::encode(hmac::<Hmac<Sha256>>(
                    fixtures::META_APP_SECRET.as_bytes(),
                    &[&body]
                ))
            ),
        )),
        "x" => headers.push((
            "x-twitter-webhooks-signature",
            format!(
                "sha256={}",
                STANDARD.encode(hmac::<Hmac<Sha256>>(
                    fixtures::X_CONSUMER_SECRET.as_bytes(),
                    &[&body]
                ))
            ),
        )),
        "line" => headers.push((
            "x-line-signature",
            STANDARD.encode(hmac::<Hmac<Sha256>>(
                fixtures::LINE_CHANNEL_SECRET.as_bytes(),
                &[&body],
            )),
        )),
        "viber" => headers.push((
            "x-viber-content-signature",
            hex::encode(hmac::<Hmac<Sha256>>(
                fixtures::VIBER_AUTH_TOKEN.as_bytes(),
                &[&body],
            )),
        )),
        "telegram" => headers.push((
            "x-telegram-bot-api-secret-token",
            fixtures::TELEGRAM_SECRET_TOKEN.into(),
        )),
        "slack" => {
            let ts = now.to_string();
            headers.push(("x-slack-request-timestamp", ts.clone()));
            headers.push((
                "x-slack-signature",
                format!(
                    "v0={}",
                    hex::encode(hmac::<Hmac<Sha256>>(
                        fixtures::SLACK_SIGNING_SECRET.as_bytes(),
                        &[b"v0:", ts.as_bytes(), b":", &body]
                    ))
                ),
            ));
        }
        "intercom" => headers.push((
            "x-hub-signature",
            format!(
                "sha1={}",
                hex::encode(hmac::<Hmac<Sha1>>(
                    fixtures::INTERCOM_CLIENT_SECRET.as_bytes(),
                    &[&body]
                ))
            ),
        )),
        "zendesk" => {
            let ts = chrono::DateTime::from_timestamp(now, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            headers.push((
                "x-zendesk-webhook-signature",
                STANDARD.encode(hmac::<Hmac<Sha256>>(
                    fixtures::ZENDESK_SIGNING_SECRET.as_bytes(),
                    &[ts.as_bytes(), &body],
                )),
            ));
            headers.push(("x-zendesk-webhook-signature-timestamp", ts));
        }
        "sunshine" => headers.push(("x-api-key", fixtures::SUNSHINE_WEBHOOK_SECRET.into())),
        "crisp" => {
            let ts = (now * 1000).to_string();
            headers.push((
                "x-crisp-signature",
                hex::encode(hmac::<Hmac<Sha256>>(
                    fixtures::CRISP_HOOK_SECRET.as_bytes(),
                    &[b"[", ts.as_bytes(), b";", &body, b"]"],
                )),
            ));
            headers.push(("x-crisp-request-timestamp", ts));
        }
        "livechat" => body = with_livechat_secret(&body),
        "webchat" => {
            let id = format!("msg_genuine_{now}");
            let key = STANDARD
                .decode(fixtures::WEBCHAT_SECRET.trim_start_matches("whsec_"))
                .unwrap();
            let ts = now.to_string();
            let sig = STANDARD.encode(hmac::<Hmac<Sha256>>(
                &key,
                &[id.as_bytes(), b".", ts.as_bytes(), b".", &body],
            ));
            headers.push(("webhook-id", id));
            headers.push(("webhook-timestamp", ts));
            headers.push(("webhook-signature", format!("v1,{sig}")));
        }
        "deepgram" => headers.push((
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(fixtures::DEEPGRAM_BASIC_CREDENTIALS)
            ),
        )),
        "retell" => headers.push((
            "x-retell-signature",
            fixtures::retell_signature(fixtures::RETELL_API_KEY, &body, now * 1000),
        )),
        "vapi" => headers.push(("authorization", format!("Bearer {}", fixtures::VAPI_SECRET))),
        "assemblyai" => headers.push((
            "x-webhook-secret",
            fixtures::ASSEMBLYAI_WEBHOOK_SECRET.into(),
        )),
        "mailgun" => {
            let token = format!("{:0>50}", format!("genuine{now}"));
            let mut pairs = form_pairs(&body);
            pairs.retain(|(k, _)| !matches!(k.as_str(), "timestamp" | "token" | "signature"));
            pairs.push(("timestamp".into(), now.to_string()));
            pairs.push(("signature".into(), fixtures::mailgun_signature(now, &token)));
            pairs.push(("token".into(), token));
            body = serde_urlencoded::to_string(&pairs).unwrap().into_bytes();
        }
        "sendgrid" => {
            // Text fields as they are; file parts as `{filename, content_type, content}`.
            let fields: serde_json::Map<String, Value> = serde_json::from_slice(&body).unwrap();
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect();
            let files: Vec<(&str, &str, &str, &[u8])> = fields
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        k.as_str(),
                        v["filename"].as_str()?,
                        v["content_type"].as_str()?,
                        v["content"].as_str()?.as_bytes(),
                    ))
                })
                .collect();
            body = fixtures::multipart("xYzZY", &pairs, &files);
            headers[0].1 = "multipart/form-data; boundary=xYzZY".into();
            headers.push((
                "authorization",
                format!(
                    "Basic {}",
                    STANDARD.encode(fixtures::SENDGRID_BASIC_CREDENTIALS)
                ),
            ));
            headers.extend(fixtures::sendgrid_signature(&body, now));
        }
        "postmark" => headers.push((
            "authorization",
            format!(
                "Basic {}",
                STANDARD.encode(fixtures::POSTMARK_BASIC_CREDENTIALS)
            ),
        )),
        "ses" => {
            let message = String::from_utf8(body).expect("an SES notification is text");
            let sns = fixtures::sns_message("Notification", &message, 2, standin, &[]);
            body = serde_json::to_vec(&sns).unwrap();
            headers[0].1 = "text/plain; charset=UTF-8".into();
            headers.push(("x-amz-sns-message-type", "Notification".into()));
        }
        other => panic!("no signer for {other}"),
    }
    Sample {
        channel: leak(&case.channel),
        provider: leak(&case.provider),
        case: leak(&case.file),
        expect: fixtures::Expect {
            status: case.expect()["status"].as_u64().unwrap() as u16,
            messages: case.expect()["messages"].as_array().unwrap().len(),
            kind: None,
            body: None,
        },
        event: fixtures::http_event(
            &case.channel,
            &case.provider,
            &case.method,
            &case.query,
            &headers,
            &body,
            now,
        ),
    }
}

/// Whether a Vonage case is the legacy SMS API (its parameters carry `msisdn`).
fn is_sms_api(case: &Case) -> bool {
    serde_json::from_slice::<Value>(&case.body).is_ok_and(|v| v.get("msisdn").is_some())
}

/// The body with LiveChat's `secret_key` field set to the test key, every other byte kept.
fn with_livechat_secret(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("a LiveChat body is text");
    let start = text
        .find("\"secret_key\"")
        .expect("a LiveChat payload carries its secret");
    let value_start = start + text[start..].find(':').unwrap() + 1;
    let open = value_start + text[value_start..].find('"').unwrap();
    let close = open + 1 + text[open + 1..].find('"').unwrap();
    format!(
        "{}\"{}\"{}",
        &text[..open],
        fixtures::LIVECHAT_SECRET_KEY,
        &text[close + 1..]
    )
    .into_bytes()
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Where a case's message differs from what its manifest entry expects (`None`: as expected).
pub fn mismatch(expected: &Value, m: &gateway_shared::schema::Message) -> Option<String> {
    let json = serde_json::to_value(m).unwrap();
    let mut problems = Vec::new();
    let check = |problems: &mut Vec<String>, what: &str, got: Value, want: &Value| {
        if &got != want {
            problems.push(format!("{what}: got {got}, expected {want}"));
        }
    };
    for (key, want) in expected.as_object().unwrap() {
        match key.as_str() {
            "kind"
            | "direction"
            | "provider_message_id"
            | "reply_to"
            | "postback"
            | "post_id"
            | "reaction" => check(&mut problems, key, json[key].clone(), want),
            "customer_id" => check(&mut problems, key, json["customer"]["id"].clone(), want),
            "customer_phone" => check(&mut problems, key, json["customer"]["phone"].clone(), want),
            "attachments" => check(&mut problems, key, json!(m.attachments.len()), want),
            "status" => check(&mut problems, key, json["status"]["state"].clone(), want),
            "call_id" => check(
                &mut problems,
                key,
                json["transcript"]["call_id"].clone(),
                want,
            ),
            "email_message_id" => check(
                &mut problems,
                key,
                json["email"]["message_id"].clone(),
                want,
            ),
            "text_contains" => {
                let text = [
                    json["text"].as_str(),
                    json["transcript"]["full_text"].as_str(),
                    json["email"]["full_text"].as_str(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n")
                    + &m.transcript
                        .iter()
                        .flat_map(|t| t.segments.iter().map(|s| format!("\n{}", s.text)))
                        .collect::<String>();
                if !text.contains(want.as_str().unwrap()) {
                    problems.push(format!("text does not contain {want}"));
                }
            }
            other => problems.push(format!("unknown expectation {other}")),
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}
