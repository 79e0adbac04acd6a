"""The brand report as HTML: matplotlib plots embedded as SVG images, tables escaped.

Plots are ``<img src="data:image/svg+xml;base64,…">``: the file needs nothing else to
open, and as images the SVGs can neither run script nor be styled by the page, so the
served ``/report`` keeps the strict Content-Security-Policy (styles come from
``/static/report.css`` there; the standalone file carries the same CSS inline).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from klachtradar.errors import KlachtradarError
from klachtradar.settings import TriageSettings
from triage.clock import Clock
from triage.public_response import DDP_2017_AVERAGE_MINUTES, HOUR_MINUTES
from triage.report import BrandReport, build_report, busiest_brand, known_brands, parse_period
from triage.templating import DEFAULT_ZONE, PACKAGE_DIR, templates
from triage.views import safe_link

_GREEN, _RED, _AMBER, _GREY, _BLUE = "#2e7d32", "#d32f2f", "#f0a000", "#b8c2d0", "#2457c5"


def _figure(width: float = 5.0, height: float = 2.8) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "svg.fonttype": "none",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt.subplots(figsize=(width, height))


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_volume(report: BrandReport) -> str:
    """Complaints per day, answered stacked under unanswered."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(10.5, 2.9)
    days = [d for d, _, _ in report.per_day]
    answered = [a for _, _, a in report.per_day]
    unanswered = [t - a for _, t, a in report.per_day]
    ax.bar(days, answered, color=_GREEN, label="beantwoord", width=0.8)
    ax.bar(days, unanswered, bottom=answered, color=_RED, label="onbeantwoord", width=0.8)
    ax.set_ylabel("klachten")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, loc="upper left")
    fig.autofmt_xdate()
    return _svg(fig)


def plot_response_times(report: BrandReport) -> str:
    """How long answered complaints waited, in readable buckets."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(5.0, 2.8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    labels = [label for label, _ in report.response_buckets]
    counts = [n for _, n in report.response_buckets]
    colors = [_GREEN, _GREEN, _AMBER, _AMBER, _RED, _RED]
    ax.bar(labels, counts, color=colors)
    ax.set_ylabel("beantwoorde klachten")
    if not any(counts):
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            "nog geen beantwoorde klachten",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#6b7685",
        )
    ax.tick_params(axis="x", labelrotation=20)
    return _svg(fig)


FIRST_RESPONSE_TICKS: tuple[tuple[float, str], ...] = (
    (1, "1 min"),
    (5, "5 min"),
    (15, "15 min"),
    (60, "1 u"),
    (195, "3 u 15"),
    (480, "8 u"),
    (1440, "1 dag"),
    (4320, "3 dagen"),
)


def plot_first_response(report: BrandReport) -> str:
    """How long the brand took to answer complaints in public, on a log scale (a minute
    and three days on one axis), against the hour and the Dutch benchmark (DDP 2017: on
    average 3 h 15 min). Answers within the first minute are drawn at one minute."""
    import numpy as np

    fig, ax = _figure(10.5, 3.0)
    minutes = [max(m, 1.0) for m in report.public.minutes]
    upper = max([*minutes, 4320.0]) * 1.01
    ax.hist(minutes, bins=np.geomspace(1.0, upper, 28), color=_BLUE, label="klachten")
    ax.set_xscale("log")
    ax.set_xlim(1.0, upper)
    ax.set_xticks(
        [t for t, _ in FIRST_RESPONSE_TICKS], [label for _, label in FIRST_RESPONSE_TICKS]
    )
    ax.minorticks_off()
    ax.set_xlabel("minuten tot de eerste publieke reactie (log-schaal)")
    ax.set_ylabel("klachten")
    ax.axvline(HOUR_MINUTES, color=_GREEN, linestyle="--", linewidth=1.2, label="1 uur")
    ax.axvline(
        DDP_2017_AVERAGE_MINUTES,
        color=_RED,
        linestyle="--",
        linewidth=1.2,
        label="DDP 2017: gemiddeld 3 u 15 min",
    )
    if not minutes:
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            "nog geen publieke reacties op klachten",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#6b7685",
        )
    else:
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, loc="upper right", fontsize=8)
    return _svg(fig)


def plot_sla(report: BrandReport) -> str:
    """Per priority: on time, late, open past target, open within target."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(5.0, 3.2)
    priorities = list(report.sla_by_priority)
    series = [
        ("op tijd", "on_time", _GREEN),
        ("te laat", "late", _AMBER),
        ("open, over tijd", "open_breached", _RED),
        ("open, binnen tijd", "open_within", _BLUE),
        ("geen SLA", "no_target", _GREY),
    ]
    bottom = [0] * len(priorities)
    for label, attr, color in series:
        values = [getattr(report.sla_by_priority[p], attr) for p in priorities]
        ax.bar(priorities, values, bottom=bottom, color=color, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("klachten")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    # Below the axes, never over a bar (upper right covered the P3 bar).
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3)
    return _svg(fig)


def plot_themes(report: BrandReport) -> str:
    """The most frequent words in complaints."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure(5.0, 3.2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    themes = list(reversed(report.top_themes[:10]))
    ax.barh([t for t, _ in themes], [n for _, n in themes], color=_BLUE)
    ax.set_xlabel("klachten met dit woord")
    return _svg(fig)


def render_report(
    report: BrandReport,
    *,
    standalone: bool,
    since_label: str = "",
    zone: str = DEFAULT_ZONE,
) -> str:
    """The report page; ``standalone`` inlines the CSS (a file), else links it (served)."""
    css = (
        (PACKAGE_DIR / "static" / "report.css").read_text(encoding="utf-8") if standalone else None
    )
    median = report.median_response_minutes
    public = report.public
    context = {
        "r": report,
        "css": css,
        "plots": {
            "volume": plot_volume(report),
            "response": plot_response_times(report),
            "first_response": plot_first_response(report),
            "sla": plot_sla(report),
            "themes": plot_themes(report) if report.top_themes else None,
        },
        "median": timedelta(minutes=median) if median is not None else None,
        "public_median": _minutes(public.median_minutes),
        "public_p90": _minutes(public.p90_minutes),
        "link": safe_link,
        "standalone": standalone,
        "request_since": since_label,
    }
    return templates(zone).get_template("report.html").render(**context)


def _minutes(value: float | None) -> timedelta | None:
    return timedelta(minutes=value) if value is not None else None


def report_view(
    path: Path, settings: TriageSettings, clock: Clock
) -> Callable[[dict[str, str]], str]:
    """The ``/report`` handler: brand and period from the query string."""

    def view(params: dict[str, str]) -> str:
        now = clock.now()
        brand = (params.get("brand") or "").strip() or busiest_brand(path) or ""
        brands = known_brands(path)
        if brand and brand not in brands:
            raise KlachtradarError(
                f"onbekend merk {brand!r}; bekende merken: {', '.join(brands) or 'geen'}"
            )
        since = params.get("since") or "7d"
        start, end = parse_period(
            since, params.get("until"), now=now, zone=ZoneInfo(settings.timezone)
        )
        report = build_report(path, brand=brand, start=start, end=end, triage=settings, now=now)
        return render_report(report, standalone=False, since_label=since, zone=settings.timezone)

    return view
