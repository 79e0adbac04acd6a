"""The Jinja environment shared by the app and the report: autoescape always on."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from triage.views import format_count, format_duration

PACKAGE_DIR = Path(str(resources.files("triage")))


def _hhmm(value: datetime | None) -> str:
    return value.strftime("%d-%m %H:%M") if value else ""


def templates() -> Environment:
    """Every template is escaped, whatever its file name (``.html`` or not)."""
    env = Environment(
        loader=FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["hhmm"] = _hhmm
    env.filters["count"] = format_count
    return env
