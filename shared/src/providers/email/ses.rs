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
use crate::error::{AuthError, GatewayError};
use crate::provider::{Auth, Context, Outcome, Provider, Reply};
use crate::providers::parse_json;
use crate::request::WebhookRequest;
use crate::secrets::{KeyKind, ProviderSecret};
use crate::verify::Scheme;

/// Where signing certificates (and subscription confirmations) may come from.
#[derive(Debug, Clone)]
pub enum CertPolicy {
    /// `https://sns.<region>.amazonaws.com/…` (`.amazonaws.com.cn` in China) with a real
    /// region name: what SNS uses.
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

/// `sns.<region>.amazonaws.com` for a commercial or GovCloud region, or
/// `sns.cn-<…>.amazonaws.com.cn`. Region names as AWS's partitions define them (botocore's
/// `regionRegex`: `(us|eu|ap|sa|ca|me|af|il|mx)-<name>-<n>`, `us-gov-<name>-<n>`,
/// `cn-<name>-<n>`), so hosts that merely look similar (`sns.s3-accelerate.amazonaws.com`)
/// are refused.
fn is_sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    if let Some(region) = rest.strip_suffix(".amazonaws.com.cn") {
        return region.starts_with("cn-") && is_region(region);
    }
    rest.strip_suffix(".amazonaws.com").is_some_and(|region| {
        let area = region.split('-').next().unwrap_or_default();
        ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"].contains(&area) && is_region(region)
    })
}

/// `<area>-<name>-<n>` or `us-gov-<name>-<n>`, lower-case letters and a number.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (name, number) = match parts.as_slice() {
        [_, name, number] => (name, number),
        ["us", "gov", name, number] => (name, number),
        _ => return false,
    };
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase())
        && (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The largest certificate fetched (aws-sdk-java-v2's cap): SNS's are under 2 KB.
const MAX_CERT_BYTES: usize = 10 * 1024;

/// A signing certificate's key and what was checked of it.
#[derive(Clone)]
struct SigningCert {
    key: RsaPublicKey,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

/// Cached certificates are few (one per region and rotation); the cap bounds a flood of URLs.
const MAX_CACHED_CERTS: usize = 16;

pub struct Ses {
    http: reqwest::Client,
    policy: CertPolicy,
    certs: Mutex<HashMap<String, SigningCert>>,
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

    fn cached(&self, url: &str) -> Option<SigningCert> {
        self.certs.lock().unwrap().get(url).cloned()
    }

    async fn fetch_cert(&self, url: &str) -> Result<SigningCert, GatewayError> {
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
        if response
            .content_length()
            .is_some_and(|n| n > MAX_CERT_BYTES as u64)
        {
            return Err(AuthError::Invalid.into());
        }
        let pem = response.bytes().await.map_err(|e| failed(e.to_string()))?;
        // A certificate too large or that does not parse is not transient: refuse the message.
        if pem.len() > MAX_CERT_BYTES {
            return Err(AuthError::Invalid.into());
        }
        let cert = signing_cert(&pem).ok_or(GatewayError::Unauthorized(AuthError::Invalid))?;
        let mut certs = self.certs.lock().unwrap();
        if certs.len() >= MAX_CACHED_CERTS {
            certs.clear();
        }
        certs.insert(url.to_string(), cert.clone());
        Ok(cert)
    }
}

/// The RSA key of a PEM certificate that passes the checks aws-sdk-java-v2's SNS message
/// validator makes: issued by and to Amazon (its issuer and subject names), its key usage
/// (when stated) allowing digital signatures. Its validity period is kept, and checked at
/// each use against the request's time.
fn signing_cert(pem: &[u8]) -> Option<SigningCert> {
    let cert = x509_cert::Certificate::from_pem(pem).ok()?;
    let tbs = &cert.tbs_certificate;
    let issuer = tbs.issuer.to_string().to_ascii_lowercase();
    let subject = tbs.subject.to_string().to_ascii_lowercase();
    let amazon_issuer = [
        "cn=sns.amazonaws.com",
        "cn=amazon",
        "o=amazon.com inc.",
        "o=amazon web services",
        "o=amazon.com, inc.",
        "cn=amazon web services",
    ]
    .iter()
    .any(|name| issuer.contains(name))
        || (issuer.contains("amazonaws.com") && issuer.contains("amazon"));
    let amazon_subject = ["sns.amazonaws.com", "amazon", "aws", "amazonaws.com"]
        .iter()
        .any(|name| subject.contains(name));
    if !amazon_issuer || !amazon_subject || !signs(tbs) {
        return None;
    }
    let spki = tbs.subject_public_key_info.to_der().ok()?;
    let time = |t: x509_cert::time::Time| DateTime::<Utc>::from(t.to_system_time());
    Some(SigningCert {
        key: RsaPublicKey::from_public_key_der(&spki).ok()?,
        not_before: time(tbs.validity.not_before),
        not_after: time(tbs.validity.not_after),
    })
}

/// Whether the certificate's key usage, when it states one, allows digital signatures.
fn signs(tbs: &x509_cert::TbsCertificate) -> bool {
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    const KEY_USAGE: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15");
    let Some(ext) = tbs
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == KEY_USAGE)
    else {
        return true;
    };
    KeyUsage::from_der(ext.extn_value.as_bytes())
        .is_ok_and(|usage| usage.0.contains(KeyUsages::DigitalSignature))
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

    /// The accepted topics' ARNs are the keys; the signature is the certificate's.
    fn scheme(&self) -> Scheme {
        Scheme::Custom(KeyKind::TopicArn)
    }

    /// With the certificate already cached; `authenticate` fetches it first.
    fn verify(
        &self,
        req: &WebhookRequest,
        secret: &ProviderSecret,
        now: DateTime<Utc>,
        _window_secs: i64,
    ) -> Result<(), AuthError> {
        let message = sns_message(req)?;
        secret.accept_any(|topic| topic == message.topic_arn)?;
        if !self.policy.allows(&message.signing_cert_url, true) {
            return Err(AuthError::Invalid);
        }
        let cert = self
            .cached(&message.signing_cert_url)
            .ok_or(AuthError::Invalid)?;
        if now < cert.not_before || now > cert.not_after {
            return Err(AuthError::Invalid);
        }
        message.verify_with(&cert.key)
    }

    async fn authenticate(
        &self,
        req: &WebhookRequest,
        auth: &Auth<'_>,
    ) -> Result<(), GatewayError> {
        let message = sns_message(req)?;
        // Only a message for an accepted topic, pointing at an SNS host, makes us fetch.
        auth.secret.accept_any(|topic| topic == message.topic_arn)?;
        if !self.policy.allows(&message.signing_cert_url, true) {
            return Err(AuthError::Invalid.into());
        }
        if self.cached(&message.signing_cert_url).is_none() {
            self.fetch_cert(&message.signing_cert_url).await?;
        }
        Ok(self.verify(req, auth.secret, auth.now, auth.window_secs)?)
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
    parsed.envelope_from = note["mail"]["source"].as_str().map(str::to_string);
    parsed.provider_id = note["mail"]["messageId"].as_str().map(str::to_string);
    if parsed.headers.is_empty() {
        parsed.headers = note["mail"]["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| {
                Some((
                    h["name"].as_str()?.to_string(),
                    h["value"].as_str()?.to_string(),
                ))
            })
            .collect();
    }
    parsed.checks = checks(&note["receipt"], &parsed);
    mail::store(ctx, parsed)
}

/// SES's receipt verdicts: DMARC (evaluated against the `From` domain), SPF for `mail.source`,
/// and DKIM, whose verdict names no domain: the signing domain comes from the
/// `Authentication-Results: amazonses.com; … dkim=pass header.i=@<domain>` header SES adds on
/// top (the first one, which no sender can place above SES's own).
fn checks(receipt: &Value, parsed: &Mail) -> mail::SenderChecks {
    let status = |name: &str| receipt[name]["status"].as_str().map(mail::verdict);
    let dkim = status("dkimVerdict").map(|verdict| {
        let results = parsed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("authentication-results"))
            .map(|(_, v)| v.as_str())
            .filter(|v| v.trim_start().starts_with("amazonses.com;"));
        let domain = results.and_then(|v| {
            v.split(';').find_map(|clause| {
                let clause = clause.trim();
                clause.strip_prefix("dkim=pass")?;
                clause
                    .split_whitespace()
                    .find_map(|t| t.strip_prefix("header.i=").or(t.strip_prefix("header.d=")))
                    .and_then(mail::domain_of)
            })
        });
        (
            verdict,
            domain.filter(|_| verdict == crate::schema::AuthVerdict::Pass),
        )
    });
    mail::SenderChecks {
        dmarc: status("dmarcVerdict"),
        spf: status("spfVerdict"),
        spf_domain: parsed.envelope_from.as_deref().and_then(mail::domain_of),
        dkim: dkim.into_iter().collect(),
    }
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
            "https://sns.eu-central-2.amazonaws.com/x.pem",
            "https://sns.ap-southeast-5.amazonaws.com/x.pem",
            "https://sns.mx-central-1.amazonaws.com/x.pem",
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
            // Single-label S3 endpoints match the old `[A-Za-z0-9-]{3,}` pattern: not regions.
            "https://sns.s3-accelerate.amazonaws.com/x.pem",
            "https://sns.s3-external-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.cn/x.pem",
            "https://sns.cn-north-1.amazonaws.com/x.pem",
            "https://sns.xx-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-123.amazonaws.com/x.pem",
            "not a url",
        ] {
            assert!(!aws.allows(bad, true), "{bad}");
        }
        let local = CertPolicy::Prefix("http://127.0.0.1:9180/sns/".into());
        assert!(!local.allows("http://127.0.0.1:9180/other/cert.pem", true));
        assert!(local.allows("http://127.0.0.1:9180/sns/cert.pem", true));
        assert!(!local.allows("http://127.0.0.1:9181/sns/cert.pem", true));
    }

    #[test]
    fn signing_certificates_are_checked_as_aws_sdk_java_v2_does() {
        let fixture = |name: &str| {
            std::fs::read(format!(
                "{}/../tests/src/fixtures/sns/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let cert = signing_cert(&fixture("test-signing-cert.pem"))
            .expect("the fixture certificate is Amazon-named");
        assert!(cert.not_before < cert.not_after);
        assert!(
            signing_cert(&fixture("not-amazon-cert.pem")).is_none(),
            "issued by and to someone else"
        );
        assert!(
            signing_cert(&fixture("key-agreement-only-cert.pem")).is_none(),
            "its key usage excludes signatures"
        );
        assert!(
            signing_cert(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_none()
        );
    }
}
