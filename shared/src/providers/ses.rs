//! Amazon SES receipt notifications delivered by SNS over HTTPS.
//!
//! Every SNS message is signed: `SignatureVersion` 1 (RSA SHA-1) or 2 (RSA SHA-256) over the
//! message's fields, with the certificate at `SigningCertURL`. The certificate is only fetched
//! from an SNS host of an AWS region (`https://sns.<region>.amazonaws.com[.cn]/….pem`, as AWS's
//! own validators require) and cached per URL. The secret's keys are the topic ARNs this
//! endpoint accepts, so a message from any other topic is refused even when AWS signed it.
//! `SubscriptionConfirmation` is confirmed (a GET of `SubscribeURL`) once verified.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use x509_cert::der::{DecodePem, Encode};

use super::mail::{self, Mail};
use super::parse_json;
use crate::error::{AuthError, GatewayError};
use crate::provider::{Context, Outcome, Provider, Reply};
use crate::request::WebhookRequest;
use crate::secrets::ProviderSecret;

/// Where signing certificates (and subscription confirmations) may come from.
#[derive(Debug, Clone)]
pub enum CertPolicy {
    /// `https://sns.<region>.amazonaws.com[.cn]/…`: what SNS uses in every AWS partition.
    AwsSns,
    /// URLs under this prefix only: a local stand-in, for tests and local runs.
    Prefix(String),
}

impl CertPolicy {
    fn allows(&self, url: &str, pem: bool) -> bool {
        match self {
            CertPolicy::Prefix(prefix) => url.starts_with(prefix.as_str()),
            CertPolicy::AwsSns => {
                let Ok(parsed) = reqwest::Url::parse(url) else {
                    return false;
                };
                let host = parsed.host_str().unwrap_or_default();
                parsed.scheme() == "https"
                    && parsed.port().is_none()
                    && parsed.username().is_empty()
                    && is_sns_host(host)
                    && (!pem || parsed.path().ends_with(".pem"))
            }
        }
    }
}

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, region `[A-Za-z0-9-]{3,}`.
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region
        .is_some_and(|r| r.len() >= 3 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// Cached certificates are few (one per region and rotation); the cap bounds a flood of URLs.
const MAX_CACHED_CERTS: usize = 16;

pub struct Ses {
    http: reqwest::Client,
    policy: CertPolicy,
    certs: Mutex<HashMap<String, RsaPublicKey>>,
}

impl Ses {
    pub fn new(policy: CertPolicy) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(4))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with timeouts only always builds");
        Ses {
            http,
            policy,
            certs: Mutex::new(HashMap::new()),
        }
    }

    /// The AWS policy; a debug build (what `cargo lambda watch` serves locally) also honours
    /// `LOCAL_SNS_CERT_BASE_URL`, so local runs can sign with a test certificate. Release
    /// builds, the ones deployed, never read it.
    pub fn from_env() -> Self {
        #[cfg(debug_assertions)]
        if let Ok(prefix) = std::env::var("LOCAL_SNS_CERT_BASE_URL")
            && !prefix.is_empty()
        {
            return Ses::new(CertPolicy::Prefix(prefix));
        }
        Ses::new(CertPolicy::AwsSns)
    }

    fn cached(&self, url: &str) -> Option<RsaPublicKey> {
        self.certs.lock().unwrap().get(url).cloned()
    }

    async fn fetch_cert(&self, url: &str) -> Result<RsaPublicKey, GatewayError> {
        let failed = |what: String| GatewayError::ProviderApi(format!("SNS certificate: {what}"));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let pem = response.text().await.map_err(|e| failed(e.to_string()))?;
        // A certificate that does not parse is not transient: refuse the message.
        let key = public_key(&pem).ok_or(GatewayError::Unauthorized(AuthError::Invalid))?;
        let mut certs = self.certs.lock().unwrap();
        if certs.len() >= MAX_CACHED_CERTS {
            certs.clear();
        }
        certs.insert(url.to_string(), key.clone());
        Ok(key)
    }
}

/// The RSA public key of a PEM certificate.
fn public_key(pem: &str) -> Option<RsaPublicKey> {
    let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).ok()?;
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

/// An SNS HTTP(S) message.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMessage {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    subject: Option<String>,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
}

impl SnsMessage {
    /// `name\nvalue\n` for each signed field, in the order SNS signs them.
    fn string_to_sign(&self) -> Option<String> {
        let mut out = String::new();
        let mut add = |name: &str, value: &str| {
            out.push_str(name);
            out.push('\n');
            out.push_str(value);
            out.push('\n');
        };
        add("Message", &self.message);
        add("MessageId", &self.message_id);
        if self.kind == "Notification" {
            if let Some(subject) = &self.subject {
                add("Subject", subject);
            }
        } else {
            add("SubscribeURL", self.subscribe_url.as_deref()?);
        }
        add("Timestamp", &self.timestamp);
        if self.kind != "Notification" {
            add("Token", self.token.as_deref()?);
        }
        add("TopicArn", &self.topic_arn);
        add("Type", &self.kind);
        Some(out)
    }

    fn verify_with(&self, key: &RsaPublicKey) -> Result<(), AuthError> {
        let signed = self.string_to_sign().ok_or(AuthError::Invalid)?;
        let signature = STANDARD
            .decode(self.signature.trim())
            .ok()
            .and_then(|s| Signature::try_from(s.as_slice()).ok())
            .ok_or(AuthError::Invalid)?;
        let ok = match self.signature_version.as_str() {
            "1" => VerifyingKey::<sha1::Sha1>::new(key.clone())
                .verify(signed.as_bytes(), &signature)
                .is_ok(),
            "2" => VerifyingKey::<sha2::Sha256>::new(key.clone())
                .verify(signed.as_bytes(), &signature)
                .is_ok(),
            _ => false,
        };
        if ok { Ok(()) } else { Err(AuthError::Invalid) }
    }
}

fn sns_message(req: &WebhookRequest) -> Result<SnsMessage, AuthError> {
    serde_json::from_slice(&req.body).map_err(|_| AuthError::Missing)
}

#[async_trait]
impl Provider for Ses {
    fn name(&self) -> &'static str {
        "ses"
    }

    /// With the certificate already cached; `authenticate` fetches it first.
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        _now: DateTime<Utc>,
        _tolerance_secs: i64,
    ) -> Result<(), AuthError> {
        let message = sns_message(req)?;
        secret.accept_any(|topic| topic == message.topic_arn)?;
        if !self.policy.allows(&message.signing_cert_url, true) {
            return Err(AuthError::Invalid);
        }
        let key = self
            .cached(&message.signing_cert_url)
            .ok_or(AuthError::Invalid)?;
        message.verify_with(&key)
    }

    async fn authenticate(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        tolerance_secs: i64,
    ) -> Result<(), GatewayError> {
        let message = sns_message(req)?;
        // Only a message for an accepted topic, pointing at an SNS host, makes us fetch.
        secret.accept_any(|topic| topic == message.topic_arn)?;
        if !self.policy.allows(&message.signing_cert_url, true) {
            return Err(AuthError::Invalid.into());
        }
        if self.cached(&message.signing_cert_url).is_none() {
            self.fetch_cert(&message.signing_cert_url).await?;
        }
        Ok(self.verify(req, secret, now, tolerance_secs)?)
    }

    async fn normalise(
        &self,
        req: &WebhookRequest,
        ctx: &Context,
    ) -> Result<Outcome, GatewayError> {
        let message: SnsMessage = parse_json(&req.body)?;
        match message.kind.as_str() {
            "SubscriptionConfirmation" => {
                let url = message
                    .subscribe_url
                    .as_deref()
                    .filter(|url| self.policy.allows(url, false))
                    .ok_or_else(|| GatewayError::malformed("SubscribeURL is not an SNS URL"))?;
                let response = self.http.get(url).send().await.map_err(|e| {
                    GatewayError::ProviderApi(format!("subscription confirmation failed: {e}"))
                })?;
                if !response.status().is_success() {
                    return Err(GatewayError::ProviderApi(format!(
                        "subscription confirmation answered {}",
                        response.status()
                    )));
                }
                tracing::info!("SNS subscription confirmed");
                Ok(Outcome::Reply(Reply::ok()))
            }
            "Notification" => notification(ctx, &message.message),
            _ => Ok(Outcome::Store(Vec::new())),
        }
    }
}

/// An SES receipt notification: the raw MIME message in `content` (SNS action), or only the
/// common headers when the mail went to S3 instead (larger than SNS's 150 KB).
fn notification(ctx: &Context, text: &str) -> Result<Outcome, GatewayError> {
    let note: Value = serde_json::from_str(text)
        .map_err(|_| GatewayError::malformed("the SNS Message is not an SES notification"))?;
    if note["notificationType"].as_str() != Some("Received") {
        return Ok(Outcome::Store(Vec::new()));
    }
    let recipient = note["receipt"]["recipients"][0]
        .as_str()
        .or_else(|| note["mail"]["destination"][0].as_str())
        .map(str::to_string);
    let mut parsed = match note["content"].as_str() {
        Some(content) => {
            let raw = if note["receipt"]["action"]["encoding"].as_str() == Some("BASE64") {
                STANDARD
                    .decode(content.trim())
                    .map_err(|_| GatewayError::malformed("content is not base64"))?
            } else {
                content.as_bytes().to_vec()
            };
            mail::parse_mime(&raw)?
        }
        None => {
            let headers = &note["mail"]["commonHeaders"];
            let list = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str())
                            .flat_map(mail::address_list)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let from = headers["from"][0].as_str().unwrap_or_default();
            Mail {
                from: mail::address_of(from),
                from_name: mail::name_of(from),
                to: list(&headers["to"]),
                cc: list(&headers["cc"]),
                subject: headers["subject"].as_str().map(str::to_string),
                message_id: headers["messageId"]
                    .as_str()
                    .map(mail::message_ids)
                    .and_then(|ids| ids.into_iter().next()),
                ..Default::default()
            }
        }
    };
    parsed.recipient = recipient;
    if parsed.message_id.is_none() {
        parsed.message_id = note["mail"]["messageId"].as_str().map(str::to_string);
    }
    mail::store(ctx, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sns_hosts_serve_certificates() {
        let aws = CertPolicy::AwsSns;
        for ok in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
            "https://sns.us-gov-west-1.amazonaws.com/x.pem",
        ] {
            assert!(aws.allows(ok, true), "{ok}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "not a url",
        ] {
            assert!(!aws.allows(bad, true), "{bad}");
        }
        let local = CertPolicy::Prefix("http://127.0.0.1:9180/sns/".into());
        assert!(local.allows("http://127.0.0.1:9180/sns/cert.pem", true));
        assert!(!local.allows("http://127.0.0.1:9181/sns/cert.pem", true));
    }
}
