//! X (Twitter) Account Activity API webhooks, at `/x`.
//!
//! - POSTs: `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, body)>`.
//! - CRC check: `GET ?crc_token=…&nonce=…`, answered `{"response_token": "sha256=<base64
//!   HMAC-SHA256(consumer secret, crc_token)>"}` (X re-validates periodically). The answer is
//!   the same MAC, key and encoding as a POST signature, so answering any caller would sign
//!   any body they chose: the GET must carry X's signature over its raw query string (as X's
//!   own webhook library checks it), and the token must look like X's (base64 of a UUID,
//!   48 characters; 16 to 128 of `[A-Za-z0-9+/=_-]` accepted), never like a JSON body.
//! - Direct messages become private messages; mentions and replies (`tweet_create_events`)
//!   public ones. Events the subscribed account created itself are not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Message, Visibility};
use crate::secrets::KeyKind;
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm, Scheme};

pub struct X;

#[async_trait]
impl Provider for X {
    fn name(&self) -> &'static str {
        "x"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::Secret)
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _window_secs: i64,
    ) -> Result<(), AuthError> {
        let signed: &[u8] = if req.method == Method::GET {
            req.raw_query.as_bytes()
        } else {
            &req.body
        };
        let signature = signature(req)?;
        secret.accept_any(|key| verify::eq_base64(&mac(key, signed), signature))
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        if req.method == Method::GET {
            return crc_answer(req, &ctx.secret);
        }
        let body: Value = parse_json(&req.body)?;
        // The subscribed account. Direct messages name it as their recipient too, so they
        // do not need `for_user_id`; posts do (it tells the account's own posts apart).
        let subscribed = text(&body["for_user_id"]);
        let users = &body["users"];
        let mut out = Vec::new();
        for event in body["direct_message_events"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if event["type"] != "message_create" {
                continue;
            }
            let create = &event["message_create"];
            let Some(sender) = text(&create["sender_id"]) else {
                continue;
            };
            let account = subscribed
                .clone()
                .or_else(|| text(&create["target"]["recipient_id"]))
                .ok_or_else(|| GatewayError::malformed("a direct message without its account"))?;
            if sender == account {
                continue; // the business's own message
            }
            let id =
                text(&event["id"]).ok_or_else(|| GatewayError::malformed("missing field id"))?;
            let mut customer = ctx.party(&sender);
            customer.handle = text(&users[&sender]["screen_name"]);
            customer.display_name = text(&users[&sender]["name"]);
            let mut m = ctx.message(
                Kind::Message,
                Direction::Inbound,
                &id,
                &id,
                customer,
                ctx.party(&account),
            );
            m.visibility = Some(Visibility::Private);
            m.sent_at = text(&event["created_timestamp"])
                .and_then(|t| t.parse().ok())
                .and_then(DateTime::from_timestamp_millis);
            let data = &create["message_data"];
            m.text = text(&data["text"]);
            // A quick reply option the customer chose: its metadata is the postback.
            m.postback = text(&data["quick_reply_response"]["metadata"]);
            let media = &data["attachment"]["media"];
            if media.is_object() {
                m.attachments.push(Attachment {
                    kind: match media["type"].as_str() {
                        Some("photo") => AttachmentKind::Image,
                        Some("video") | Some("animated_gif") => AttachmentKind::Video,
                        _ => AttachmentKind::Other,
                    },
                    id: text(&media["id_str"]),
                    url: text(&media["media_url_https"]),
                    mime_type: None,
                    size: None,
                    name: None,
                    ..Default::default()
                });
            }
            out.push(m);
        }
        let tweets = body["tweet_create_events"].as_array();
        if tweets.is_some_and(|t| !t.is_empty()) && subscribed.is_none() {
            return Err(GatewayError::malformed("posts without for_user_id"));
        }
        let account = subscribed.unwrap_or_default();
        for tweet in tweets.into_iter().flatten() {
            if let Some(m) = public_tweet(ctx, &account, tweet) {
                out.push(m);
            }
        }
        Ok(Outcome::Store(out))
    }
}

fn signature(req: &WebhookRequest) -> Result<&str, AuthError> {
    req.header("x-twitter-webhooks-signature")
        .ok_or(AuthError::Missing)?
        .strip_prefix("sha256=")
        .ok_or(AuthError::Invalid)
}

fn mac(key: &str, data: &[u8]) -> Vec<u8> {
    verify::hmac(Algorithm::Sha256, key.as_bytes(), &[data])
}

/// The CRC token of a GET, when it has X's shape.
fn crc_token(req: &WebhookRequest) -> Result<String, GatewayError> {
    let token = req
        .query()
        .into_iter()
        .find(|(k, _)| k == "crc_token")
        .map(|(_, v)| v)
        .ok_or_else(|| GatewayError::malformed("missing crc_token"))?;
    let shaped = (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
    if shaped {
        Ok(token)
    } else {
        Err(GatewayError::malformed("crc_token is not shaped like X's"))
    }
}

/// The CRC answer of a verified GET, keyed with the key that verified it (so a rotation in
/// progress answers with the secret X holds).
fn crc_answer(req: &WebhookRequest, secret: &ProviderSecret) -> Result<Outcome, GatewayError> {
    let token = crc_token(req)?;
    let signature = signature(req)?;
    let key = secret
        .find_key(|key| verify::eq_base64(&mac(key, req.raw_query.as_bytes()), signature))
        .ok_or(AuthError::Invalid)?;
    let answer = format!("sha256={}", verify::base64(&mac(key, token.as_bytes())));
    Ok(Outcome::Reply(Reply::json(
        StatusCode::OK,
        json!({ "response_token": answer }).to_string(),
    )))
}

fn public_tweet(ctx: &Context, account: &str, tweet: &Value) -> Option<Message> {
    let user = &tweet["user"];
    let author = text(&user["id_str"])?;
    if author == account || tweet["retweeted_status"].is_object() {
        return None; // the business's own tweet, or a plain retweet
    }
    let id = text(&tweet["id_str"])?;
    let mut customer = ctx.party(&author);
    customer.handle = text(&user["screen_name"]);
    customer.display_name = text(&user["name"]);
    let mut m: Message = ctx.message(
        Kind::Message,
        Direction::Inbound,
        &id,
        &id,
        customer,
        ctx.party(account),
    );
    m.visibility = Some(Visibility::Public);
    m.text = text(&tweet["extended_tweet"]["full_text"]).or_else(|| text(&tweet["text"]));
    m.reply_to = text(&tweet["in_reply_to_status_id_str"]);
    m.post_id = m.reply_to.clone();
    m.sent_at = text(&tweet["timestamp_ms"])
        .and_then(|t| t.parse().ok())
        .and_then(DateTime::from_timestamp_millis)
        .or_else(|| {
            text(&tweet["created_at"]).and_then(|t| {
                DateTime::parse_from_str(&t, "%a %b %d %H:%M:%S %z %Y")
                    .ok()
                    .map(|d| d.with_timezone(&Utc))
            })
        });
    Some(m)
}
