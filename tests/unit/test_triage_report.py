"""The brand report: its numbers agree with the store, and it renders with its plots."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from klachtradar.contract import Priority, RawPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import TriageSettings, load_settings
from listener.jsonl import read_jsonl
from sink.store import EmbeddedStore
from tests.unit.triage_support import FixedClock
from triage.database import TriageDatabase
from triage.report import BrandReport, build_report, parse_period
from triage.report_html import render_report
from triage.sla import SlaPolicy
from triage.workflow import Workflow

BRAND = "Odido"
START = datetime(2026, 9, 28, tzinfo=UTC)
END = datetime(2026, 11, 9, tzinfo=UTC)
SETTINGS = TriageSettings()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo stream through the real pipeline, then some agent work on Odido complaints."""
    settings = load_settings()
    path = tmp_path_factory.mktemp("report") / "kr.db"
    settings.store.path = path.with_name("history.db")  # the pipeline's history reads it
    posts = [r for r in read_jsonl(settings.resolve(settings.demo.file)) if isinstance(r, RawPost)]
    output = Pipeline.from_settings(settings).process(posts, now=END)
    with EmbeddedStore(path) as store:
        store.write_posts(output.scored)
        store.write_alerts(output.alerts)
    db = sqlite3.connect(path)
    docs = [
        d
        for (d,) in db.execute(
            "SELECT doc_id FROM posts WHERE brand = ? AND intent = 'klacht' ORDER BY created_at",
            (BRAND,),
        )
    ]
    created = {
        d: datetime.fromisoformat(c) for d, c in db.execute("SELECT doc_id, created_at FROM posts")
    }
    workflow = Workflow(TriageDatabase(path), FixedClock(END), SlaPolicy.from_settings(SETTINGS))
    for i, doc in enumerate(docs[:9]):  # answers after 5 min … 2 days
        delay = [5, 10, 50, 90, 300, 600, 2000, 2880, 30][i]
        workflow.resolve(doc, "anna", responded_at=created[doc] + timedelta(minutes=delay))
    workflow.not_complaint(docs[9], "anna")
    return path


@pytest.fixture(scope="module")
def report(demo_store: Path) -> BrandReport:
    return build_report(demo_store, brand=BRAND, start=START, end=END, triage=SETTINGS, now=END)


def _complaints(path: Path) -> list[tuple[str, str, str, str, str | None, int | None, str]]:
    db = sqlite3.connect(path)
    return db.execute(
        """SELECT p.doc_id, p.created_at, p.priority, p.status, t.responded_at, p.followers,
                  p.author_id
           FROM posts p LEFT JOIN triage_state t USING (doc_id)
           WHERE EXISTS (SELECT 1 FROM json_each(p.brands) WHERE value = ?)
             AND p.intent = 'klacht' AND p.status != 'not_complaint'
             AND p.created_at >= ? AND p.created_at < ?""",
        (BRAND, START.isoformat(), END.isoformat()),
    ).fetchall()


def test_complaint_and_answered_counts_match_the_store(
    report: BrandReport, demo_store: Path
) -> None:
    rows = _complaints(demo_store)
    assert report.complaints == len(rows) > 10
    assert report.answered == sum(r[3] == "resolved" for r in rows) == 9
    assert report.answered_share == pytest.approx(9 / len(rows))
    assert sum(total for _, total, _ in report.per_day) == len(rows)
    assert sum(answered for _, _, answered in report.per_day) == 9
    # Days are Amsterdam days ([triage] timezone): 00:00 UTC is 01:00/02:00 there, so the
    # period's last UTC hour or two fall on one more local day.
    amsterdam = ZoneInfo(SETTINGS.timezone)
    days = [day for day, _, _ in report.per_day]
    assert days[0] == START.astimezone(amsterdam).date()
    assert days[-1] == (END - timedelta(microseconds=1)).astimezone(amsterdam).date()
    assert all((b - a).days == 1 for a, b in pairwise(days))


def test_response_times_and_sla_breaches_match_the_store(
    report: BrandReport, demo_store: Path
) -> None:
    rows = _complaints(demo_store)
    minutes = sorted(
        (datetime.fromisoformat(r[4]) - datetime.fromisoformat(r[1])).total_seconds() / 60
        for r in rows
        if r[3] == "resolved"
    )
    assert sorted(report.response_minutes) == pytest.approx(minutes)
    assert report.median_response_minutes == pytest.approx(minutes[len(minutes) // 2])
    assert sum(n for _, n in report.response_buckets) == 9
    targets = {Priority.P1: 15, Priority.P2: 60, Priority.P3: 240}
    breaches = 0
    for _, created, priority, status, responded, _, _ in rows:
        target = targets.get(Priority(priority))
        if target is None:
            continue
        end = datetime.fromisoformat(responded) if status == "resolved" else END
        breaches += (end - datetime.fromisoformat(created)) > timedelta(minutes=target)
    assert report.sla_breaches == breaches


def test_repeat_complainers_and_biggest_reach_match_the_store(
    report: BrandReport, demo_store: Path
) -> None:
    rows = _complaints(demo_store)
    per_author: dict[str, int] = {}
    for r in rows:
        per_author[r[6]] = per_author.get(r[6], 0) + 1
    jochem = next(c for c in report.repeat_unanswered if c.handle == "jochemvandalen")
    assert jochem.complaints == per_author["237005094140"] >= 5
    assert report.biggest_reach[0].followers == max(r[5] or 0 for r in rows)
    assert all(c.complaints >= 2 for c in report.repeat_unanswered)


def test_report_renders_every_plot_as_an_embedded_svg(report: BrandReport) -> None:
    html = render_report(report, standalone=True)
    images = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 5  # first public response, volume, response times, SLA, themes
    for image in images:
        svg = base64.b64decode(image).decode()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<script" not in svg
    assert f'<b id="kpi-complaints">{report.complaints}</b>' in html
    assert f'<b id="kpi-breaches">{report.sla_breaches}</b>' in html
    assert "@jochemvandalen" in html
    assert "<style>" in html  # standalone file carries its CSS
    assert '<link rel="stylesheet"' not in render_report(report, standalone=True)


def test_periods_read_as_relative_or_absolute() -> None:
    now = datetime(2026, 11, 8, 12, tzinfo=UTC)
    assert parse_period("7d", None, now=now) == (now - timedelta(days=7), now)
    assert parse_period("24h", "2026-11-08T12:00:00", now=now)[0] == now - timedelta(hours=24)
    assert parse_period("2026-10-01", "2026-11-01")[0] == datetime(2026, 10, 1, tzinfo=UTC)


def test_biggest_reach_lists_each_author_once(report: BrandReport) -> None:
    authors = [r.author_id for r in report.biggest_reach]
    assert len(authors) == len(set(authors)) > 3


def test_themes_leave_out_filler_words(report: BrandReport) -> None:
    words = {w for w, _ in report.top_themes}
    assert words and not words & {"nieuwe", "week", "weken", "heten", "dagen"}


def test_count_axes_have_whole_number_ticks(
    report: BrandReport,
) -> None:
    from triage.report_html import plot_sla, plot_themes

    for plot in (plot_sla(report), plot_themes(report)):
        svg = base64.b64decode(plot.split(",", 1)[1]).decode()
        ticks = re.findall(r"<text[^>]*>\s*([0-9][0-9.,]*)\s*</text>", svg)
        assert ticks and all("." not in t and "," not in t for t in ticks), ticks


def test_report_json_of_themes_is_not_empty(report: BrandReport) -> None:
    assert report.top_themes
    assert json.dumps(report.cues)
