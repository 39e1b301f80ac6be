//! X (Twitter) Account Activity API webhooks, at `/x`.
//!
//! - CRC check: `GET ?crc_token=…` answered `{"response_token": "sha256=<base64
//!   HMAC-SHA256(consumer secret, crc_token)>"}` (X re-validates periodically).
//! - POSTs: `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, body)>`.
//! - Direct messages become private messages; mentions and replies (`tweet_create_events`)
//!   public ones. Events the subscribed account created itself are not stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{parse_json, text};
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Message, Visibility};
use crate::secrets::ProviderSecret;
use crate::verify::{self, Algorithm};

pub struct X;

#[async_trait]
impl Provider for X {
    fn name(&self) -> &'static str {
        "x"
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::POST, Method::GET]
    }

    fn handshake(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
    ) -> Option<Result<Reply, GatewayError>> {
        if req.method != Method::GET {
            return None;
        }
        let query = req.query();
        let token = query.iter().find(|(k, _)| k == "crc_token").map(|(_, v)| v);
        Some(match (token, secret.keys.first()) {
            (None, _) => Err(GatewayError::malformed("missing crc_token")),
            (_, None) => Err(AuthError::NotConfigured.into()),
            (Some(token), Some(key)) => {
                let mac = verify::hmac(Algorithm::Sha256, key.as_bytes(), &[token.as_bytes()]);
                let body = json!({ "response_token": format!("sha256={}", verify::base64(&mac)) });
                Ok(Reply::json(StatusCode::OK, body.to_string()))
            }
        })
    }

    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let header = req
            .header("x-twitter-webhooks-signature")
            .ok_or(AuthError::Missing)?;
        let signature = header.strip_prefix("sha256=").ok_or(AuthError::Invalid)?;
        secret.accept_any(|key| {
            let mac = verify::hmac(Algorithm::Sha256, key.as_bytes(), &[&req.body]);
            verify::eq_base64(&mac, signature)
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        let account = text(&body["for_user_id"])
            .ok_or_else(|| GatewayError::malformed("missing field for_user_id"))?;
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
        for tweet in body["tweet_create_events"].as_array().into_iter().flatten() {
            if let Some(m) = public_tweet(ctx, &account, tweet) {
                out.push(m);
            }
        }
        Ok(Outcome::Store(out))
    }
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
