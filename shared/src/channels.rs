//! The registry: every channel and its providers, in one table a newcomer can read. The
//! channel function, the local tool, the tests, the fuzz targets, the benchmarks and the
//! infrastructure (the SAM template and the CDK app's channel file, generated from it) read
//! this table; nothing else lists channels or providers.
//!
//! Adding a provider: its module in `providers/<channel>/`, its samples and tests, one
//! [`ProviderSpec`] line here. Adding a channel: its providers, a [`Channel`] variant (the
//! schema's public name) and one [`ChannelSpec`] here, then `make generate`.

use http::Method;

use crate::provider::Provider;
use crate::providers::{chat, email, sms, social, voice};
use crate::schema::Channel;

/// State a provider keeps between requests, each behind a narrow port of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keeps {
    /// Pieces of a message that arrives in several requests (real-time transcript parts).
    Parts,
    /// Signed tokens bound to the one request they came with (schemes that do not sign the
    /// body).
    TokenBindings,
}

/// What a provider calls over the network besides AWS (an egress, not an IAM permission),
/// and the variable that points it elsewhere: at a stand-in locally, at a region's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallsOut {
    /// The provider's API (a finished transcript fetched by id), at the base URL in `env`.
    ProviderApi { env: &'static str },
    /// Signing certificates (and subscription confirmations) from the provider's hosts; debug
    /// builds take them from the URL prefix in `env` instead, `standin_path` at the stand-in.
    Certificates {
        env: &'static str,
        standin_path: &'static str,
    },
}

impl CallsOut {
    /// The variable and value that point this call at the stand-ins at `standin`.
    pub fn local_env(&self, standin: &str) -> (&'static str, String) {
        match *self {
            CallsOut::ProviderApi { env } => (env, standin.to_string()),
            CallsOut::Certificates { env, standin_path } => {
                (env, format!("{standin}{standin_path}"))
            }
        }
    }
}

/// The variables the registry's settings and calls out are read from: named once, here, for
/// the registry, the configuration (`config.rs`) and the generated templates.
pub const ASSEMBLYAI_API_ENV: &str = "ASSEMBLYAI_API_BASE_URL";
pub const SNS_CERTIFICATES_ENV: &str = "LOCAL_SNS_CERT_BASE_URL";
pub const TRANSCRIPT_GRACE_ENV: &str = "TRANSCRIPT_GRACE_SECS";

/// Where the providers that call out reach, read once from the function's configuration.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// AssemblyAI's API (`ASSEMBLYAI_API_BASE_URL`).
    pub assemblyai_api: String,
    /// Where SNS signing certificates may come from.
    pub sns_certificates: crate::providers::email::ses::CertPolicy,
    /// How long a real-time transcript waits after its stop event for late utterances.
    pub transcript_grace: chrono::Duration,
}

/// One provider: its path segment, what it needs, and how it is built.
pub struct ProviderSpec {
    /// The path segment that selects it (`/sms/twilio`), and its name in the channel secret.
    pub name: &'static str,
    /// Its name for people (webhook URL outputs, docs).
    pub title: &'static str,
    pub keeps: &'static [Keeps],
    pub calls_out: &'static [CallsOut],
    pub build: fn(&Endpoints) -> Box<dyn Provider>,
}

/// A channel-specific deploy setting: a stack parameter passed to the function as a variable.
pub struct Setting {
    pub parameter: &'static str,
    pub env: &'static str,
    pub default: &'static str,
    pub description: &'static str,
}

/// One channel: one function, one FIFO queue, one secret.
pub struct ChannelSpec {
    pub channel: Channel,
    /// Prefix of its logical ids and parameters in the templates (`Sms`).
    pub id: &'static str,
    /// Its name in sentences (alarm descriptions, dashboards).
    pub title: &'static str,
    pub description: &'static str,
    pub settings: &'static [Setting],
    pub providers: &'static [ProviderSpec],
}

/// An IAM action a function needs, and on what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    /// On the messages table.
    Table(&'static str),
    /// On the outbox table (the publisher's input).
    Outbox(&'static str),
    /// On the channel's own secret.
    Secret(&'static str),
    /// On the parts table (providers that keep parts).
    Parts(&'static str),
    /// On the bucket's objects under the channel's prefix (`<channel>/*`).
    Objects(&'static str),
    /// On the objects of the channel's intake (`<channel>/intake/*`).
    Intake(&'static str),
    /// On the bucket itself, for the keys under the channel's intake prefix only (a condition
    /// on `s3:prefix`).
    IntakeListing(&'static str),
}

pub const CHANNELS: &[ChannelSpec] = &[
    ChannelSpec {
        channel: Channel::Sms,
        id: "Sms",
        title: "SMS",
        description: "SMS webhooks (Twilio, Vonage, Telnyx, Plivo).",
        settings: &[],
        providers: &[
            provider("twilio", "Twilio", &[], &[], |_| {
                Box::new(sms::twilio::Twilio)
            }),
            provider("vonage", "Vonage", &[], &[], |_| {
                Box::new(sms::vonage::Vonage)
            }),
            provider("telnyx", "Telnyx", &[], &[], |_| {
                Box::new(sms::telnyx::Telnyx)
            }),
            provider("plivo", "Plivo", &[], &[], |_| Box::new(sms::plivo::Plivo)),
        ],
    },
    ChannelSpec {
        channel: Channel::Social,
        id: "Social",
        title: "social",
        description: "Social webhooks (Meta, X, LINE, Viber, Telegram).",
        settings: &[],
        providers: &[
            provider("meta", "Meta", &[], &[], |_| Box::new(social::meta::Meta)),
            provider("x", "X", &[], &[], |_| Box::new(social::x::X)),
            provider("line", "LINE", &[], &[], |_| Box::new(social::line::Line)),
            provider("viber", "Viber", &[], &[], |_| {
                Box::new(social::viber::Viber)
            }),
            provider("telegram", "Telegram", &[], &[], |_| {
                Box::new(social::telegram::Telegram)
            }),
        ],
    },
    ChannelSpec {
        channel: Channel::Chat,
        id: "Chat",
        title: "chat",
        description: "Chat webhooks (Slack, Intercom, Zendesk, Sunshine Conversations, Crisp, LiveChat, web chat).",
        settings: &[],
        providers: &[
            provider("slack", "Slack", &[], &[], |_| Box::new(chat::slack::Slack)),
            provider("intercom", "Intercom", &[], &[], |_| {
                Box::new(chat::intercom::Intercom)
            }),
            provider("zendesk", "Zendesk", &[], &[], |_| {
                Box::new(chat::zendesk::Zendesk)
            }),
            provider("sunshine", "Sunshine", &[], &[], |_| {
                Box::new(chat::sunshine::Sunshine)
            }),
            provider("crisp", "Crisp", &[], &[], |_| Box::new(chat::crisp::Crisp)),
            provider("livechat", "LiveChat", &[], &[], |_| {
                Box::new(chat::livechat::LiveChat)
            }),
            provider("webchat", "Webchat", &[], &[], |_| {
                Box::new(chat::webchat::WebChat)
            }),
        ],
    },
    ChannelSpec {
        channel: Channel::Voice,
        id: "Voice",
        title: "voice",
        description: "Voice transcript webhooks (Twilio, Deepgram, Retell, Vapi, AssemblyAI).",
        settings: &[
            Setting {
                parameter: "AssemblyAiApiBaseUrl",
                env: ASSEMBLYAI_API_ENV,
                default: "https://api.assemblyai.com",
                description: "Where finished AssemblyAI transcripts are fetched (https://api.eu.assemblyai.com for EU jobs).",
            },
            Setting {
                parameter: "TranscriptGraceSeconds",
                env: TRANSCRIPT_GRACE_ENV,
                default: "60",
                description: "Seconds a Twilio real-time transcript waits after its stop event for utterances delivered late (0 to 3600; 0 assembles at the stop event).",
            },
        ],
        providers: &[
            provider("twilio", "Twilio", &[Keeps::Parts], &[], |endpoints| {
                Box::new(voice::twilio::TwilioVoice::new(endpoints.transcript_grace))
            }),
            provider("deepgram", "Deepgram", &[], &[], |_| {
                Box::new(voice::deepgram::Deepgram)
            }),
            provider("retell", "Retell", &[], &[], |_| {
                Box::new(voice::retell::Retell)
            }),
            provider("vapi", "Vapi", &[], &[], |_| Box::new(voice::vapi::Vapi)),
            provider(
                "assemblyai",
                "Assemblyai",
                &[],
                &[CallsOut::ProviderApi {
                    env: ASSEMBLYAI_API_ENV,
                }],
                |endpoints| {
                    Box::new(voice::assemblyai::AssemblyAi::new(
                        &endpoints.assemblyai_api,
                    ))
                },
            ),
        ],
    },
    ChannelSpec {
        channel: Channel::Email,
        id: "Email",
        title: "e-mail",
        description: "E-mail webhooks (Mailgun, SendGrid Inbound Parse, Postmark, Amazon SES through SNS).",
        settings: &[],
        providers: &[
            provider("mailgun", "Mailgun", &[Keeps::TokenBindings], &[], |_| {
                Box::new(email::mailgun::Mailgun)
            }),
            provider("sendgrid", "Sendgrid", &[], &[], |_| {
                Box::new(email::sendgrid::SendGrid)
            }),
            provider("postmark", "Postmark", &[], &[], |_| {
                Box::new(email::postmark::Postmark)
            }),
            provider("ses", "Ses", &[], &[SNS_CERTIFICATES], |endpoints| {
                Box::new(email::ses::Ses::new(endpoints.sns_certificates.clone()))
            }),
        ],
    },
];

const SNS_CERTIFICATES: CallsOut = CallsOut::Certificates {
    env: SNS_CERTIFICATES_ENV,
    standin_path: "/sns/",
};

const fn provider(
    name: &'static str,
    title: &'static str,
    keeps: &'static [Keeps],
    calls_out: &'static [CallsOut],
    build: fn(&Endpoints) -> Box<dyn Provider>,
) -> ProviderSpec {
    ProviderSpec {
        name,
        title,
        keeps,
        calls_out,
        build,
    }
}

/// The registry's entry of `channel`.
pub fn spec(channel: Channel) -> &'static ChannelSpec {
    CHANNELS
        .iter()
        .find(|c| c.channel == channel)
        .expect("every channel has its entry in the registry")
}

impl ChannelSpec {
    /// Whether one of its providers keeps this state.
    pub fn keeps(&self, state: Keeps) -> bool {
        self.providers.iter().any(|p| p.keeps.contains(&state))
    }

    pub fn name(&self) -> &'static str {
        self.channel.as_str()
    }

    /// Its provider named `name` (the path segment).
    pub fn provider(&self, name: &str) -> Option<&'static ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Whether one of its providers calls out beyond AWS (a provider API, certificates).
    pub fn calls_out(&self) -> bool {
        self.providers.iter().any(|p| !p.calls_out.is_empty())
    }

    /// The variables that point its providers' calls out at the stand-ins at `standin`.
    pub fn local_env(&self, standin: &str) -> Vec<(&'static str, String)> {
        let mut env: Vec<_> = self
            .providers
            .iter()
            .flat_map(|p| p.calls_out)
            .map(|c| c.local_env(standin))
            .collect();
        env.dedup();
        env
    }

    /// The channel's providers, built to call out to `endpoints`.
    pub fn providers(&self, endpoints: &Endpoints) -> Vec<Box<dyn Provider>> {
        self.providers
            .iter()
            .map(|p| (p.build)(endpoints))
            .collect()
    }

    /// Every HTTP method one of its providers uses (the API's routes), in a fixed order.
    pub fn methods(&self, endpoints: &Endpoints) -> Vec<Method> {
        let used: Vec<Method> = self
            .providers(endpoints)
            .iter()
            .flat_map(|p| p.methods().to_vec())
            .collect();
        [Method::POST, Method::GET, Method::PUT, Method::HEAD]
            .into_iter()
            .filter(|m| used.contains(m))
            .collect()
    }

    /// What the channel's function may do in AWS: what the pipeline does for every channel
    /// (store a message with its outbox record; it never publishes), and what its providers'
    /// state needs.
    pub fn grants(&self) -> Vec<Grant> {
        let mut grants = vec![
            // One transaction: the message (a conditional put) and its outbox record.
            Grant::Table("dynamodb:PutItem"),
            Grant::Outbox("dynamodb:PutItem"),
            Grant::Secret("secretsmanager:GetSecretValue"),
            // Claim checks, inline attachments, oversize raw bodies and kept requests.
            Grant::Objects("s3:PutObject"),
            // The replay of the requests kept while the store was down.
            Grant::IntakeListing("s3:ListBucket"),
            Grant::Intake("s3:GetObject"),
            Grant::Intake("s3:DeleteObject"),
        ];
        for keeps in self.providers.iter().flat_map(|p| p.keeps) {
            match keeps {
                // One item per part, read back together, removed when their work is done.
                Keeps::Parts => grants.extend([
                    Grant::Parts("dynamodb:PutItem"),
                    Grant::Parts("dynamodb:Query"),
                    Grant::Parts("dynamodb:DeleteItem"),
                ]),
                // A conditional put.
                Keeps::TokenBindings => grants.push(Grant::Table("dynamodb:PutItem")),
            }
        }
        grants.sort();
        grants.dedup();
        grants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_has_one_entry_and_unique_providers() {
        let names: Vec<_> = CHANNELS.iter().map(|c| c.channel).collect();
        assert_eq!(
            names,
            Channel::ALL,
            "one entry per channel, in the schema's order"
        );
        for c in CHANNELS {
            let mut providers: Vec<_> = c.providers.iter().map(|p| p.name).collect();
            providers.sort_unstable();
            providers.dedup();
            assert_eq!(providers.len(), c.providers.len(), "{}", c.name());
        }
    }

    #[test]
    fn grants_follow_what_providers_keep() {
        let voice = spec(Channel::Voice).grants();
        assert!(
            voice.contains(&Grant::Parts("dynamodb:Query")),
            "parts are read back"
        );
        let sms = spec(Channel::Sms).grants();
        assert!(!sms.iter().any(|g| matches!(g, Grant::Parts(_))));
        assert!(sms.contains(&Grant::Outbox("dynamodb:PutItem")));
    }
}
