"""CLI: ``klachtradar serve``, ``klachtradar report`` and ``klachtradar feedback export``.

This module imports only typer at import time (the CLI loads it on every run); the web
stack and matplotlib are imported inside the commands.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from klachtradar.errors import KlachtradarError
from klachtradar.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from triage.demo_feed import DemoPipelineFactory
    from triage.rescoring import RescorerFactory

feedback_app = typer.Typer(help="Label corrections from the triage app.", no_args_is_help=True)

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="SQLite store (default: \\[store] path).")
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="auto (Elasticsearch when \\[elasticsearch] url is set), embedded or "
        "elasticsearch. With Elasticsearch the store is a working copy synced from it.",
    ),
]


REPORTS_DIR = Path("var/reports")
"""Where ``report`` writes without ``--out`` (under the project home, not the cwd)."""


def _settings(store: Path | None) -> Settings:
    settings = load_settings()
    if store is not None:
        settings.store.path = store
    return settings


def serve_command(
    demo_pipeline: DemoPipelineFactory,
    served_model: Callable[[Settings], str] | None = None,
    rescorer: RescorerFactory | None = None,
) -> Callable[..., None]:
    """The ``serve`` command; ``--demo`` replays through the pipeline ``demo_pipeline``
    builds, and actions re-score with what ``rescorer`` builds (the CLI, the
    composition root, passes the runtime's); ``served_model`` names the model the
    pipeline serves, for the page header."""

    def serve(
        host: Annotated[
            str | None, typer.Option(help="Address (default: \\[triage] host).")
        ] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: \\[triage] port).")] = None,
        demo: Annotated[
            bool,
            typer.Option(
                "--demo", help="Replay the demo stream through the pipeline while serving."
            ),
        ] = False,
        replay: Annotated[
            list[Path] | None,
            typer.Option(
                "--replay", help="With --demo: replay these JSONL files instead (in order)."
            ),
        ] = None,
        duration: Annotated[
            float | None, typer.Option(help="Seconds each demo replay takes (default: \\[demo]).")
        ] = None,
        read_only: Annotated[bool, typer.Option("--read-only", help="Look, do not act.")] = False,
        store: StoreOption = None,
        backend: BackendOption = "auto",
    ) -> None:
        """Serve the webcare triage queue in the browser (live over server-sent events)."""
        from triage.server import run_server

        settings = _settings(store)
        if read_only:
            settings.triage.read_only = True
        if settings.triage.auth == "token" and not settings.triage.token:
            raise KlachtradarError(
                "[triage] auth = 'token' needs a token (KLACHTRADAR_TRIAGE__TOKEN)"
            )
        if settings.triage.auth == "basic" and not settings.triage.users:
            raise KlachtradarError("[triage] auth = 'basic' needs [triage.users]")
        files = (
            [settings.resolve(settings.demo.file)] if demo and not replay else list(replay or [])
        )
        if files and not demo:
            raise KlachtradarError("--replay needs --demo")
        if demo:  # its own store, emptied by run_server once the settings are checked
            settings.store.path = store if store is not None else settings.demo.store
        run_server(
            settings,
            demo_pipeline=demo_pipeline,
            served_model=served_model,
            host=host or settings.triage.host,
            port=settings.triage.port if port is None else port,
            replay_files=files,
            duration_s=settings.demo.duration_seconds if duration is None else duration,
            backend=backend,
            rescorer=rescorer,
        )

    return serve


def report(
    brand: Annotated[str, typer.Option(help="The brand the report is about.")],
    since: Annotated[
        str, typer.Option(help="Period: '7d', '24h', '6w' or a date (2026-10-01).")
    ] = "7d",
    until: Annotated[
        str | None, typer.Option(help="End of the period: a date/time (default: now).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file (default: var/reports/report-BRAND.html)."),
    ] = None,
    store: StoreOption = None,
    backend: BackendOption = "auto",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the report's numbers as one JSON object (no HTML)."),
    ] = False,
) -> None:
    """Write the brand report (HTML with plots) for management, or print its numbers."""
    import json
    from zoneinfo import ZoneInfo

    from sink.queries import uses_elasticsearch
    from triage.report import build_report, check_brand, parse_period
    from triage.report_html import render_report

    if as_json and out is not None:
        raise KlachtradarError("--json prints the numbers and writes no file: leave out --out")
    settings = _settings(store)
    path = settings.resolve(settings.store.path)
    start, end = parse_period(since, until, zone=ZoneInfo(settings.triage.timezone))
    if uses_elasticsearch(settings, backend):
        _sync_working_copy(settings, path, start=start)
    if not path.is_file():
        raise KlachtradarError(f"{path}: no store yet; run `klachtradar demo` first")
    check_brand(path, brand)
    data = build_report(path, brand=brand, start=start, end=end, triage=settings.triage)
    if as_json:
        from triage.report_json import report_numbers

        typer.echo(json.dumps(report_numbers(data), ensure_ascii=False))
        return
    target = out or settings.resolve(REPORTS_DIR / f"report-{brand.replace('/', '_')}.html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        render_report(data, standalone=True, zone=settings.triage.timezone), encoding="utf-8"
    )
    typer.echo(
        f"wrote {target}: {data.complaints} klachten, {data.answered_share:.0%} beantwoord, "
        f"{data.sla_breaches} SLA-breuken"
    )


def _sync_working_copy(settings: Settings, path: Path, *, start: datetime | None = None) -> None:
    """Bring the working copy up to date with Elasticsearch (once), then close.

    A copy never synced before is filled back to ``start`` (the report's period) when
    that is further back than ``[triage] es_window_days``; an existing copy is only
    brought up to date, and a note says the period may reach before what it holds.
    """
    from klachtradar.contract import utc_now
    from triage.database import TriageDatabase
    from triage.es_mirror import POSTS
    from triage.server import open_mirror

    database = TriageDatabase(path)
    try:
        mirror = open_mirror(settings, database)
        try:
            wanted = utc_now() - start if start is not None else mirror.window
            if wanted > mirror.window and mirror.cursor(POSTS) is None:
                mirror.window = wanted
            elif wanted > mirror.window:
                typer.echo(
                    f"note: {path} holds posts of the last {mirror.window.days} days "
                    "([triage] es_window_days); older ones are missing from this report",
                    err=True,
                )
            mirror.sync()
        finally:
            mirror.close()
    finally:
        database.close()


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="Training JSONL (shared/LABELS.md format).")] = Path(
        "feedback.jsonl"
    ),
    store: StoreOption = None,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Hash @handles and ids with the secret salt in $FEEDBACK_PSEUDONYM_SALT; "
            "drop URLs.",
        ),
    ] = False,
) -> None:
    """Write the agents' label corrections as training JSONL (latest per post)."""
    from triage.clock import SystemClock
    from triage.database import TriageDatabase
    from triage.feedback import FeedbackStore

    settings = _settings(store)
    path = settings.resolve(settings.store.path)
    if not path.is_file():
        raise KlachtradarError(f"{path}: no store yet")
    salt = _pseudonym_salt() if pseudonymise else None
    database = TriageDatabase(path)
    try:
        feedback = FeedbackStore(database, SystemClock())
        if salt is None:
            count = feedback.export(out)
        else:
            from triage.pseudonym import export_pseudonymised

            count = export_pseudonymised(feedback, out, salt)
    finally:
        database.close()
    typer.echo(f"wrote {count} corrected posts to {out}")


def _pseudonym_salt() -> str:
    """The secret salt of ``--pseudonymise``, from the environment only (never an option:
    a command line ends up in shell histories and process lists)."""
    import os

    from triage.pseudonym import MIN_SALT_CHARS, SALT_ENV

    salt = os.environ.get(SALT_ENV, "")
    if len(salt) < MIN_SALT_CHARS:
        raise KlachtradarError(
            f"--pseudonymise needs a secret salt of at least {MIN_SALT_CHARS} characters "
            f"in ${SALT_ENV}"
        )
    return salt
