"""``klachtradar alerts test --route NAME`` and ``klachtradar alerts list [--json]``,
and :func:`open_dispatch`, which the CLI and the ``notify`` process use to wire a
dispatcher from the settings."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from klachtradar.contract import DeadLetter
from klachtradar.errors import ConfigError
from klachtradar.settings import Settings, load_settings
from notify.channels import Channel, DeliveryError, open_channel
from notify.dispatch import AlertDispatch, Escalated
from notify.message import sample_alert_message
from notify.outbox import Outbox

alerts_app = typer.Typer(
    help="Alerts to Slack, Teams, e-mail and webhooks: test a route, list deliveries.",
    no_args_is_help=True,
)
console = Console()


def open_channels(settings: Settings) -> dict[str, Channel]:
    """Every route's channel, secrets from the process environment."""
    return {
        name: open_channel(name, route, os.environ)
        for name, route in settings.alerts.routes.items()
    }


def open_dispatch(
    settings: Settings,
    *,
    on_dead: Callable[[DeadLetter], None] | None = None,
    on_escalated: Escalated | None = None,
) -> AlertDispatch:
    """The dispatcher of ``[alerts]``: its outbox file and every route's channel."""
    outbox = Outbox(settings.resolve(settings.alerts.outbox_path))
    return AlertDispatch(
        settings.alerts,
        outbox,
        open_channels(settings),
        triage=settings.triage,
        on_dead=on_dead,
        on_escalated=on_escalated,
        incident_window=timedelta(minutes=settings.incidents.window_minutes),
    )


@alerts_app.command("test")
def test_route(
    route: Annotated[str, typer.Option("--route", help="A route of \\[alerts.routes].")],
) -> None:
    """Send a sample alert through one route, directly (not through the outbox)."""
    settings = load_settings()
    routes = settings.alerts.routes
    if route not in routes:
        known = ", ".join(sorted(routes)) or "none configured"
        raise ConfigError(f"--route {route}: no such route in [alerts.routes] ({known})")
    channel = open_channel(route, routes[route], os.environ)
    message = sample_alert_message(route, triage_url=settings.alerts.triage_url)
    try:
        channel.send(message, delivery_id=f"{route}:test:{uuid.uuid4().hex}", thread=None)
    except DeliveryError as exc:
        raise ConfigError(f"test alert not delivered: {exc}") from None
    console.print(f"test alert sent through route {route} ({routes[route].channel})")


@alerts_app.command("list")
def list_alerts(
    limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Recent messages in the outbox and their delivery state, newest first."""
    settings = load_settings()
    path = settings.resolve(settings.alerts.outbox_path)
    if not path.is_file():
        raise ConfigError(f"{path}: no outbox yet (nothing was ever routed)")
    outbox = Outbox(path)
    try:
        rows = outbox.recent(limit)
    finally:
        outbox.close()
    if as_json:
        for row in rows:
            print(
                json.dumps(
                    {
                        "delivery_id": row.delivery_id,
                        "route": row.route,
                        "kind": row.kind,
                        "brand": row.brand,
                        "priority": row.priority,
                        "status": row.status,
                        "attempts": row.attempts,
                        "error": row.error,
                        "thread": row.thread_key,
                        "headline": row.message.headline,
                        "queued_at": row.created_at.isoformat(),
                        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table(title="Recent alert deliveries")
    for column in ("queued", "route", "kind", "priority", "status", "tries", "headline"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            f"{row.created_at:%Y-%m-%d %H:%M:%S}",
            row.route,
            row.kind,
            row.priority or "",
            row.status + (f" ({row.error})" if row.error and row.status != "sent" else ""),
            str(row.attempts),
            row.message.headline,
        )
    console.print(table)
