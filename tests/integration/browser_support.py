"""One way to start the real browser the UI tests drive: Debian's Chromium under Playwright.

Chromium comes from Debian (``scripts/install-system-deps.sh``); ``playwright install``
is never used. Every browser test opens it through :func:`chromium`, so the flags, the
locale, the time zone and the missing-browser message are the same everywhere, and
:func:`watch_problems` records what must never happen on a page (script errors, CSP
violations, dialogs). ``free_port`` is the one :mod:`tests.integration.noida_es` has.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.noida_es import free_port

__all__ = ["ARTIFACTS", "ROOT", "chromium", "free_port", "stop", "watch_problems"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "triage"
"""Screenshots, for a person to look at after a run."""

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server the test started: SIGTERM (it shuts down cleanly), SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def chromium(*, width: int = 1360, height: int = 1000, utc: bool = True) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile, Dutch locale and, by default,
    the UTC time zone (so the tests see the app convert times to Amsterdam itself)."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"locale": "nl-NL"}
    if utc:
        options["timezone_id"] = "UTC"
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            **options,
        )
        try:
            yield context
        finally:
            context.close()


def watch_problems(page: Any) -> Any:
    """Collect the page's script errors, console errors and dialogs in ``page.problems``
    (dialogs are dismissed): a test asserts the list stays empty."""
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
    return page
