#!/usr/bin/env python3
"""Differential cases for the gateway's verifiers: genuine requests signed by the providers'
official SDKs (or, where no SDK signs, by the provider's documented algorithm written here
independently of the gateway), then seeded mutations of each (body bytes, each signed header,
timestamps, URL and query, the keys configured), each with the verdict of the provider's
official verifier (or of the documented algorithm).

  sdk_differential.py FILE     writes the cases; tests/tests/sdk_differential.rs checks that
                               the gateway's verdict equals the recorded one on every case

Deterministic (a fixed clock, seeded mutations, deterministic signatures), so CI regenerates
the file and compares it with the committed one: the SDKs installed now still agree.
"""

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import random
import sys
import time
from unittest import mock
from urllib.parse import parse_qsl, urlencode

import jwt
import nacl.signing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from linebot.v3.webhook import SignatureValidator as LineValidator
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3, validate_v3_signature
from retell.lib import webhook_auth as retell_auth
from sendgrid.helpers.eventwebhook import EventWebhook
from slack_sdk.signature import Clock, SignatureVerifier as SlackVerifier
from standardwebhooks import webhooks as standard_webhooks
from telnyx.resources import webhooks as telnyx_webhooks
from twilio.request_validator import RequestValidator
from vonage_http_client.auth import Auth as VonageAuth
from vonage_jwt.verify_jwt import verify_signature as vonage_verify_jwt
from viberbot import Api as ViberApi
from viberbot.api.bot_configuration import BotConfiguration as ViberConfiguration

NOW = 1_795_435_200  # 2026-11-23T12:00:00Z, the clock of every case
MUTATIONS = 200  # per provider, on top of the base cases
BASE = "https://hooks.example.com"


class FixedClock(Clock):
    def now(self) -> float:
        return float(NOW)


class FixedDatetime(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return dt.datetime.fromtimestamp(NOW, tz=tz)


def frozen():
    """The SDKs that read the clock read NOW."""
    return mock.patch.multiple(time, time=lambda: float(NOW))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hmac_of(key: bytes, data: bytes, alg=hashlib.sha256) -> bytes:
    return hmac.new(key, data, alg).digest()


def case(provider, channel, name, method, path, query, headers, body, keys, options=None):
    return {
        "provider": provider, "channel": channel, "case": name, "method": method,
        "url": f"{BASE}/{channel}/{provider}" + (f"?{query}" if query else ""),
        "path": f"/{channel}/{provider}", "query": query, "headers": headers,
        "body": b64(body), "keys": keys, "options": options or {}, "now": NOW,
    }


def body_of(c) -> bytes:
    return base64.b64decode(c["body"])


# ------------------------------------------------------------------ mutations


def mutate(c, rng: random.Random):
    """One seeded change to a request: what an attacker or a broken proxy could do."""
    m = copy.deepcopy(c)
    body = bytearray(body_of(m))
    kinds = ["body_flip", "body_append", "body_truncate", "header_flip", "header_drop",
             "header_case", "query_add", "query_change", "keys_rotate", "keys_wrong",
             "keys_previous", "timestamp_shift", "replay"]
    kind = rng.choice(kinds)
    signed_headers = [h for h in m["headers"] if h not in ("content-type",)]
    if kind == "body_flip" and body:
        i = rng.randrange(len(body))
        body[i] ^= 1 << rng.randrange(7)
    elif kind == "body_append":
        body += rng.choice([b" ", b"\n", b"x", b"}"])
    elif kind == "body_truncate" and body:
        del body[rng.randrange(len(body)):]
    elif kind in ("header_flip", "header_drop", "header_case") and signed_headers:
        name = rng.choice(signed_headers)
        value = m["headers"][name]
        if kind == "header_drop":
            del m["headers"][name]
        elif kind == "header_case":
            m["headers"][name] = value.swapcase()
        elif value:
            i = rng.randrange(len(value))
            m["headers"][name] = value[:i] + rng.choice("A0=/+,z ") + value[i + 1:]
    elif kind == "query_add":
        m["query"] = (m["query"] + "&" if m["query"] else "") + "tenant=other"
    elif kind == "query_change" and m["query"]:
        m["query"] = m["query"].replace("=", "=x", 1)
    elif kind == "keys_rotate":
        m["keys"] = ["rotated-new-key-0123456789abcdef"] + m["keys"]
    elif kind == "keys_wrong":
        m["keys"] = ["unrelated-key-0123456789abcdef"]
    elif kind == "keys_previous":
        m["keys"] = m["keys"][1:] or ["unrelated-key-0123456789abcdef"]
    elif kind == "timestamp_shift":
        m["now"] = NOW + rng.choice([-3600, -301, -299, 0, 299, 301, 3600, 10 * 86400])
    m["body"] = b64(bytes(body))
    m["url"] = m["url"].split("?")[0] + (f"?{m['query']}" if m["query"] else "")
    m["case"] = f"{c['case']}+{kind}"
    return m


def cases_for(base_cases, check, seed):
    """The base cases and MUTATIONS mutations of them, each with `check`'s answer (an SDK
    that raises on malformed input refuses it)."""
    def verdict(c):
        try:
            return bool(check(c))
        except Exception:
            return False
    rng = random.Random(seed)
    out = []
    for c in base_cases:
        c["official"] = verdict(c)
        out.append(c)
    for _ in range(MUTATIONS):
        m = mutate(rng.choice(base_cases), rng)
        m["official"] = verdict(m)
        out.append(m)
    return out


def any_key(c, check):
    return any(check(key) for key in c["keys"])


def header(c, name):
    return c["headers"].get(name)


# ------------------------------------------------------------------ providers with SDKs


def twilio():
    token, previous = "test-twilio-auth-token-0001", "test-twilio-auth-token-0000"
    base = []
    for name, query, params in [
        ("sms", "", {"Body": "Grüße 👋 & more", "From": "+14155550100", "To": "+12025550123",
                     "MessageSid": "SM0001", "NumMedia": "0"}),
        ("query", "tenant=acme&b=2", {"MessageSid": "SM0002", "MessageStatus": "delivered",
                                      "From": "+12025550123", "To": "+14155550100"}),
    ]:
        url = f"{BASE}/sms/twilio" + (f"?{query}" if query else "")
        sig = RequestValidator(token).compute_signature(url, params)
        base.append(case("twilio", "sms", name, "POST", "/sms/twilio", query,
                         {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": sig},
                         urlencode(params).encode(), [token, previous]))
    # Signed with the previous token during a rotation.
    params = {"Body": "rotated", "From": "+14155550100", "To": "+12025550123", "MessageSid": "SM0003"}
    sig = RequestValidator(previous).compute_signature(f"{BASE}/sms/twilio", params)
    base.append(case("twilio", "sms", "rotation", "POST", "/sms/twilio", "",
                     {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": sig},
                     urlencode(params).encode(), [token, previous]))

    # Signed with a Webhook Setting's shared key and HMAC-SHA256 (the header names them).
    shared = "test-twilio-shared-key-secret-0001"
    params = {"Body": "shared key", "From": "+14155550100", "To": "+12025550123", "MessageSid": "SM0004"}
    sig = RequestValidator(shared).compute_signature(f"{BASE}/sms/twilio", params, algorithm="HMAC_SHA256")
    base.append(case("twilio", "sms", "shared-key", "POST", "/sms/twilio", "",
                     {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": sig,
                      "x-twilio-webhooks-signature-settings": "key=KS0001,algorithm=HMAC_SHA256"},
                     urlencode(params).encode(), [token, previous], {"shared_keys": [shared]}))

    def verdict(c):
        if c["method"] != "POST" or "x-twilio-signature" not in c["headers"]:
            return False
        params = dict(parse_qsl(body_of(c).decode(errors="replace"), keep_blank_values=True))
        settings = c["headers"].get("x-twilio-webhooks-signature-settings")
        # twilio-node's documented rule: no settings header, the Auth Token and HMAC-SHA1; with
        # it, the shared key and the algorithm it names (anything else refused).
        if settings is None:
            keys, algorithm = c["keys"], "HMAC_SHA1"
        else:
            named = [p.split("=", 1)[1].strip() for p in settings.split(",")
                     if "=" in p and p.split("=", 1)[0].strip() == "algorithm"]
            algorithm = named[0].upper() if named else None
            if algorithm not in ("HMAC_SHA1", "HMAC_SHA256"):
                return False
            keys = c["options"].get("shared_keys", [])
        return any(RequestValidator(k).validate(c["url"], params, c["headers"]["x-twilio-signature"], algorithm=algorithm)
                   for k in keys)
    return cases_for(base, verdict, 1)


def plivo():
    token = "test-plivo-auth-token-0001"
    base = []
    for name, method, query, params in [
        ("post", "POST", "", {"From": "14155550100", "Text": "Grüße 👋", "To": "12025550123", "MessageUUID": "u-1"}),
        ("post-query", "POST", "tenant=acme&a=1", {"From": "14155550100", "To": "12025550123", "MessageUUID": "u-2", "Text": "x"}),
    ]:
        url = f"{BASE}/sms/plivo" + (f"?{query}" if query else "")
        nonce = f"nonce-{name}-0001"
        base_url = construct_post_url(url, dict(params)).decode()
        sig = get_signature_v3(token, base_url, nonce).decode()
        base.append(case("plivo", "sms", name, method, "/sms/plivo", query,
                         {"content-type": "application/x-www-form-urlencoded",
                          "x-plivo-signature-v3": sig, "x-plivo-signature-v3-nonce": nonce},
                         urlencode(params).encode(), [token]))

    def verdict(c):
        sig, nonce = header(c, "x-plivo-signature-v3"), header(c, "x-plivo-signature-v3-nonce")
        if not sig or not nonce:
            return False
        params = dict(parse_qsl(body_of(c).decode(errors="replace"), keep_blank_values=True))
        return any_key(c, lambda k: validate_v3_signature("POST", c["url"], nonce, k, sig, params))
    return cases_for(base, verdict, 2)


def vonage():
    secret = "test-vonage-signature-secret-0001"
    body = json.dumps({"message_uuid": "aaaaaaaa-0001", "to": "12025550123", "from": "14155550100",
                       "timestamp": "2026-11-23T12:00:00Z", "channel": "sms", "message_type": "text",
                       "text": "Grüße 👋"}, ensure_ascii=False).encode()
    claims = {"iat": NOW, "jti": "jti-0001", "application_id": "app-1", "api_key": "abcd1234",
              "payload_hash": hashlib.sha256(body).hexdigest()}
    token = jwt.encode(claims, secret, algorithm="HS256")
    base = [case("vonage", "sms", "messages-api", "POST", "/sms/vonage", "",
                 {"content-type": "application/json", "authorization": f"Bearer {token}"}, body, [secret])]

    def verdict(c):
        auth = header(c, "authorization") or ""
        if not auth.startswith("Bearer "):
            return False
        token = auth.split(" ", 1)[1]
        for key in c["keys"]:
            try:
                if not vonage_verify_jwt(token, key):
                    continue
                # The docs: the JWT proves the sender; payload_hash must be the body's SHA-256.
                claims = jwt.decode(token, key, algorithms=["HS256"], options={"verify_iat": False})
                if claims.get("payload_hash") == hashlib.sha256(body_of(c)).hexdigest():
                    return abs(c["now"] - claims["iat"]) <= 25 * 3600
            except Exception:
                continue
        return False
    return cases_for(base, verdict, 3)


def vonage_sms_api():
    secret = "test-vonage-signature-secret-0001"
    params = {"msisdn": "14155550100", "to": "12025550123", "messageId": "0A000001", "text": "a=b&c Grüße",
              "type": "unicode", "timestamp": str(NOW), "nonce": "n-1"}
    signed = dict(params)
    sig = VonageAuth(api_key="k", signature_secret=secret, signature_method="sha256").sign_params(signed)
    base = [case("vonage", "sms", "sms-api", "POST", "/sms/vonage", "",
                 {"content-type": "application/x-www-form-urlencoded"},
                 urlencode({**params, "sig": sig}).encode(), [secret], {"sms_signature_method": "sha256"})]

    def verdict(c):
        fields = dict(parse_qsl(body_of(c).decode(errors="replace"), keep_blank_values=True))
        if "sig" not in fields or "timestamp" not in fields:
            return False
        try:
            fresh = abs(c["now"] - int(fields["timestamp"])) <= 25 * 3600
        except ValueError:
            return False
        return fresh and any_key(c, lambda k: VonageAuth(api_key="k", signature_secret=k, signature_method="sha256")
                                 .check_signature(dict(fields)))
    return cases_for(base, verdict, 4)


def telnyx():
    seed = b"telnyx-test-signing-seed-0001!!!"
    signing = nacl.signing.SigningKey(seed)
    public = b64(bytes(signing.verify_key))
    body = json.dumps({"data": {"event_type": "message.received", "id": "evt-1",
                                "payload": {"id": "msg-1", "text": "Grüße 👋"}}}, ensure_ascii=False).encode()
    ts = str(NOW)
    sig = b64(signing.sign(ts.encode() + b"|" + body).signature)
    base = [case("telnyx", "sms", "message", "POST", "/sms/telnyx", "",
                 {"content-type": "application/json", "telnyx-signature-ed25519": sig, "telnyx-timestamp": ts},
                 body, [public])]

    def verdict(c):
        for key in c["keys"]:
            try:
                with mock.patch.object(telnyx_webhooks.time, "time", lambda: float(c["now"])):
                    telnyx_webhooks._verify_signature(body_of(c).decode(), c["headers"], key)
                return True
            except Exception:
                continue
        return False
    return cases_for(base, verdict, 5)


def line():
    secret = "test-line-channel-secret-0001"
    body = json.dumps({"destination": "U" + "a" * 32, "events": [{"type": "message", "message": {
        "type": "text", "id": "100001", "text": "Grüße 👋"}, "timestamp": NOW * 1000,
        "source": {"type": "user", "userId": "U" + "b" * 32}, "replyToken": "r" * 32,
        "mode": "active"}]}, ensure_ascii=False).encode()
    sig = b64(hmac_of(secret.encode(), body))
    base = [case("line", "social", "message", "POST", "/social/line", "",
                 {"content-type": "application/json", "x-line-signature": sig}, body, [secret])]

    def verdict(c):
        sig = header(c, "x-line-signature")
        if sig is None:
            return False
        try:
            text = body_of(c).decode()
        except UnicodeDecodeError:
            return False
        return any_key(c, lambda k: LineValidator(k).validate(text, sig))
    return cases_for(base, verdict, 6)


def viber():
    token = "test-viber-auth-token-0001"
    body = json.dumps({"event": "message", "timestamp": NOW * 1000, "message_token": 5000000001,
                       "sender": {"id": "01234567890A=", "name": "Jane"},
                       "message": {"type": "text", "text": "Grüße 👋"}}, ensure_ascii=False).encode()
    sig = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    base = [case("viber", "social", "message", "POST", "/social/viber", "",
                 {"content-type": "application/json", "x-viber-content-signature": sig}, body, [token])]

    def verdict(c):
        sig = header(c, "x-viber-content-signature")
        if sig is None:
            return False
        return any_key(c, lambda k: ViberApi(ViberConfiguration(auth_token=k, name="shop", avatar=""))
                       .verify_signature(body_of(c), sig))
    return cases_for(base, verdict, 7)


def slack():
    secret = "test-slack-signing-secret-0001"
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": {
        "type": "message", "user": "U1", "text": "Grüße 👋", "ts": f"{NOW}.000100", "channel": "D1",
        "channel_type": "im"}}, ensure_ascii=False).encode()
    ts = str(NOW)
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    base = [case("slack", "chat", "dm", "POST", "/chat/slack", "",
                 {"content-type": "application/json", "x-slack-signature": sig, "x-slack-request-timestamp": ts},
                 body, [secret])]

    def verdict(c):
        ts, sig = header(c, "x-slack-request-timestamp"), header(c, "x-slack-signature")
        if ts is None or sig is None:
            return False

        class At(Clock):
            def now(self):
                return float(c["now"])
        return any_key(c, lambda k: SlackVerifier(k, clock=At()).is_valid(body_of(c), ts, sig))
    return cases_for(base, verdict, 8)


def webchat():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    previous = "whsec_" + b64(b"previous-webchat-key-0001")
    body = json.dumps({"type": "message", "site": "acme-web", "visitor": {"id": "v-1"},
                       "message": {"id": "m-1", "text": "Grüße 👋"}}, ensure_ascii=False).encode()
    with mock.patch.object(standard_webhooks, "datetime", FixedDatetime):
        hook = standard_webhooks.Webhook(secret)
        sig = hook.sign("msg_0001", dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc), body.decode())
        old = standard_webhooks.Webhook(previous).sign("msg_0001", dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc), body.decode())
    headers = {"content-type": "application/json", "webhook-id": "msg_0001", "webhook-timestamp": str(NOW),
               "webhook-signature": f"{sig} {old}"}
    base = [case("webchat", "chat", "message", "POST", "/chat/webchat", "", headers, body, [secret, previous])]

    def verdict(c):
        class At(dt.datetime):
            @classmethod
            def now(cls, tz=None):
                return dt.datetime.fromtimestamp(c["now"], tz=tz)
        for key in c["keys"]:
            try:
                with mock.patch.object(standard_webhooks, "datetime", At):
                    standard_webhooks.Webhook(key).verify(body_of(c), c["headers"], json_parse=False)
                return True
            except Exception:
                continue
        return False
    return cases_for(base, verdict, 9)


def retell():
    key = "test-retell-api-key-0001"
    body = json.dumps({"event": "call_analyzed", "call": {"call_id": "call_1", "transcript": "Agent: hi"}}).encode()
    ms = NOW * 1000
    digest = hmac.new(key.encode(), body + str(ms).encode(), hashlib.sha256).hexdigest()
    base = [case("retell", "voice", "call", "POST", "/voice/retell", "",
                 {"content-type": "application/json", "x-retell-signature": f"v={ms},d={digest}"}, body, [key])]

    def verdict(c):
        sig = header(c, "x-retell-signature")
        if sig is None:
            return False
        try:
            text = body_of(c).decode()
        except UnicodeDecodeError:
            return False
        with mock.patch.object(retell_auth.time, "time", lambda: float(c["now"])):
            return any_key(c, lambda k: bool(retell_auth.verify(text, k, sig)))
    return cases_for(base, verdict, 10)


def sendgrid():
    private = ec.derive_private_key(int.from_bytes(hashlib.sha256(b"sendgrid-test-key").digest(), "big"), ec.SECP256R1())
    public = b64(private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    body = (b"--xYzZY\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nJane <jane@example.com>\r\n"
            b"--xYzZY\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\nsupport@shop.example\r\n"
            b"--xYzZY\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n--xYzZY--\r\n")
    ts = str(NOW)
    sig = b64(private.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    basic = "parse-user:parse-password-0123456789"
    base = [case("sendgrid", "email", "parse", "POST", "/email/sendgrid", "",
                 {"content-type": "multipart/form-data; boundary=xYzZY",
                  "authorization": "Basic " + b64(basic.encode()),
                  "x-twilio-email-event-webhook-signature": sig, "x-twilio-email-event-webhook-timestamp": ts},
                 body, [basic], {"public_key": public})]

    def verdict(c):
        # The Parse URL's Basic credentials, then the policy's signature (SendGrid's SDK).
        auth = header(c, "authorization") or ""
        given = base64.b64decode(auth[6:]) if auth.startswith("Basic ") else b""
        if not any(hmac.compare_digest(k.encode(), given) for k in c["keys"]):
            return False
        sig, ts = header(c, "x-twilio-email-event-webhook-signature"), header(c, "x-twilio-email-event-webhook-timestamp")
        if not sig or not ts:
            return False
        try:
            if abs(c["now"] - int(ts)) > 3 * 86400 + 3600:
                return False
            hook = EventWebhook()
            key = hook.convert_public_key_to_ecdsa(c["options"]["public_key"])
            return hook.verify_signature(body_of(c).decode(), sig, ts, key)
        except Exception:
            return False
    return cases_for(base, verdict, 11)


# ------------------------------------------------------------------ documented algorithms


def body_hmac(provider, channel, header_name, prefix, alg, encode, secret, body, seed):
    mac = hmac_of(secret.encode(), body, alg)
    sig = prefix + (mac.hex() if encode == "hex" else b64(mac))
    base = [case(provider, channel, "signed", "POST", f"/{channel}/{provider}", "",
                 {"content-type": "application/json", header_name: sig}, body, [secret])]

    def verdict(c):
        given = header(c, header_name)
        if given is None or not given.startswith(prefix):
            return False
        given = given[len(prefix):]

        def check(key):
            mac = hmac_of(key.encode(), body_of(c), alg)
            try:
                raw = bytes.fromhex(given) if encode == "hex" else base64.b64decode(given, validate=True)
            except ValueError:
                return False
            return hmac.compare_digest(mac, raw)
        return any_key(c, check)
    return cases_for(base, verdict, seed)


def meta():
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number": "12025550123", "phone_number_id": "PN1"},
                                       "messages": [{"from": "14155550100", "id": "wamid.1", "timestamp": str(NOW),
                                                     "type": "text", "text": {"body": "Gr\\u00fc\\u00dfe"}}]}}]}]}).encode()
    return body_hmac("meta", "social", "x-hub-signature-256", "sha256=", hashlib.sha256, "hex",
                     "test-meta-app-secret-0001", body, 12)


def x_posts():
    body = json.dumps({"for_user_id": "2244994945", "direct_message_events": [{
        "type": "message_create", "id": "1999999999999999999", "created_timestamp": str(NOW * 1000),
        "message_create": {"sender_id": "783214", "target": {"recipient_id": "2244994945"},
                           "message_data": {"text": "Grüße"}}}]}, ensure_ascii=False).encode()
    return body_hmac("x", "social", "x-twitter-webhooks-signature", "sha256=", hashlib.sha256, "base64",
                     "test-x-consumer-secret-0001", body, 13)


def intercom():
    body = json.dumps({"type": "notification_event", "topic": "conversation.user.created", "app_id": "app1",
                       "data": {"item": {"id": "1", "source": {"body": "<p>Hi</p>", "author": {"id": "u1", "type": "user"}}}}}).encode()
    return body_hmac("intercom", "chat", "x-hub-signature", "sha1=", hashlib.sha1, "hex",
                     "test-intercom-client-secret-0001", body, 14)


def zendesk():
    secret = "test-zendesk-signing-secret-0001"
    body = json.dumps({"type": "zen:event-type:ticket.comment_added", "id": "e1"}).encode()
    ts = dt.datetime.fromtimestamp(NOW, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = b64(hmac_of(secret.encode(), ts.encode() + body))
    base = [case("zendesk", "chat", "signed", "POST", "/chat/zendesk", "",
                 {"content-type": "application/json", "x-zendesk-webhook-signature": sig,
                  "x-zendesk-webhook-signature-timestamp": ts}, body, [secret])]

    def verdict(c):
        sig, ts = header(c, "x-zendesk-webhook-signature"), header(c, "x-zendesk-webhook-signature-timestamp")
        if sig is None or ts is None:
            return False
        try:
            raw = base64.b64decode(sig, validate=True)
            at = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return False
        if abs(c["now"] - at) > 300:
            return False
        return any_key(c, lambda k: hmac.compare_digest(hmac_of(k.encode(), ts.encode() + body_of(c)), raw))
    return cases_for(base, verdict, 15)


def crisp():
    secret = "test-crisp-hook-secret-0001"
    raw = b'{ "event": "message:send", "data": { "content": "Gr\\u00fc\\u00dfe \\/ ok", "from": "user" }, "timestamp": 1795435200000 }'
    ts = str(NOW * 1000)

    def signed_text(body: bytes):
        # Crisp's official verifier: JSON.stringify of the parsed body.
        return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    sig = hmac.new(secret.encode(), b"[" + ts.encode() + b";" + signed_text(raw) + b"]", hashlib.sha256).hexdigest()
    base = [case("crisp", "chat", "signed", "POST", "/chat/crisp", "",
                 {"content-type": "application/json", "x-crisp-signature": sig, "x-crisp-request-timestamp": ts},
                 raw, [secret])]

    def verdict(c):
        sig, ts = header(c, "x-crisp-signature"), header(c, "x-crisp-request-timestamp")
        if sig is None or ts is None:
            return False
        try:
            text = signed_text(body_of(c))
            n = int(ts)
        except (ValueError, UnicodeDecodeError):
            return False
        at = n / 1000 if n > 100_000_000_000 else n
        if abs(c["now"] - at) > 86400:
            return False
        return any_key(c, lambda k: hmac.compare_digest(
            hmac.new(k.encode(), b"[" + ts.encode() + b";" + text + b"]", hashlib.sha256).hexdigest(), sig))
    return cases_for(base, verdict, 16)


def token_in_header(provider, channel, header_name, value_prefix, secret, seed):
    body = json.dumps({"update_id": 1, "message": {"text": "hi"}}).encode()
    base = [case(provider, channel, "token", "POST", f"/{channel}/{provider}", "",
                 {"content-type": "application/json", header_name: value_prefix + secret}, body, [secret])]

    def verdict(c):
        given = header(c, header_name)
        if given is None or not given.startswith(value_prefix):
            return False
        return any_key(c, lambda k: hmac.compare_digest(k.encode(), given[len(value_prefix):].encode()))
    return cases_for(base, verdict, seed)


def mailgun():
    key = "test-mailgun-signing-key-0001"
    ts, token = str(NOW), "a" * 50
    fields = {"recipient": "support@shop.example", "sender": "jane@example.com", "from": "Jane <jane@example.com>",
              "subject": "Hi", "body-plain": "Grüße", "timestamp": ts, "token": token,
              "signature": hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()}
    base = [case("mailgun", "email", "route", "POST", "/email/mailgun", "",
                 {"content-type": "application/x-www-form-urlencoded"}, urlencode(fields).encode(), [key])]

    def verdict(c):
        f = dict(parse_qsl(body_of(c).decode(errors="replace"), keep_blank_values=True))
        if not all(f.get(k) for k in ("timestamp", "token", "signature")):
            return False
        try:
            if abs(c["now"] - int(f["timestamp"])) > 9 * 3600:
                return False
        except ValueError:
            return False
        return any_key(c, lambda k: hmac.compare_digest(
            hmac.new(k.encode(), (f["timestamp"] + f["token"]).encode(), hashlib.sha256).hexdigest(), f["signature"].lower()))
    return cases_for(base, verdict, 17)


def token_in_body(provider, channel, path, secret, body_of_secret, seed):
    """A secret the provider puts in the JSON body (LiveChat, Deepgram's `callback_secret`)."""
    body = json.dumps(body_of_secret(secret)).encode()
    base = [case(provider, channel, "token", "POST", f"/{channel}/{provider}", "",
                 {"content-type": "application/json"}, body, [secret])]

    def verdict(c):
        value = json.loads(body_of(c))
        for key in path:
            value = value[key]
        return isinstance(value, str) and any_key(c, lambda k: hmac.compare_digest(k.encode(), value.encode()))
    return cases_for(base, verdict, seed)


def basic(provider, channel, credentials, seed):
    body = json.dumps({"FromFull": {"Email": "jane@example.com"}, "TextBody": "hi"}).encode()
    base = [case(provider, channel, "basic", "POST", f"/{channel}/{provider}", "",
                 {"content-type": "application/json", "authorization": "Basic " + b64(credentials.encode())},
                 body, [credentials])]

    def verdict(c):
        auth = header(c, "authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic":
            return False
        given = base64.b64decode(value.strip(), validate=True)
        return any_key(c, lambda k: ":" in k and hmac.compare_digest(k.encode(), given))
    return cases_for(base, verdict, seed)


def main(out):
    cases = []
    for make in [twilio, plivo, vonage, vonage_sms_api, telnyx, line, viber, slack, webchat, retell, sendgrid,
                 meta, x_posts, intercom, zendesk, crisp, mailgun,
                 lambda: token_in_header("telegram", "social", "x-telegram-bot-api-secret-token", "",
                                         "test-telegram-secret-token-0001", 18),
                 lambda: token_in_header("sunshine", "chat", "x-api-key", "", "test-sunshine-webhook-secret-0001", 19),
                 lambda: token_in_header("vapi", "voice", "authorization", "Bearer ", "test-vapi-bearer-token-0001", 20),
                 lambda: token_in_header("assemblyai", "voice", "x-webhook-secret", "", "test-assemblyai-header-0001", 21),
                 lambda: token_in_body("livechat", "chat", ["secret_key"], "test-livechat-secret-key-0001",
                                       lambda k: {"webhook_id": "w1", "secret_key": k, "action": "incoming_event"}, 22),
                 lambda: token_in_body("deepgram", "voice", ["metadata", "extra", "callback_secret"],
                                       "test-deepgram-callback-secret-0001",
                                       lambda k: {"metadata": {"request_id": "r1", "extra": {"callback_secret": k}},
                                                  "results": {"channels": []}}, 23),
                 lambda: basic("postmark", "email", "postmark-user:postmark-password-0001", 24)]:
        cases.extend(make())
    with open(out, "w") as f:
        json.dump(cases, f, indent=None, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    accepted = sum(c["official"] for c in cases)
    print(f"wrote {len(cases)} cases ({accepted} accepted by the official verifier) to {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
