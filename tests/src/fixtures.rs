//! The sample webhook requests in `events/`: what each provider sends, signed with the test
//! secrets in `events/secrets/`, as API Gateway HTTP API (payload 2.0) events.
//!
//! The signers here are written apart from the gateway's verifiers on purpose, and
//! `scripts/check_sdk_signatures.py` checks the committed events with the providers' own SDKs.
//! Schemes that sign a timestamp are re-signed at send time ([`sms_events`] with `now`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::DateTime;
use ed25519_dalek::{Signer, SigningKey};
use gateway_shared::schema::Channel;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod chat;
mod email;
mod social;
mod voice;
pub use chat::*;
pub use email::*;
pub use social::*;
pub use voice::*;

/// The public URL the SMS function is configured with (`PUBLIC_BASE_URL`) in local runs and
/// tests, and so the URL the URL-signing providers sign.
pub const SMS_PUBLIC_BASE_URL: &str = "https://hooks.example.com/sms";
/// The time the committed events are signed at.
pub const COMMITTED_AT: i64 = 1_795_435_200; // 2026-11-23T12:00:00Z

pub const TWILIO_AUTH_TOKEN: &str = "test-twilio-auth-token-0001";
pub const TWILIO_PREVIOUS_AUTH_TOKEN: &str = "test-twilio-auth-token-0000";
pub const VONAGE_SIGNATURE_SECRET: &str = "test-vonage-signature-secret-0001";
pub const PLIVO_AUTH_TOKEN: &str = "test-plivo-auth-token-0001";
/// Seed of the Ed25519 key the Telnyx samples are signed with (Telnyx keeps its own private
/// key; tests sign with this one and configure its public key).
pub const TELNYX_SIGNING_SEED: [u8; 32] = *b"telnyx-test-signing-seed-0001!!!";

/// The customer and business numbers of the samples (valid numbers, so they normalise).
pub const CUSTOMER_PHONE: &str = "+14155550100";
pub const BUSINESS_PHONE: &str = "+12025550123";
/// Text of the samples: non-ASCII on purpose, and checked to never reach the logs.
pub const SAMPLE_TEXT: &str = "Hi, my order 4411 hasn't arrived 📦 — café?";

pub fn telnyx_public_key() -> String {
    let key = SigningKey::from_bytes(&TELNYX_SIGNING_SEED);
    STANDARD.encode(key.verifying_key().as_bytes())
}

/// The SMS channel's secret as stored in Secrets Manager for local runs and tests.
pub fn sms_secret() -> Value {
    json!({
        "twilio": [TWILIO_AUTH_TOKEN, TWILIO_PREVIOUS_AUTH_TOKEN],
        "vonage": { "keys": [VONAGE_SIGNATURE_SECRET], "sms_signature_method": "sha256" },
        "telnyx": [telnyx_public_key()],
        "plivo": [PLIVO_AUTH_TOKEN],
    })
}

/// What the gateway must answer to a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub status: u16,
    /// Messages stored and queued.
    pub messages: usize,
    /// The kind of every stored message, when they are all of one kind.
    pub kind: Option<&'static str>,
    /// The exact answer body, for handshakes.
    pub body: Option<String>,
}

const STORED_MESSAGE: Expect = Expect {
    status: 200,
    messages: 1,
    kind: Some("message"),
    body: None,
};
const STORED_STATUS: Expect = Expect {
    status: 200,
    messages: 1,
    kind: Some("status"),
    body: None,
};
const REJECTED: Expect = Expect {
    status: 401,
    messages: 0,
    kind: None,
    body: None,
};

/// One sample request.
#[derive(Debug, Clone)]
pub struct Sample {
    pub channel: &'static str,
    pub provider: &'static str,
    pub case: &'static str,
    pub expect: Expect,
    pub event: Value,
}

impl Sample {
    pub fn file_name(&self) -> String {
        format!("{}-{}.json", self.provider, self.case)
    }

    pub fn method(&self) -> &str {
        self.event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or("POST")
    }

    pub fn raw_query(&self) -> &str {
        self.event["rawQueryString"].as_str().unwrap_or("")
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        self.event["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn body(&self) -> Vec<u8> {
        let body = self.event["body"].as_str().unwrap_or("");
        if self.event["isBase64Encoded"].as_bool().unwrap_or(false) {
            STANDARD.decode(body).expect("samples carry valid base64")
        } else {
            body.as_bytes().to_vec()
        }
    }
}

/// An HTTP API payload 2.0 event for `POST|GET /<channel>/<provider>`.
pub fn http_event(
    channel: &str,
    provider: &str,
    method: &str,
    raw_query: &str,
    headers: &[(&str, String)],
    body: &[u8],
    at: i64,
) -> Value {
    let path = format!("/{channel}/{provider}");
    let textual = headers
        .iter()
        .any(|(k, v)| *k == "content-type" && v.starts_with("application/json"));
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), json!("hooks.example.com"));
    header_map.insert("x-forwarded-proto".into(), json!("https"));
    for (k, v) in headers {
        header_map.insert((*k).into(), json!(v));
    }
    let time = DateTime::from_timestamp(at, 0).unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": format!("{method} /{channel}/{{provider}}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "gateway",
            "domainName": "hooks.example.com",
            "domainPrefix": "hooks",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": format!("{provider}-webhooks"),
            },
            "requestId": format!("{provider}-{at}"),
            "routeKey": format!("{method} /{channel}/{{provider}}"),
            "stage": "$default",
            "time": time.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": at * 1000,
        },
        "pathParameters": { "provider": provider },
        "isBase64Encoded": !textual,
        "body": if textual {
            json!(String::from_utf8_lossy(body))
        } else {
            json!(STANDARD.encode(body))
        },
    })
}

pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    serde_urlencoded::to_string(pairs)
        .expect("pairs encode")
        .into_bytes()
}

fn hmac_raw<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Twilio's signature: URL, then sorted names each with its sorted distinct values.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut text = url.to_string();
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    STANDARD.encode(hmac_raw::<Hmac<sha1::Sha1>>(
        token.as_bytes(),
        text.as_bytes(),
    ))
}

/// A Vonage Messages API webhook JWT over `body`, issued at `iat`.
pub fn vonage_jwt(secret: &str, body: &[u8], iat: i64) -> String {
    let claims = json!({
        "iat": iat,
        "jti": format!("jti-{iat}-{}", hex::encode(&Sha256::digest(body)[..4])),
        "iss": "Vonage",
        "payload_hash": hex::encode(Sha256::digest(body)),
        "api_key": "abcd1234",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The Vonage SMS API `sig` (HMAC-SHA256 method) over every parameter.
pub fn vonage_sig(secret: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let text: String = sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect();
    hex::encode(hmac_raw::<Hmac<Sha256>>(secret.as_bytes(), text.as_bytes()))
}

pub fn telnyx_signature(timestamp: &str, body: &[u8]) -> String {
    let key = SigningKey::from_bytes(&TELNYX_SIGNING_SEED);
    let mut signed = format!("{timestamp}|").into_bytes();
    signed.extend_from_slice(body);
    STANDARD.encode(key.sign(&signed).to_bytes())
}

/// Plivo V3 for a POST to a URL without query: `url?` + sorted `kv` params, `.nonce`.
pub fn plivo_signature(token: &str, url: &str, params: &[(&str, &str)], nonce: &str) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut text = format!("{url}?");
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    text.push('.');
    text.push_str(nonce);
    STANDARD.encode(hmac_raw::<Hmac<Sha256>>(token.as_bytes(), text.as_bytes()))
}

/// Replaces the first occurrence of `from` in the body after signing: a tampered request.
pub fn tamper(mut sample: Sample, from: &str, to: &str) -> Sample {
    let body = sample.body();
    let text = String::from_utf8(body).expect("samples are UTF-8");
    assert!(text.contains(from), "tamper target present");
    let tampered = text.replacen(from, to, 1);
    sample.event["body"] = if sample.event["isBase64Encoded"].as_bool() == Some(true) {
        json!(STANDARD.encode(tampered))
    } else {
        json!(tampered)
    };
    sample
}

/// Every sample of every channel, signed as of `now` (Unix seconds), pointing at the
/// stand-ins this process uses (`crate::standins::url`).
pub fn all_events(now: i64) -> Vec<Sample> {
    all_events_at(now, &crate::standins::url())
}

/// Every sample, signed as of `now`, with the stand-ins at `standin` (the committed samples:
/// [`COMMITTED_STANDIN_URL`]).
pub fn all_events_at(now: i64, standin: &str) -> Vec<Sample> {
    let mut samples = sms_events(now);
    samples.extend(social_events(now));
    samples.extend(chat_events(now));
    samples.extend(voice_events(now));
    samples.extend(email_events(now, standin));
    samples
}

/// The channels that have a function, and so samples.
/// Every channel's name, as the registry orders them.
pub const CHANNELS: [&str; Channel::ALL.len()] = {
    let mut names = [""; Channel::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Channel::ALL[i].as_str();
        i += 1;
    }
    names
};

/// A channel's test secret, as stored in Secrets Manager.
pub fn channel_secret(channel: &str) -> Value {
    match channel {
        "sms" => sms_secret(),
        "social" => social_secret(),
        "chat" => chat_secret(),
        "voice" => voice_secret(),
        "email" => email_secret(),
        other => panic!("no test secret for channel {other}"),
    }
}

/// The public base URL a channel's function is configured with in local runs and tests.
pub fn public_base_url(channel: &str) -> String {
    format!("https://hooks.example.com/{channel}")
}

/// Every SMS sample, signed as of `now` (Unix seconds).
pub fn sms_events(now: i64) -> Vec<Sample> {
    let mut samples = Vec::new();
    samples.extend(twilio(now));
    samples.extend(vonage(now));
    samples.extend(telnyx(now));
    samples.extend(plivo(now));
    samples
}

fn sample(provider: &'static str, case: &'static str, expect: Expect, event: Value) -> Sample {
    Sample {
        channel: "sms",
        provider,
        case,
        expect,
        event,
    }
}

fn twilio(now: i64) -> Vec<Sample> {
    let url = format!("{SMS_PUBLIC_BASE_URL}/twilio");
    let signed = |case, expect, params: Vec<(&str, &str)>| {
        let sig = twilio_signature(TWILIO_AUTH_TOKEN, &url, &params);
        let headers = [
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("x-twilio-signature", sig),
            ("i-twilio-idempotency-token", format!("idem-{case}")),
        ];
        sample(
            "twilio",
            case,
            expect,
            http_event("sms", "twilio", "POST", "", &headers, &form(&params), now),
        )
    };
    let common = |sid: &'static str| {
        vec![
            ("ToCountry", "US"),
            ("ToState", "DC"),
            ("SmsMessageSid", sid),
            ("ToCity", "WASHINGTON"),
            ("FromZip", "94107"),
            ("SmsSid", sid),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", "SAN FRANCISCO"),
            ("FromCountry", "US"),
            ("To", BUSINESS_PHONE),
            ("ToZip", "20001"),
            ("MessageSid", sid),
            ("AccountSid", "AC00000000000000000000000000000001"),
            ("From", CUSTOMER_PHONE),
            ("ApiVersion", "2010-04-01"),
        ]
    };
    let mut text = common("SM00000000000000000000000000000001");
    text.extend([
        ("Body", SAMPLE_TEXT),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
    ]);
    let mut media = common("MM00000000000000000000000000000002");
    media.extend([
        ("Body", "Here is the damaged box"),
        ("NumMedia", "2"),
        ("NumSegments", "1"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl0", "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/MM00000000000000000000000000000002/Media/ME00000000000000000000000000000001"),
        ("MediaContentType1", "video/mp4"),
        ("MediaUrl1", "https://api.twilio.com/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/MM00000000000000000000000000000002/Media/ME00000000000000000000000000000002"),
    ]);
    let status = vec![
        ("SmsSid", "SM00000000000000000000000000000099"),
        ("SmsStatus", "delivered"),
        ("MessageStatus", "delivered"),
        ("To", CUSTOMER_PHONE),
        ("MessagingServiceSid", "MG00000000000000000000000000000001"),
        ("MessageSid", "SM00000000000000000000000000000099"),
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("From", BUSINESS_PHONE),
        ("ApiVersion", "2010-04-01"),
        ("RawDlrDoneDate", "2611230800"),
    ];
    let valid = signed("inbound-text", STORED_MESSAGE, text);
    vec![
        tamper(valid.clone(), "hasn%27t+arrived", "has+arrived").with_case("tampered", REJECTED),
        valid,
        signed("inbound-media", STORED_MESSAGE, media),
        signed("status-delivered", STORED_STATUS, status),
    ]
}

fn vonage(now: i64) -> Vec<Sample> {
    let jwt_event = |case, expect, body: Value| {
        let body = body.to_string().into_bytes();
        let headers = [
            ("content-type", "application/json".to_string()),
            (
                "authorization",
                format!("Bearer {}", vonage_jwt(VONAGE_SIGNATURE_SECRET, &body, now)),
            ),
        ];
        sample(
            "vonage",
            case,
            expect,
            http_event("sms", "vonage", "POST", "", &headers, &body, now),
        )
    };
    let at = DateTime::from_timestamp(now - 2, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let customer = CUSTOMER_PHONE.trim_start_matches('+');
    let business = BUSINESS_PHONE.trim_start_matches('+');
    let text = jwt_event(
        "inbound-text",
        STORED_MESSAGE,
        json!({
            "channel": "sms", "message_uuid": "aaaaaaaa-0000-4000-8000-000000000001",
            "to": business, "from": customer, "timestamp": at,
            "text": SAMPLE_TEXT, "message_type": "text",
            "sms": {"num_messages": "1", "count_total": "1"},
            "usage": {"price": "0.0057", "currency": "EUR"},
        }),
    );
    let image = jwt_event(
        "inbound-media",
        STORED_MESSAGE,
        json!({
            "channel": "mms", "message_uuid": "aaaaaaaa-0000-4000-8000-000000000002",
            "to": business, "from": customer, "timestamp": at, "message_type": "image",
            "image": {"url": "https://api-us.nexmo.com/v3/media/bbbbbbbb-0000-4000-8000-000000000002", "caption": "Here is the damaged box"},
        }),
    );
    let status = jwt_event(
        "status-delivered",
        STORED_STATUS,
        json!({
            "message_uuid": "aaaaaaaa-0000-4000-8000-000000000099",
            "to": customer, "from": business, "timestamp": at,
            "status": "delivered", "channel": "sms",
            "usage": {"currency": "EUR", "price": "0.0333"},
        }),
    );
    let ts = now.to_string();
    let sent = DateTime::from_timestamp(now - 2, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let mut legacy: Vec<(&str, &str)> = vec![
        ("msisdn", customer),
        ("to", business),
        ("messageId", "1000000000000001"),
        ("text", SAMPLE_TEXT),
        ("type", "unicode"),
        ("keyword", "HI"),
        ("api-key", "abcd1234"),
        ("message-timestamp", &sent),
        ("timestamp", &ts),
        ("nonce", "f0e1d2c3-b4a5-4000-8000-000000000001"),
    ];
    let sig = vonage_sig(VONAGE_SIGNATURE_SECRET, &legacy);
    legacy.push(("sig", &sig));
    let legacy = sample(
        "vonage",
        "sms-api-inbound-text",
        STORED_MESSAGE,
        http_event(
            "sms",
            "vonage",
            "POST",
            "",
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            )],
            &form(&legacy),
            now,
        ),
    );
    vec![
        tamper(text.clone(), "4411", "9999").with_case("tampered", REJECTED),
        text,
        image,
        status,
        legacy,
    ]
}

fn telnyx(now: i64) -> Vec<Sample> {
    let event = |case, expect, body: Value| {
        let body = body.to_string().into_bytes();
        let ts = now.to_string();
        let headers = [
            ("content-type", "application/json".to_string()),
            ("telnyx-signature-ed25519", telnyx_signature(&ts, &body)),
            ("telnyx-timestamp", ts),
        ];
        sample(
            "telnyx",
            case,
            expect,
            http_event("sms", "telnyx", "POST", "", &headers, &body, now),
        )
    };
    let at = DateTime::from_timestamp(now - 1, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let inbound = |id: &str, kind: &str, text: &str, media: Value| {
        json!({
            "data": {
                "event_type": "message.received", "id": format!("evt-{id}"),
                "occurred_at": at, "record_type": "event",
                "payload": {
                    "id": id, "direction": "inbound", "type": kind, "record_type": "message",
                    "messaging_profile_id": "40017f5f-0000-4000-8000-000000000001",
                    "from": {"phone_number": CUSTOMER_PHONE, "carrier": "T-Mobile USA", "line_type": "Wireless"},
                    "to": [{"phone_number": BUSINESS_PHONE, "status": "webhook_delivered"}],
                    "text": text, "media": media, "encoding": "UCS-2", "parts": 1,
                    "received_at": at,
                },
            },
            "meta": {"attempt": 1, "delivered_to": format!("{SMS_PUBLIC_BASE_URL}/telnyx")},
        })
    };
    let text = event(
        "inbound-text",
        STORED_MESSAGE,
        inbound(
            "b3011c4a-0000-4000-8000-000000000001",
            "SMS",
            SAMPLE_TEXT,
            json!([]),
        ),
    );
    let media = event(
        "inbound-media",
        STORED_MESSAGE,
        inbound(
            "b3011c4a-0000-4000-8000-000000000002",
            "MMS",
            "Here is the damaged box",
            json!([{"url": "https://media.telnyx.com/b3011c4a-0000-4000-8000-000000000002/box.jpg",
                    "content_type": "image/jpeg", "size": 102400, "hash_sha256": "00"}]),
        ),
    );
    let status = event(
        "status-delivered",
        STORED_STATUS,
        json!({
            "data": {
                "event_type": "message.finalized", "id": "evt-status-1", "occurred_at": at,
                "record_type": "event",
                "payload": {
                    "id": "b3011c4a-0000-4000-8000-000000000099", "direction": "outbound",
                    "type": "SMS", "text": "Your parcel is on its way",
                    "from": {"phone_number": BUSINESS_PHONE},
                    "to": [{"phone_number": CUSTOMER_PHONE, "status": "delivered"}],
                    "errors": [],
                },
            },
            "meta": {"attempt": 1},
        }),
    );
    vec![
        tamper(text.clone(), "4411", "9999").with_case("tampered", REJECTED),
        text,
        media,
        status,
    ]
}

fn plivo(now: i64) -> Vec<Sample> {
    let url = format!("{SMS_PUBLIC_BASE_URL}/plivo");
    let signed = |case, expect, nonce: &str, params: Vec<(&str, &str)>| {
        let headers = [
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            (
                "x-plivo-signature-v3",
                plivo_signature(PLIVO_AUTH_TOKEN, &url, &params, nonce),
            ),
            ("x-plivo-signature-v3-nonce", nonce.to_string()),
        ];
        sample(
            "plivo",
            case,
            expect,
            http_event("sms", "plivo", "POST", "", &headers, &form(&params), now),
        )
    };
    let customer = CUSTOMER_PHONE.trim_start_matches('+');
    let business = BUSINESS_PHONE.trim_start_matches('+');
    let text = signed(
        "inbound-text",
        STORED_MESSAGE,
        "11223344556677889900",
        vec![
            ("From", customer),
            ("To", business),
            ("Type", "sms"),
            ("Text", SAMPLE_TEXT),
            ("MessageUUID", "c0ffee00-0000-4000-8000-000000000001"),
            ("Units", "1"),
            ("TotalRate", "0.00000"),
            ("TotalAmount", "0.00000"),
            ("MessageIntent", ""),
            ("PowerpackUUID", ""),
        ],
    );
    let media = signed(
        "inbound-media",
        STORED_MESSAGE,
        "22334455667788990011",
        vec![
            ("From", customer),
            ("To", business),
            ("Type", "mms"),
            ("Body", "Here is the damaged box"),
            ("MessageUUID", "c0ffee00-0000-4000-8000-000000000002"),
            ("MediaCount", "1"),
            (
                "Media1",
                "https://media.plivo.com/Account/MA0000000000000001/Message/c0ffee00-0000-4000-8000-000000000002/Media/1",
            ),
            ("Units", "1"),
        ],
    );
    let status = signed(
        "status-delivered",
        STORED_STATUS,
        "33445566778899001122",
        vec![
            ("From", business),
            ("To", customer),
            ("Status", "delivered"),
            ("MessageUUID", "c0ffee00-0000-4000-8000-000000000099"),
            ("ErrorCode", ""),
            ("TotalAmount", "0.00500"),
            ("TotalRate", "0.00500"),
            ("Units", "1"),
            ("PowerpackUUID", ""),
            ("MessageTime", "2026-11-23 07:59:59+00:00"),
        ],
    );
    vec![
        tamper(text.clone(), "4411", "9999").with_case("tampered", REJECTED),
        text,
        media,
        status,
    ]
}

impl Sample {
    pub(crate) fn with_case(mut self, case: &'static str, expect: Expect) -> Self {
        self.case = case;
        self.expect = expect;
        self
    }
}

/// The sample of `provider` and `case` (panics when there is none: a test's own mistake).
/// The samples that must reach the same function before `sample` for it to get its answer:
/// the utterances of the real-time transcription session that `realtime-stopped` closes (the
/// parts are kept between requests; alone, the stop event has nothing to assemble).
pub fn session_before<'a>(samples: &'a [Sample], sample: &Sample) -> Vec<&'a Sample> {
    if (sample.provider, sample.case) != ("twilio", "realtime-stopped") {
        return Vec::new();
    }
    samples
        .iter()
        .filter(|s| {
            s.provider == "twilio"
                && s.channel == sample.channel
                && s.case.starts_with("realtime-")
                && !matches!(s.case, "realtime-stopped" | "realtime-tampered")
        })
        .collect()
}

pub fn find(samples: &[Sample], provider: &str, case: &str) -> Sample {
    samples
        .iter()
        .find(|s| s.provider == provider && s.case == case)
        .unwrap_or_else(|| panic!("no sample {provider}-{case}"))
        .clone()
}

/// Text that must never appear in logs or metrics: the samples' phone numbers and message
/// text, and every test secret.
pub fn never_logged() -> Vec<String> {
    let mut needles: Vec<String> = [
        // SMS: numbers and text.
        "4155550100",
        "2025550123",
        "hasn",
        "arrived",
        "café",
        "damaged box",
        "order 4411",
        // Social: text in three scripts.
        "مرحبا",
        "我的订单",
        // Chat: text and the e-mail address in both cases.
        "refund?",
        "jane.doe",
        "Jane.Doe",
        // E-mail: the replies' text.
        "tracking link",
        // Voice: what the callers say.
        "parcel",
        "tracking number",
        TWILIO_AUTH_TOKEN,
        TWILIO_PREVIOUS_AUTH_TOKEN,
        VONAGE_SIGNATURE_SECRET,
        PLIVO_AUTH_TOKEN,
        META_APP_SECRET,
        META_VERIFY_TOKEN,
        X_CONSUMER_SECRET,
        LINE_CHANNEL_SECRET,
        VIBER_AUTH_TOKEN,
        TELEGRAM_SECRET_TOKEN,
        SLACK_SIGNING_SECRET,
        INTERCOM_CLIENT_SECRET,
        ZENDESK_SIGNING_SECRET,
        SUNSHINE_WEBHOOK_SECRET,
        CRISP_HOOK_SECRET,
        LIVECHAT_SECRET_KEY,
        WEBCHAT_SECRET,
        WEBCHAT_PREVIOUS_SECRET,
        DEEPGRAM_BASIC_CREDENTIALS,
        DEEPGRAM_CALLBACK_SECRET,
        RETELL_API_KEY,
        VAPI_SECRET,
        ASSEMBLYAI_WEBHOOK_SECRET,
        ASSEMBLYAI_API_KEY,
        MAILGUN_SIGNING_KEY,
        SENDGRID_BASIC_CREDENTIALS,
        POSTMARK_BASIC_CREDENTIALS,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    needles.push(telnyx_public_key());
    needles
}

/// A valid request of `channel` for a message no sample has (its provider ids carry `n`), so
/// a test can prove a function still stores new messages without colliding with the samples.
pub fn fresh_sample(channel: &str, now: i64, n: u32) -> Sample {
    let json =
        |sample: &Sample| -> Value { serde_json::from_slice(&sample.body()).expect("JSON sample") };
    match channel {
        "sms" => {
            let original = find(&sms_events(now), "twilio", "inbound-text");
            let sid = format!("SM{n:032}");
            let mut params: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&original.body()).expect("a form sample");
            for (k, v) in params.iter_mut() {
                if k == "MessageSid" || k == "SmsMessageSid" || k == "SmsSid" {
                    *v = sid.clone();
                }
            }
            let pairs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut sample = original.clone();
            sample.event["body"] = json!(STANDARD.encode(form(&pairs)));
            sample.event["isBase64Encoded"] = json!(true);
            sample.event["headers"]["x-twilio-signature"] = json!(twilio_signature(
                TWILIO_AUTH_TOKEN,
                &format!("{SMS_PUBLIC_BASE_URL}/twilio"),
                &pairs
            ));
            sample
        }
        "social" => {
            let mut sample = find(&social_events(now), "telegram", "message");
            let mut body = json(&sample);
            body["update_id"] = json!(800_000_000 + n);
            body["message"]["message_id"] = json!(100_000 + n);
            sample.event["body"] = json!(body.to_string());
            sample
        }
        "chat" => {
            let original = find(&chat_events(now), "slack", "dm");
            let mut body = json(&original);
            body["event_id"] = json!(format!("EvFresh{n}"));
            body["event"]["ts"] = json!(format!("{now}.{n:06}"));
            slack_request("fresh", original.expect.clone(), &body, now, vec![])
        }
        "voice" => {
            let mut sample = find(&voice_events(now), "vapi", "end-of-call-report");
            let mut body = json(&sample);
            body["message"]["call"]["id"] = json!(format!("fresh-call-{n}"));
            sample.event["body"] = json!(body.to_string());
            sample
        }
        "email" => {
            let original = find(
                &email_events(now, COMMITTED_STANDIN_URL),
                "postmark",
                "inbound-reply",
            );
            let body = postmark_body(&format!("fresh-{n}@mail.example"), b"x");
            postmark_request("fresh", original.expect, &body, now)
        }
        other => panic!("no fresh sample for channel {other}"),
    }
}
