"""``klachtradar listen --source S [--dry-run]``: one source, until Ctrl-C or SIGTERM.

The command wires: settings → source (resumed from its checkpoint) → listen loop →
publisher (stdout in ``--dry-run``; otherwise what the caller passes, e.g. the
embedded pipeline or a transport) → checkpoint saved after each published batch and
once more on the way out.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from klachtradar.contract import RawPost
from klachtradar.settings import Settings
from listener.checkpoint import CheckpointStore
from listener.loop import ListenLoop, ListenStats, Publish, stop_on_signals
from listener.source import Record
from listener.sources import build_source


def run_listen(
    source_name: str,
    settings: Settings,
    publish: Publish,
    *,
    file: Path | None = None,
    max_posts: int | None = None,
    seconds: float | None = None,
    stop: threading.Event | None = None,
) -> ListenStats:
    """Run one source until stopped (signal, ``max_posts``, ``seconds``) and flush."""
    _quiet_logging()
    stop = stop or threading.Event()
    with CheckpointStore(settings.resolve(settings.listen.checkpoint_path)) as checkpoints:
        source = build_source(source_name, settings, state=checkpoints.load(source_name), file=file)
        counted = _counting(publish, max_posts, stop)
        loop = ListenLoop(
            source,
            counted,
            checkpoints,
            batch_size=settings.listen.batch_size,
            flush_interval_s=settings.listen.flush_interval_seconds,
            max_post_bytes=settings.listen.max_post_bytes,
        )
        timer = threading.Timer(seconds, stop.set) if seconds else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            with stop_on_signals(stop):
                return loop.run(stop)
        finally:
            if timer is not None:
                timer.cancel()


def _counting(publish: Publish, max_posts: int | None, stop: threading.Event) -> Publish:
    seen = 0

    def counted(records: Sequence[Record]) -> None:
        nonlocal seen
        publish(records)
        seen += sum(isinstance(r, RawPost) for r in records)
        if max_posts is not None and seen >= max_posts:
            stop.set()

    return counted


def _quiet_logging() -> None:
    """Warnings and progress on stderr, so stdout stays pure JSON lines in --dry-run."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
