//! Message schema v1: the one document every channel normalises into.
//!
//! This is a public contract with helpdesk consumers: change it additively only, bump
//! [`SCHEMA_VERSION`]'s minor number when adding a field, and regenerate
//! `schema/message.v1.json` (`cargo run -p gateway-shared --bin schema`). A test fails when the
//! committed JSON Schema or `docs/schema.md` drift from these types.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the message document. Consumers should accept any `1.x`.
pub const SCHEMA_VERSION: &str = "1.3";

/// A normalised customer-contact event: a message, a delivery status or a call transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Message", extend("$id" = "https://channel-gateway.dev/schema/message.v1.json"))]
pub struct Message {
    /// Version of this document's schema, `major.minor`. Minor versions only add fields.
    pub schema_version: String,
    /// Deterministic id: the same provider event always yields the same id, so a retried
    /// webhook is recognised as a duplicate. Opaque; `msg_` followed by 32 hex digits.
    pub id: String,
    /// The channel the event arrived on.
    pub channel: Channel,
    /// The provider that delivered the webhook, as in the webhook path (`twilio`, `telnyx`, ...).
    pub provider: String,
    /// What the event is.
    pub kind: Kind,
    /// Whether the underlying message went from the customer to the business or back.
    pub direction: Direction,
    /// The provider's own id of the message (or call), as given.
    pub provider_message_id: String,
    /// Stable id for one customer on one business endpoint of one channel. Opaque;
    /// `conv_` followed by 32 hex digits. Also the SQS `MessageGroupId`.
    pub conversation_id: String,
    /// The customer side of the conversation.
    pub customer: Party,
    /// The business endpoint that was contacted (number, page, account).
    pub business: Party,
    /// When the provider says the message was sent, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When the gateway received the webhook.
    pub received_at: DateTime<Utc>,
    /// Message text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Media and files attached to the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The provider message id this message replies to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Since 1.1. Whether others can see the message: `private` for direct messages, `public`
    /// for comments, mentions, replies to posts and group or channel posts. Absent where the
    /// channel has no such distinction (SMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// Since 1.1. The public post, story or thread the message comments on, replies to or
    /// mentions the business in, by the provider's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_id: Option<String>,
    /// Since 1.1. The emoji of a reaction; `reply_to` names the message reacted to. An empty
    /// string means the customer removed their reaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    /// Since 1.1. The payload of a button, quick reply, list item or postback the customer
    /// chose (`text` carries its title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback: Option<String>,
    /// Delivery details, present when `kind` is `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusUpdate>,
    /// The call transcript, present when `kind` is `transcript`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Transcript>,
    /// Since 1.2. E-mail headers and bodies, present on the e-mail channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    /// Since 1.2. Present when the message was too large to queue whole: the fields named in
    /// `omitted` are left out of this document, and the S3 object holds the whole message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_check: Option<ClaimCheck>,
}

/// Since 1.2. An object the gateway stored in its S3 bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the object's bytes.
    pub sha256: String,
}

/// Since 1.2. Where the whole of a message too large for the queue is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClaimCheck {
    /// The whole message as JSON (`application/json`), without `claim_check`.
    pub object: ObjectRef,
    /// Dotted paths of the fields left out of the queued document (`text`,
    /// `transcript.segments`, ...).
    pub omitted: Vec<String>,
}

impl Message {
    /// Whether the message says something a person or a system can act on: a message's text,
    /// attachment, postback, reaction (an empty one is a removed reaction) or e-mail; a
    /// status's state; a transcript's words. The pipeline never stores one that does not,
    /// so a payload a normaliser did not understand cannot become an empty message.
    pub fn has_content(&self) -> bool {
        let some = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.trim().is_empty());
        match self.kind {
            Kind::Message => {
                some(&self.text)
                    || !self.attachments.is_empty()
                    || some(&self.postback)
                    || self.reaction.is_some()
                    || self
                        .email
                        .as_ref()
                        .is_some_and(|e| some(&e.subject) || some(&e.full_text) || some(&e.html))
            }
            Kind::Status => self.status.is_some(),
            Kind::Transcript => self
                .transcript
                .as_ref()
                .is_some_and(|t| some(&t.full_text) || !t.segments.is_empty()),
        }
    }
}

/// Since 1.2. An e-mail's headers and bodies. `text` carries the new text of the message,
/// without the quoted history where it can be told apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Email {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The `Message-ID` header, without angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The `In-Reply-To` header's message ids, without angle brackets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_reply_to: Vec<String>,
    /// The `References` header's message ids, oldest first, without angle brackets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// `To` addresses (domain lower-cased).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// `Cc` addresses (domain lower-cased).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// The whole plain-text body, quoted history included; made from the HTML part when the
    /// e-mail has no plain-text part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<String>,
    /// The HTML body, when the e-mail has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Since 1.3. What the receiving provider found of the sender's authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<EmailAuthentication>,
}

/// Since 1.3. The sender's authentication, as the receiving provider reported it (SPF, DKIM,
/// DMARC), and the gateway's conclusion. Only a verified sender is the customer's `email:`
/// identity: an unverified one is keyed `unverified-email:<address>` and joins no timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EmailAuthentication {
    /// The SPF result for the envelope sender, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spf: Option<AuthVerdict>,
    /// The DKIM result (the best of the signatures), when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dkim: Option<AuthVerdict>,
    /// The DMARC result, when the provider evaluates DMARC (SES).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc: Option<AuthVerdict>,
    /// The `From` address is authenticated: DMARC passed, or SPF or DKIM passed for a domain
    /// aligned with the `From` domain (the same domain or one a subdomain of the other).
    pub sender_verified: bool,
}

/// Since 1.3. One authentication check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthVerdict {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    /// Nothing to check against (no SPF record, no signature, no DMARC policy).
    None,
    /// The check could not be completed (a temporary or permanent DNS error).
    Error,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Social,
    Chat,
    Voice,
    Email,
}

impl Channel {
    /// Every channel, in the order the registry lists them.
    pub const ALL: [Channel; 5] = [
        Channel::Sms,
        Channel::Social,
        Channel::Chat,
        Channel::Voice,
        Channel::Email,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Social => "social",
            Channel::Chat => "chat",
            Channel::Voice => "voice",
            Channel::Email => "email",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown channel {s:?}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A message written by a person (or bot).
    Message,
    /// A delivery receipt for a message: see `status`.
    Status,
    /// A voice call's transcript: see `transcript`.
    Transcript,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Status => "status",
            Kind::Transcript => "transcript",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Private,
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer to the business.
    Inbound,
    /// From the business to the customer (status receipts are about outbound messages).
    Outbound,
}

/// One side of a conversation. Every field but `id` is optional: providers reveal different things.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Party {
    /// The provider-scoped identifier, as the provider gives it (a phone number, a user id, ...).
    pub id: String,
    /// Phone number in E.164 (`+14155550100`), when the identifier is a phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// E-mail address, local part as given and domain lower-cased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A user name or handle on the provider (`@name`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
    /// A display name, when the provider shares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The normalised identity used for the omnichannel timeline: `phone:<E.164>`,
    /// `email:<address>`, or `<channel>:<provider>:<id>` when neither is known.
    pub key: String,
}

impl Party {
    /// A party identified by the provider-scoped `id` (a user, page or account id), keyed
    /// `<channel>:<provider>:<id>`. Numeric ids are not phone numbers: a Telegram or X user id
    /// can look like a valid E.164 number of some country.
    pub fn from_id(channel: Channel, provider: &str, id: impl Into<String>) -> Self {
        let mut party = Party {
            id: id.into(),
            ..Party::default()
        };
        party.key = party.identity_key(channel, provider);
        party
    }

    /// A party whose provider id is a phone number (SMS, WhatsApp, calls): its E.164 form,
    /// when it is one, is the phone and the key.
    pub fn from_phone_id(channel: Channel, provider: &str, id: impl Into<String>) -> Self {
        let id = id.into();
        let mut party = Party {
            phone: crate::identity::e164(&id),
            id,
            ..Party::default()
        };
        party.key = party.identity_key(channel, provider);
        party
    }

    /// The normalised identity key of this party: phone first, then e-mail, then the provider id.
    pub fn identity_key(&self, channel: Channel, provider: &str) -> String {
        if let Some(phone) = &self.phone {
            format!("phone:{phone}")
        } else if let Some(email) = &self.email {
            format!("email:{email}")
        } else {
            format!("{channel}:{provider}:{}", self.id)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub kind: AttachmentKind,
    /// Since 1.1. The provider's id of the media, where it is fetched by id from the provider's
    /// API (WhatsApp media id, Telegram file id, LINE message id) rather than by URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Where the provider serves the content; fetching it may need the provider's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// File name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Since 1.2. The content, stored by the gateway in its S3 bucket, for attachments that
    /// arrive inline (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ObjectRef>,
    /// Inline bytes a provider received; the pipeline moves them to S3 (`content`) before the
    /// message is stored, so they never reach the table or the queue.
    #[serde(skip)]
    #[schemars(skip)]
    pub data: Option<bytes::Bytes>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Image,
    Audio,
    Video,
    File,
    Sticker,
    Location,
    Contact,
    #[default]
    Other,
}

impl AttachmentKind {
    /// The attachment kind implied by a MIME type (`image/png` is an image).
    pub fn from_mime(mime: &str) -> Self {
        match mime.split('/').next().unwrap_or_default() {
            "image" => AttachmentKind::Image,
            "audio" => AttachmentKind::Audio,
            "video" => AttachmentKind::Video,
            "text" | "application" => AttachmentKind::File,
            _ => AttachmentKind::Other,
        }
    }
}

/// Delivery state of an outbound message, from a provider's status callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusUpdate {
    /// The state, mapped onto one vocabulary for every provider.
    pub state: DeliveryState,
    /// The provider's own word for the state, as given.
    pub provider_state: String,
    /// The provider's error code, when the message failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The provider's error description, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Accepted by the provider, not yet sent to the carrier.
    Queued,
    /// Handed to the carrier or platform.
    Sent,
    /// Delivered to the customer's device.
    Delivered,
    /// Read by the customer.
    Read,
    /// The provider or carrier gave up: see `error_code`.
    Failed,
    /// A state this schema has no word for: see `provider_state`.
    Unknown,
}

/// A voice call's transcript.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transcript {
    pub call_id: String,
    /// Since 1.2. The calling number in E.164 (as given when it is not a phone number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    /// Since 1.2. The called number in E.164 (as given when it is not a phone number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callee: Option<String>,
    /// BCP 47 language tag, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Call or recording length in seconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// The whole transcript as one text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_text: Option<String>,
    /// Time-ordered utterances.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Since 1.2. The provider's summary of the call, when it made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Since 1.2. Where the provider serves the call recording (fetching may need its
    /// credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Segment {
    pub speaker: Speaker,
    /// Seconds from the start of the call.
    pub start: f64,
    /// Seconds from the start of the call.
    pub end: f64,
    pub text: String,
    /// 0 to 1, when the provider gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    Agent,
    Bot,
    Unknown,
}

/// The deterministic message id: a retried webhook for the same provider event gets the same id.
/// `event_key` is the provider's id of the event (for statuses, message id plus state).
pub fn message_id(channel: Channel, provider: &str, event_key: &str) -> String {
    format!(
        "msg_{}",
        short_hash(&[channel.as_str(), provider, event_key])
    )
}

/// The conversation id: one customer identity on one business endpoint of one channel.
pub fn conversation_id(channel: Channel, business_key: &str, customer_key: &str) -> String {
    format!(
        "conv_{}",
        short_hash(&[channel.as_str(), business_key, customer_key])
    )
}

fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// The JSON Schema of [`Message`], as committed in `schema/message.v1.json`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Message)).expect("a schema is always JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = message_id(Channel::Sms, "twilio", "SM1");
        assert_eq!(a, message_id(Channel::Sms, "twilio", "SM1"));
        assert_ne!(a, message_id(Channel::Sms, "plivo", "SM1"));
        assert_ne!(a, message_id(Channel::Chat, "twilio", "SM1"));
        assert_ne!(
            message_id(Channel::Sms, "ab", "c"),
            message_id(Channel::Sms, "a", "bc")
        );
        assert!(a.starts_with("msg_") && a.len() == 36);
    }

    #[test]
    fn party_key_prefers_phone_then_email_then_scoped_id() {
        let p = Party::from_phone_id(Channel::Sms, "twilio", "+14155550100");
        assert_eq!(p.key, "phone:+14155550100");
        // A numeric user id is not a phone number, though "+3527065" is a valid one.
        let t = Party::from_id(Channel::Social, "telegram", "3527065");
        assert_eq!((t.phone, t.key.as_str()), (None, "social:telegram:3527065"));
        let mut e = Party::from_id(Channel::Chat, "slack", "U123");
        assert_eq!(e.key, "chat:slack:U123");
        e.email = Some("a@example.com".into());
        assert_eq!(
            e.identity_key(Channel::Chat, "slack"),
            "email:a@example.com"
        );
    }

    #[test]
    fn attachment_kind_from_mime() {
        assert_eq!(
            AttachmentKind::from_mime("image/jpeg"),
            AttachmentKind::Image
        );
        assert_eq!(
            AttachmentKind::from_mime("application/pdf"),
            AttachmentKind::File
        );
        assert_eq!(AttachmentKind::from_mime("bogus"), AttachmentKind::Other);
    }
}
