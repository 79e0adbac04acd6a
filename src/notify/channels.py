"""Where a message goes: one :class:`Channel` interface, four implementations.

``send`` either returns (the message was accepted; optionally a *thread reference*
that later messages of the same thread are sent under) or raises
:class:`DeliveryError`, whose ``retryable`` says whether trying again can help: a
timeout, a refused connection, HTTP 408/429/5xx can; a 400, 401, 403 or 404 will fail
the same way next time and goes to the dead letters. Every request carries the
outbox's ``delivery_id``, so a receiver can drop the one message a crash between
"sent" and "marked as sent" repeats.

Secrets (webhook URLs, HMAC keys, SMTP passwords) are resolved once by
:func:`open_channel` from the environment it is given, kept out of ``repr`` and never
put in an error message: errors name the route, not the URL.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from html import escape
from typing import Any, Protocol

from klachtradar.errors import ConfigError, KlachtradarError
from klachtradar.settings import AlertRoute
from notify.message import Message

SIGNATURE_HEADER = "X-Klachtradar-Signature"
TIMESTAMP_HEADER = "X-Klachtradar-Timestamp"
DELIVERY_HEADER = "X-Klachtradar-Delivery"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_PRIORITY_COLOUR = {"P1": "attention", "P2": "warning"}


class DeliveryError(KlachtradarError):
    """A message was not accepted; ``retryable``: a later try may work."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    """Sends one message; returns the reference replies in its thread use (or None)."""

    name: str

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None: ...


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of ``timestamp.body``: the timestamp is signed too, so an old
    request cannot be replayed under a new timestamp."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _post(route: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> bytes:
    """POST a JSON body; any failure as a :class:`DeliveryError` naming the route only."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        retry_after = _retry_after(exc.headers.get("Retry-After"))
        raise DeliveryError(
            f"route {route}: HTTP {exc.code}",
            retryable=exc.code in _RETRYABLE_STATUS,
            retry_after_s=retry_after,
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused,
        # reset, timed out, a connection closed mid-answer
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(
            f"route {route}: {type(exc).__name__}: {reason}", retryable=True
        ) from None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class SlackChannel:
    """A Slack incoming webhook, as a Block Kit message.

    Incoming webhooks answer ``ok``, not the message's ``ts``; a reply is sent with
    ``thread_ts`` only when an endpoint returned one (``{"ts": …}``, as a relay on top
    of ``chat.postMessage`` does); otherwise it carries its "vervolg op" line.
    """

    def __init__(self, name: str, url: str, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self._url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SlackChannel({self.name!r})"

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
        payload: dict[str, Any] = {"text": message.plain(), "blocks": slack_blocks(message)}
        if thread:
            payload["thread_ts"] = thread
        body = _post(
            self.name, self._url, _json(payload), {DELIVERY_HEADER: delivery_id}, self.timeout_s
        )
        try:
            answer = json.loads(body)
        except ValueError:
            return None
        ts = answer.get("ts") if isinstance(answer, dict) else None
        return str(ts) if ts else None


def slack_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.headline[:150]}}
    ]
    if message.reply_to:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"↳ vervolg op: {message.reply_to}"}],
            }
        )
    if message.text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": message.text[:3000]}})
    if message.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
                    for label, value in message.facts[:10]
                ],
            }
        )
    if message.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in triage"},
                        "url": message.link,
                    }
                ],
            }
        )
    return blocks


class TeamsChannel:
    """A Microsoft Teams incoming webhook or Workflows trigger, as an Adaptive Card."""

    def __init__(self, name: str, url: str, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self._url = url
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"TeamsChannel({self.name!r})"

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
        payload = {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": adaptive_card(message),
                }
            ],
        }
        _post(self.name, self._url, _json(payload), {DELIVERY_HEADER: delivery_id}, self.timeout_s)
        return None


def adaptive_card(message: Message) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.headline,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": _PRIORITY_COLOUR.get(message.priority, "default"),
        }
    ]
    if message.reply_to:
        body.append(
            {
                "type": "TextBlock",
                "text": f"↳ vervolg op: {message.reply_to}",
                "isSubtle": True,
                "wrap": True,
            }
        )
    if message.text:
        body.append({"type": "TextBlock", "text": message.text, "wrap": True})
    if message.facts:
        body.append(
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in message.facts]}
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "lang": "nl",
        "body": body,
    }
    if message.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in triage", "url": message.link}
        ]
    return card


class WebhookChannel:
    """A generic JSON webhook, signed: ``X-Klachtradar-Signature: sha256=HMAC(secret,
    timestamp + "." + body)`` with the timestamp in ``X-Klachtradar-Timestamp``."""

    def __init__(self, name: str, url: str, secret: bytes, *, timeout_s: float = 10.0) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r})"

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
        payload = {"delivery_id": delivery_id, "in_reply_to": thread, "message": message.to_json()}
        body = _json(payload)
        timestamp = str(int(time.time()))
        headers = {
            DELIVERY_HEADER: delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        _post(self.name, self._url, body, headers, self.timeout_s)  # the bytes that were signed
        return delivery_id


class EmailChannel:
    """E-mail over SMTP: plain text plus HTML; a thread by ``In-Reply-To``/``References``."""

    def __init__(self, name: str, route: AlertRoute, password: str) -> None:
        self.name = name
        self.route = route
        self._password = password

    def __repr__(self) -> str:
        return f"EmailChannel({self.name!r})"

    def send(self, message: Message, *, delivery_id: str, thread: str | None) -> str | None:
        mail = EmailMessage()
        message_id = f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}@klachtradar>"
        mail["Subject"] = f"[klachtradar] {message.headline}"
        mail["From"] = self.route.sender
        mail["To"] = ", ".join(self.route.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = message_id
        if thread:
            mail["In-Reply-To"] = thread
            mail["References"] = thread
        mail.set_content(message.plain())
        mail.add_alternative(email_html(message), subtype="html")
        route = self.route
        try:
            with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=route.timeout_s) as smtp:
                if route.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if route.smtp_user:
                    smtp.login(route.smtp_user, self._password)
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"route {self.name}: SMTP {exc.smtp_code}", retryable=400 <= exc.smtp_code < 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"route {self.name}: {type(exc).__name__}", retryable=True
            ) from None
        return message_id


def email_html(message: Message) -> str:
    rows = "".join(
        f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in message.facts
    )
    reply = f"<p><em>↳ vervolg op: {escape(message.reply_to)}</em></p>" if message.reply_to else ""
    link = f"<p><a href='{escape(message.link)}'>Open in triage</a></p>" if message.link else ""
    return (
        f"<html lang='nl'><body><h2>{escape(message.headline)}</h2>{reply}"
        f"<p>{escape(message.text)}</p><table>{rows}</table>{link}</body></html>"
    )


def _secret(name: str, variable: str, what: str, env: Mapping[str, str]) -> str:
    value = env.get(variable, "")
    if not value:
        raise ConfigError(f"route {name}: {what} variable {variable} is not set")
    return value


def open_channel(name: str, route: AlertRoute, env: Mapping[str, str]) -> Channel:
    """The channel of a route, its secrets read from ``env`` (the process environment)."""
    url = route.url or (_secret(name, route.url_env, "url_env", env) if route.url_env else "")
    if route.channel == "slack":
        return SlackChannel(name, url, timeout_s=route.timeout_s)
    if route.channel == "teams":
        return TeamsChannel(name, url, timeout_s=route.timeout_s)
    if route.channel == "webhook":
        if not route.secret_env:
            raise ConfigError(f"route {name}: a webhook route needs secret_env (the HMAC key)")
        secret = _secret(name, route.secret_env, "secret_env", env).encode()
        return WebhookChannel(name, url, secret, timeout_s=route.timeout_s)
    password = _secret(name, route.password_env, "password_env", env) if route.password_env else ""
    return EmailChannel(name, route, password)
