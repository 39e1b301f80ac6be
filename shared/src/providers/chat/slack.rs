//! Slack Events API, at `/slack`.
//!
//! `X-Slack-Signature` is `v0=` + hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{body}`
//! with the signing secret; the timestamp must be within the window. The `url_verification`
//! challenge is answered with the challenge. Customer messages in DMs and shared channels are
//! stored; messages from bots (our own replies included) are not; an edit is stored as a new
//! event carrying the new text; deletions are acknowledged and not stored. Slack's retries
//! (`X-Slack-Retry-Num`) carry the same `event_id` and are stored once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::Value;

use crate::error::GatewayError;
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::providers::{parse_json, text};
use crate::request::WebhookRequest;
use crate::schema::{Attachment, AttachmentKind, Direction, Kind, Visibility};
use crate::secrets::KeyKind;
use crate::verify::{Algorithm, Encoding, HmacScheme, Part, Scheme, TimeFormat};

pub struct Slack;

/// Slack's `ts` (`"1700000000.000200"`) as a time.
fn slack_time(ts: &str) -> Option<DateTime<Utc>> {
    let (secs, micros) = ts.split_once('.').unwrap_or((ts, "0"));
    DateTime::from_timestamp(
        secs.parse().ok()?,
        micros.parse::<u32>().ok()?.saturating_mul(1000),
    )
}

#[async_trait]
impl Provider for Slack {
    fn name(&self) -> &'static str {
        "slack"
    }

    fn scheme(&self) -> Scheme {
        Scheme::Hmac(HmacScheme {
            header: "x-slack-signature",
            prefix: "v0=",
            separator: None,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::HexLower,
            signed: &[
                Part::Text("v0:"),
                Part::Timestamp,
                Part::Text(":"),
                Part::Body,
            ],
            timestamp: Some(("x-slack-request-timestamp", TimeFormat::UnixSecs)),
            key: KeyKind::Secret,
        })
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let body: Value = parse_json(&req.body)?;
        match body["type"].as_str() {
            Some("url_verification") => {
                let challenge = text(&body["challenge"])
                    .ok_or_else(|| GatewayError::malformed("missing field challenge"))?;
                return Ok(Outcome::Reply(Reply::text(StatusCode::OK, challenge)));
            }
            Some("event_callback") => {}
            _ => return Ok(Outcome::Store(Vec::new())),
        }
        let event = &body["event"];
        if !event.is_object() {
            return Err(GatewayError::malformed(
                "event_callback without an event object",
            ));
        }
        if event["type"] != "message" || event["bot_id"].is_string() {
            return Ok(Outcome::Store(Vec::new()));
        }
        let subtype = event["subtype"].as_str().unwrap_or_default();
        let message = match subtype {
            "" | "file_share" | "thread_broadcast" => event,
            // An edit by a person. Slack also sends hidden `message_changed` events that no
            // one typed (a link unfurled, an attachment added): the message has no `edited`.
            "message_changed"
                if !event["message"]["bot_id"].is_string()
                    && event["message"]["edited"].is_object() =>
            {
                &event["message"]
            }
            // deletions, bot messages, joins and other housekeeping: nothing to store.
            _ => return Ok(Outcome::Store(Vec::new())),
        };
        let event_id = text(&body["event_id"])
            .ok_or_else(|| GatewayError::malformed("missing field event_id"))?;
        let ts = text(&message["ts"]).ok_or_else(|| GatewayError::malformed("missing field ts"))?;
        let user =
            text(&message["user"]).ok_or_else(|| GatewayError::malformed("missing field user"))?;
        let channel = text(&event["channel"]).unwrap_or_default();
        let team = text(&body["team_id"]).unwrap_or_default();
        let mut m = ctx.message(
            Kind::Message,
            Direction::Inbound,
            &ts,
            &event_id,
            ctx.party(&user),
            ctx.party(format!("{team}/{channel}")),
        );
        m.sent_at = slack_time(&ts);
        m.text = text(&message["text"]);
        m.visibility = Some(if event["channel_type"] == "im" {
            Visibility::Private
        } else {
            Visibility::Public
        });
        m.reply_to = text(&message["thread_ts"]).filter(|t| *t != ts);
        if subtype == "message_changed" {
            m.reply_to = Some(ts.clone());
        }
        for file in message["files"].as_array().into_iter().flatten() {
            m.attachments.push(Attachment {
                kind: text(&file["mimetype"]).map_or(AttachmentKind::File, |mime| {
                    AttachmentKind::from_mime(&mime)
                }),
                id: text(&file["id"]),
                url: text(&file["url_private"]),
                mime_type: text(&file["mimetype"]),
                size: file["size"].as_u64(),
                name: text(&file["name"]),
                ..Default::default()
            });
        }
        Ok(Outcome::Store(vec![m]))
    }
}
