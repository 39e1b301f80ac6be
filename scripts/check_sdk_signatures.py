#!/usr/bin/env python3
"""Cross-checks the gateway's signatures with the providers' official SDKs.

  check_sdk_signatures.py events DIR     every sample in DIR/sms, the LINE and Viber samples in
                                         DIR/social, the Slack and web-chat samples in DIR/chat
                                         the Twilio and Retell samples in DIR/voice and the
                                         SendGrid samples in DIR/email must pass
                                         (or, for a rejected one, fail) the provider SDK's own
                                         check
  check_sdk_signatures.py vectors FILE   writes signatures made by the SDKs for extra cases
                                         (ports, repeated fields, query strings, every Vonage
                                         method); shared/tests/sdk_vectors.rs verifies them

SDKs: twilio (RequestValidator), plivo (signature_v3), vonage-http-client (Auth.sign_params,
check_signature), vonage-jwt (verify_signature), telnyx (webhook _verify_signature),
line-bot-sdk (SignatureValidator), viberbot (Api.verify_signature), slack-sdk
(SignatureVerifier), standardwebhooks (Webhook.verify) for the web chat, retell-sdk
(retell.lib.webhook_auth.verify; its own signer is not HMAC, so it cannot make vectors),
sendgrid (EventWebhook.verify_signature, the security policy's ECDSA check). Meta,
X, Telegram, Intercom, Zendesk, Crisp and LiveChat publish no SDK that checks webhook
signatures; Deepgram, Vapi and AssemblyAI send shared secrets, not signatures.
"""

import base64
import hashlib
import json
import pathlib
import sys
from urllib.parse import parse_qsl

from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3, validate_v3_signature
from telnyx.resources.webhooks import TelnyxWebhookVerificationError, _verify_signature as telnyx_verify
from twilio.request_validator import RequestValidator
from vonage_http_client.auth import Auth as VonageAuth
from vonage_jwt.verify_jwt import verify_signature as vonage_verify_jwt
from linebot.v3.webhook import SignatureValidator as LineSignatureValidator
from viberbot import Api as ViberApi
from viberbot.api.bot_configuration import BotConfiguration as ViberConfiguration
from slack_sdk.signature import SignatureVerifier as SlackVerifier
from standardwebhooks.webhooks import Webhook as StandardWebhook
from retell.lib.webhook_auth import verify as retell_verify
from sendgrid.helpers.eventwebhook import EventWebhook


def body_of(event):
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def form_of(body):
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def check_event(channel, provider, event, secrets):
    """True when the provider's SDK accepts the sample's signature."""
    headers = event["headers"]
    body = body_of(event)
    url = f"https://hooks.example.com/{channel}/{provider}"
    url += f"?{event['rawQueryString']}" if event.get("rawQueryString") else ""
    if provider == "twilio":
        return RequestValidator(secrets["twilio"][0]).validate(url, form_of(body), headers["x-twilio-signature"])
    if provider == "plivo":
        return validate_v3_signature(
            "POST", url, headers["x-plivo-signature-v3-nonce"], secrets["plivo"][0],
            headers["x-plivo-signature-v3"], form_of(body))
    if provider == "telnyx":
        try:
            telnyx_verify(body.decode(), headers, secrets["telnyx"][0])
            return True
        except TelnyxWebhookVerificationError:
            return False
    if provider == "vonage":
        secret = secrets["vonage"]["keys"][0]
        auth = headers.get("authorization")
        if auth:
            import jwt
            token = auth.split(" ", 1)[1]
            if not vonage_verify_jwt(token, secret):
                return False
            claims = jwt.decode(token, secret, algorithms=["HS256"])
            return claims["payload_hash"] == hashlib.sha256(body).hexdigest()
        params = form_of(body)
        return VonageAuth(api_key="abcd1234", signature_secret=secret, signature_method="sha256").check_signature(params)
    if provider == "line":
        return LineSignatureValidator(secrets["line"][0]).validate(body.decode(), headers["x-line-signature"])
    if provider == "viber":
        api = ViberApi(ViberConfiguration(auth_token=secrets["viber"][0], name="shop", avatar=""))
        return api.verify_signature(body, headers["x-viber-content-signature"])
    if provider == "slack":
        return SlackVerifier(secrets["slack"][0]).is_valid(
            body, headers["x-slack-request-timestamp"], headers["x-slack-signature"])
    if provider == "retell":
        # The SDK checks the timestamp against the clock: the samples are signed now.
        return retell_verify(body.decode(), secrets["retell"][0], headers["x-retell-signature"])
    if provider == "sendgrid":
        # The SDK hashes text: the samples' bodies (attachments included) are UTF-8.
        hook = EventWebhook()
        key = hook.convert_public_key_to_ecdsa(secrets["sendgrid"]["public_key"])
        return hook.verify_signature(
            body.decode(), headers["x-twilio-email-event-webhook-signature"],
            headers["x-twilio-email-event-webhook-timestamp"], key)
    if provider == "webchat":
        for secret in secrets["webchat"]:
            try:
                StandardWebhook(secret).verify(body, headers)
                return True
            except Exception:
                pass
        return False
    raise SystemExit(f"no SDK check for provider {provider}")


def events(directory):
    root = pathlib.Path(directory)
    secrets = json.loads((root / "secrets" / "sms.json").read_text())
    secrets.update(json.loads((root / "secrets" / "social.json").read_text()))
    secrets.update(json.loads((root / "secrets" / "chat.json").read_text()))
    voice = json.loads((root / "secrets" / "voice.json").read_text())
    secrets["retell"] = voice["retell"]
    secrets["sendgrid"] = json.loads((root / "secrets" / "email.json").read_text())["sendgrid"]
    paths = sorted((root / "sms").glob("*.json"))
    paths += sorted(p for p in (root / "social").glob("*.json") if p.name.startswith(("line-", "viber-")))
    paths += sorted(p for p in (root / "chat").glob("*.json") if p.name.startswith(("slack-", "webchat-")))
    paths += sorted(p for p in (root / "voice").glob("*.json") if p.name.startswith(("twilio-", "retell-")))
    # These two are signed correctly: their faults are the Basic auth and the age, which the
    # SDK does not check.
    paths += sorted(p for p in (root / "email").glob("sendgrid-*.json")
                    if not p.name.endswith(("wrong-password.json", "stale.json")))
    checked = failed = 0
    for path in paths:
        provider = path.name.split("-", 1)[0]
        tampered = any(word in path.name for word in ("tampered", "stale", "wrong-key"))
        channel = path.parent.name
        keys = {**secrets, "twilio": voice["twilio"]} if channel == "voice" else secrets
        accepted = check_event(channel, provider, json.loads(path.read_text()), keys)
        ok = accepted != tampered
        checked += 1
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path.name}: the {provider} SDK {'accepts' if accepted else 'rejects'} it")
    print(f"{checked - failed} passed, {failed} failed")
    return 1 if failed or not checked else 0


def vectors(out):
    cases = []
    # Twilio: the SDK's compute_signature, with the URL variants Twilio itself may sign.
    token = "sdk-twilio-token"
    tw = RequestValidator(token)
    params = {"Body": "Grüße 👋 & more", "From": "+14155550100", "To": "+12025550123", "NumMedia": "0"}
    for url in [
        "https://hooks.example.com/sms/twilio",
        "https://hooks.example.com:443/sms/twilio",
        "https://hooks.example.com/sms/twilio?tenant=acme&b=2",
    ]:
        cases.append({"provider": "twilio", "key": token, "url": url, "method": "POST",
                      "content_type": "application/x-www-form-urlencoded",
                      "params": params, "headers": {"x-twilio-signature": tw.compute_signature(url, params)}})
    # Twilio JSON body: the URL carries bodySHA256 and only the URL is signed.
    json_body = '{"event":"onMessageAdded","body":"h\\u00e9llo"}'
    url = f"https://hooks.example.com/sms/twilio?bodySHA256={tw.compute_hash(json_body)}"
    cases.append({"provider": "twilio", "key": token, "url": url, "method": "POST",
                  "content_type": "application/json", "raw_body": json_body, "params": {},
                  "headers": {"x-twilio-signature": tw.compute_signature(url, {})}})
    # Plivo: POST with and without a query, and a GET.
    ptoken = "sdk-plivo-token"
    for url, method, post in [
        ("https://hooks.example.com/sms/plivo", "POST", {"From": "14155550100", "Text": "Grüße 👋", "To": "12025550123"}),
        ("https://hooks.example.com/sms/plivo?tenant=acme&a=1", "POST", {"From": "14155550100", "To": "12025550123"}),
        ("https://hooks.example.com/sms/plivo?From=14155550100&Text=hi%20there", "GET", {}),
    ]:
        nonce = "sdk-nonce-12345"
        base = (construct_get_url(url, dict(post) if method == "GET" else {}) if method == "GET"
                else construct_post_url(url, dict(post))).decode()
        sig = get_signature_v3(ptoken, base, nonce).decode()
        cases.append({"provider": "plivo", "key": ptoken, "url": url, "method": method,
                      "content_type": "application/x-www-form-urlencoded", "params": post,
                      "headers": {"x-plivo-signature-v3": sig, "x-plivo-signature-v3-nonce": nonce}})
    # Vonage SMS API: every HMAC method the SDK implements.
    for method in ["md5", "sha1", "sha256", "sha512"]:
        secret = f"sdk-vonage-{method}"
        params = {"msisdn": "14155550100", "to": "12025550123", "messageId": "0A000001",
                  "text": "a=b&c Grüße", "type": "unicode", "timestamp": "1795435200", "nonce": "n-1"}
        sig = VonageAuth(api_key="k", signature_secret=secret, signature_method=method).sign_params(dict(params))
        cases.append({"provider": "vonage", "key": secret, "option": {"sms_signature_method": method},
                      "url": "https://hooks.example.com/sms/vonage", "method": "POST",
                      "content_type": "application/x-www-form-urlencoded",
                      "params": {**params, "sig": sig}, "headers": {}, "now": 1795435200})
    pathlib.Path(out).write_text(json.dumps(cases, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} SDK-made signatures to {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("events", "vectors"):
        raise SystemExit(__doc__)
    sys.exit(events(sys.argv[2]) if sys.argv[1] == "events" else vectors(sys.argv[2]))
