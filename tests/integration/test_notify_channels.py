"""Each channel against a real local server: Slack Block Kit, a Teams Adaptive Card, a
signed webhook (its HMAC checked) and e-mail through a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klachtradar.contract import Alert, AlertKind, Priority
from klachtradar.errors import ConfigError
from klachtradar.settings import AlertRoute, AlertSettings
from notify.channels import DeliveryError, open_channel
from notify.dispatch import AlertDispatch
from notify.outbox import Outbox
from tests.integration.notify_support import SECRET, Mailbox, Recorder, chat_server, smtp_server

pytestmark = pytest.mark.integration
__all__ = ["chat_server", "smtp_server"]

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def youp() -> Alert:
    return Alert(
        alert_id="post:youp:P1",
        kind=AlertKind.POST,
        created_at=NOW - timedelta(hours=3, minutes=5),
        brand="KPN",
        priority=Priority.P1,
        risk=81,
        title="@jochemvandalen: al drie weken geen internet, KPN",
        reasons=["41.200 volgers", "3 eerdere klachten zonder reactie"],
        doc_id="youp",
    )


def routes(server: Recorder, mailbox: Mailbox) -> dict[str, AlertRoute]:
    return {
        "slack": AlertRoute(channel="slack", url_env="TEST_SLACK_URL"),
        "teams": AlertRoute(channel="teams", url=server.url("/teams")),
        "hook": AlertRoute(channel="webhook", url=server.url("/hook"), secret_env="TEST_HOOK_KEY"),
        "mail": AlertRoute(
            channel="email",
            smtp_port=mailbox.port,
            to=["webcare@example.nl"],
            sender="kr@example.nl",
        ),
    }


def test_one_p1_reaches_slack_teams_a_signed_webhook_and_an_inbox(
    tmp_path: Path, chat_server: Recorder, smtp_server: Mailbox
) -> None:
    env = {"TEST_SLACK_URL": chat_server.url("/slack"), "TEST_HOOK_KEY": SECRET}
    configured = routes(chat_server, smtp_server)
    channels = {name: open_channel(name, route, env) for name, route in configured.items()}
    dispatch = AlertDispatch(
        AlertSettings(routes=configured, triage_url="https://triage.example.nl"),
        Outbox(tmp_path / "notify.db"),
        channels,
        clock=lambda: NOW,
    )
    dispatch.enqueue([youp()])
    assert dispatch.deliver().sent == 4
    slack = chat_server.on("/slack")[0].json
    assert slack["blocks"][0]["text"]["text"] == "P1 melding over KPN"
    fields = [f["text"] for f in slack["blocks"][2]["fields"]]
    assert "*Risico*\n81/100 (P1)" in fields and "*Wacht al*\n3 u 5 min" in fields
    assert (
        slack["blocks"][-1]["elements"][0]["url"]
        == "https://triage.example.nl/?brand=KPN#card-youp"
    )
    card = chat_server.on("/teams")[0].json["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    facts = {f["title"]: f["value"] for f in card["content"]["body"][-1]["facts"]}
    assert facts["Waarom"] == "41.200 volgers, 3 eerdere klachten zonder reactie"
    hook = chat_server.on("/hook")[0]
    assert hook.signature_ok()
    assert not hook.signature_ok("another key")
    assert hook.json["delivery_id"] == "hook:post:youp:P1"
    smtp_server.wait_for(1)
    mail = smtp_server.messages[0]
    assert mail["Subject"] == "[klachtradar] P1 melding over KPN"
    assert mail["To"] == "webcare@example.nl"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in mail.walk()
        if not p.is_multipart()
    }
    assert "Wacht al: 3 u 5 min" in parts["text/plain"]
    assert "<th align='left'>Risico</th><td>81/100 (P1)</td>" in parts["text/html"]


def test_incident_mails_thread_by_in_reply_to(tmp_path: Path, smtp_server: Mailbox) -> None:
    mail = AlertRoute(channel="email", smtp_port=smtp_server.port, to=["webcare@example.nl"])
    dispatch = AlertDispatch(
        AlertSettings(routes={"mail": mail}),
        Outbox(tmp_path / "notify.db"),
        {"mail": open_channel("mail", mail, {})},
        clock=lambda: NOW,
    )
    opened = Alert(
        alert_id="incident:KPN:20260302T115500",
        kind=AlertKind.INCIDENT,
        created_at=NOW,
        brand="KPN",
        priority=Priority.P1,
        title="Storing",
        post_count=30,
    )
    over = opened.model_copy(
        update={"alert_id": "incident_over:KPN:20260302T115500", "kind": AlertKind.INCIDENT_OVER}
    )
    dispatch.enqueue([opened])
    dispatch.enqueue([over])
    dispatch.deliver()
    smtp_server.wait_for(2)
    first, second = smtp_server.messages
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert first["Message-ID"].endswith("@klachtradar>") and first["In-Reply-To"] is None
    assert (
        "vervolg op: Incident bij KPN" in second.get_payload()[0].get_payload(decode=True).decode()
    )


def test_a_4xx_is_permanent_a_5xx_and_a_refused_connection_are_not(chat_server: Recorder) -> None:
    from notify.message import sample_alert_message

    message = sample_alert_message("x", triage_url="http://t")
    hook = open_channel("hook", AlertRoute(channel="teams", url=chat_server.url("/t")), {})
    chat_server.script = [404, 503]
    with pytest.raises(DeliveryError) as permanent:
        hook.send(message, delivery_id="1", thread=None)
    assert not permanent.value.retryable and "HTTP 404" in str(permanent.value)
    with pytest.raises(DeliveryError) as passing:
        hook.send(message, delivery_id="2", thread=None)
    assert passing.value.retryable
    closed = open_channel("gone", AlertRoute(channel="teams", url="http://127.0.0.1:9/"), {})
    with pytest.raises(DeliveryError) as refused:
        closed.send(message, delivery_id="3", thread=None)
    assert refused.value.retryable


def test_a_missing_secret_names_the_variable_never_a_value() -> None:
    route = AlertRoute(channel="slack", url_env="KR_TEST_SLACK_URL")
    with pytest.raises(
        ConfigError, match="route ops: url_env variable KR_TEST_SLACK_URL is not set"
    ):
        open_channel("ops", route, {})
    secret_url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    channel = open_channel("ops", route, {"KR_TEST_SLACK_URL": secret_url})
    assert "SECRET" not in repr(channel)
