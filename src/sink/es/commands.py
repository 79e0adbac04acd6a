"""``klachtradar es …`` and ``klachtradar kibana …``: one command each to get a cluster ready.

Both read ``[elasticsearch]`` settings (secrets from the environment) and print only
redacted URLs. Heavy imports happen inside the commands, so ``klachtradar --help``
stays fast without the ``es`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from klachtradar.errors import KlachtradarError
from klachtradar.settings import Settings, load_settings

es_app = typer.Typer(help="Elasticsearch: index templates, lifecycle policy, status.")
kibana_app = typer.Typer(help="Kibana: the shipped data views, dashboard and saved searches.")
console = Console()

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Overrides the configured URL (no secrets here).")
]


def _settings(url: str | None = None) -> Settings:
    settings = load_settings()
    if url:
        settings.elasticsearch.url = url
    return settings


@es_app.command("setup")
def es_setup(
    url: UrlOption = None,
    retention_days: Annotated[
        int | None, typer.Option(min=1, help="Days a post is kept (default: setting).")
    ] = None,
) -> None:
    """Install or update the lifecycle policy, templates and alerts index (idempotent)."""
    from sink.es.connection import describe, make_client
    from sink.es.templates import install

    settings = _settings(url)
    if retention_days is not None:
        settings.elasticsearch.retention_days = retention_days
    console.print(f"Elasticsearch {describe(settings.elasticsearch)}")
    with make_client(settings) as client:
        steps = install(client, settings.root, settings.elasticsearch)
    table = Table(show_header=False, box=None)
    for step in steps:
        table.add_row(step.what, step.outcome)
    console.print(table)


@es_app.command("status")
def es_status(url: UrlOption = None) -> None:
    """Posts and alerts indexed, per weekly index."""
    from sink.es.connection import describe, make_client

    settings = _settings(url)
    es = settings.elasticsearch
    console.print(f"Elasticsearch {describe(es)}")
    with make_client(settings) as client:
        rows = client.cat.indices(index=f"{es.posts_index}-*,{es.alerts_index}*", format="json")
    table = Table("index", "documents")
    for row in sorted(rows.body, key=lambda r: str(r.get("index"))):
        table.add_row(str(row.get("index")), str(row.get("docs.count")))
    console.print(table)


@kibana_app.command("setup")
def kibana_setup(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Kibana URL (default: \\[elasticsearch] kibana_url)."),
    ] = None,
    space: Annotated[str | None, typer.Option(help="Kibana space id (default space).")] = None,
    folder: Annotated[
        Path | None, typer.Option(help="NDJSON files to import (default: configs/kibana).")
    ] = None,
) -> None:
    """Import the shipped saved objects through Kibana's saved-objects API (overwrites)."""
    from sink.es.connection import redact_url
    from sink.es.kibana import auth_header, import_file

    settings = load_settings()
    es = settings.elasticsearch
    kibana_url = url or es.kibana_url
    if not kibana_url:
        raise KlachtradarError("no Kibana URL: pass --url or set [elasticsearch] kibana_url")
    files = sorted((folder or settings.root / "configs" / "kibana").glob("*.ndjson"))
    if not files:
        raise KlachtradarError("no *.ndjson saved objects to import")
    headers = auth_header(
        api_key=es.api_key.get_secret_value(),
        username=es.username,
        password=es.password.get_secret_value(),
    )
    ca = str(settings.resolve(Path(es.ca_file))) if es.ca_file else None
    console.print(f"Kibana {redact_url(kibana_url)}")
    failed = False
    for path in files:
        result = import_file(kibana_url, path, headers=headers, space=space, ca_file=ca)
        status = "ok" if result.success else f"{len(result.errors)} error(s)"
        console.print(f"  {result.file}: {result.count} object(s) imported, {status}")
        for err in result.errors:
            console.print(f"    {err.get('type')} {err.get('id')}: {err.get('error')}")
        failed |= not result.success
    if failed:
        raise KlachtradarError("Kibana did not import every saved object (see above)")


@kibana_app.command("export")
def kibana_export(
    out: Annotated[Path | None, typer.Option(help="Folder (default: configs/kibana).")] = None,
) -> None:
    """Regenerate the NDJSON files from the index names and the brand watchlist."""
    from klachtradar.watchlist import load_watchlist
    from sink.es.kibana import generate, to_ndjson
    from sink.es.templates import IndexNames

    settings = load_settings()
    brands = load_watchlist(settings.resolve(settings.watchlist.path)).names()
    folder = out or settings.root / "configs" / "kibana"
    folder.mkdir(parents=True, exist_ok=True)
    for name, objects in generate(IndexNames(), brands).items():
        (folder / name).write_text(to_ndjson(objects), encoding="utf-8")
        console.print(f"wrote {folder / name} ({len(objects)} objects)")
