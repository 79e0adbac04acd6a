"""The Jinja environment shared by the app and the report: autoescape always on."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from triage.views import format_count, format_duration

PACKAGE_DIR = Path(str(resources.files("triage")))


DEFAULT_ZONE = "Europe/Amsterdam"


def templates(zone: str = DEFAULT_ZONE) -> Environment:
    """Every template is escaped, whatever its file name (``.html`` or not).

    Times are stored in UTC and shown in ``zone`` (``[triage] timezone``) by the
    ``hhmm`` and ``local`` filters, the one place a time becomes text, so cards, the
    report and the header clock cannot disagree.
    """
    tz = ZoneInfo(zone)

    def local(value: datetime | None, fmt: str = "%d-%m-%Y %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else ""

    def hhmm(value: datetime | None) -> str:
        return local(value, "%d-%m %H:%M")

    env = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["hhmm"] = hhmm
    env.filters["local"] = local
    env.globals["timezone"] = zone
    env.filters["count"] = format_count
    return env
