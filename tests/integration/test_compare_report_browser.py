"""The ``evaluate --compare`` HTML report, rendered in headless Chromium.

A data scientist decides on a promotion from this page, so what decides must be on
screen: the difference per metric with its bootstrap 95 % interval, McNemar's test on
the complaint verdicts, and the posts whose verdict flipped, both ways. The report is
written by the real CLI (lexicon against the shipped linear model on the test split);
the screenshots go to ``test-artifacts/evaluation/``.

Chromium comes from Debian (``scripts/install-system-deps.sh``), as in
``test_triage_browser``; ``playwright install`` is never used.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app
from tests.integration.browser_support import chromium

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "evaluation"
INTERVAL = re.compile(r"^\[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]$")


def _compare_report(tmp_path: Path) -> Path:
    report = tmp_path / "compare.html"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--model", "lexicon", "--compare", "linear", "--no-external",
         "--data", str(ROOT / "data/corpus/test.jsonl"), "--report", str(report),
         "--models-dir", str(ROOT / "models")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return report


def test_the_compare_report_shows_deltas_with_intervals_and_the_flipped_posts(
    tmp_path: Path,
) -> None:
    report = _compare_report(tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium(width=1280, utc=False) as context:
        page = context.new_page()
        page.goto(report.as_uri())
        section = page.locator("#comparison")
        section.scroll_into_view_if_needed()
        header = section.locator("table.deltas th", has_text="95%-interval (bootstrap)")
        assert header.is_visible()
        assert section.locator("table.deltas th", has_text="verschil").is_visible()
        cells = section.locator("table.deltas tr td:nth-child(5)")
        assert cells.count() >= 3, "complaint F1 and both macro-F1s at least"
        for i in range(cells.count()):
            assert cells.nth(i).is_visible()
            assert INTERVAL.match(cells.nth(i).inner_text()), cells.nth(i).inner_text()
        assert section.get_by_text("McNemar (exact)").is_visible()
        flipped = section.locator("#flipped")
        for title in ("Nu een klacht volgens linear@", "Geen klacht meer volgens linear@"):
            assert flipped.locator("h3", has_text=title).is_visible(), title
        rows = flipped.locator("table.err tr")
        assert rows.count() > 0, "lexicon and linear disagree on some complaint"
        assert rows.first.is_visible()
        section.screenshot(path=str(ARTIFACTS / "compare-report.png"))
        page.screenshot(path=str(ARTIFACTS / "compare-report-page.png"), full_page=True)
    shot = ARTIFACTS / "compare-report.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
