"""Sources by name, for ``klachtradar listen --source NAME``.

The one seam between the listener package and the streaming processes: a source is
a factory ``(settings, options) -> iterable of record batches`` registered under a
name. ``jsonl`` (replay a file) is here; network sources (X, Bluesky, Mastodon …)
add one entry each, importing their module lazily so ``listen`` stays light.

>>> sorted(SOURCES)
['jsonl']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from klachtradar.contract import DeadLetter, DeletedPost, RawPost
from klachtradar.errors import ConfigError
from klachtradar.settings import Settings

Record = RawPost | DeadLetter | DeletedPost
Batches = Iterable[Sequence[Record]]
SourceFactory = Callable[[Settings, Mapping[str, str]], Batches]


def jsonl_source(settings: Settings, options: Mapping[str, str]) -> Batches:
    """Replay a JSONL file: options ``file`` (required), ``speed`` (absent: full speed)."""
    from listener.jsonl import JsonlReplay

    if not options.get("file"):
        raise ConfigError("source jsonl needs a file: klachtradar listen --source jsonl --file F")
    speed = float(options["speed"]) if options.get("speed") else None
    replay = JsonlReplay(
        Path(options["file"]),
        speed=speed,
        batch_size=settings.pipeline.batch_size,
        max_post_bytes=settings.listen.max_post_bytes,
    )
    return replay.batches()


SOURCES: dict[str, SourceFactory] = {
    "jsonl": jsonl_source,
}


def open_source(name: str, settings: Settings, options: Mapping[str, str]) -> Batches:
    """The batches of the source called ``name``; unknown names raise :class:`ConfigError`."""
    try:
        factory = SOURCES[name]
    except KeyError:
        raise ConfigError(
            f"unknown source {name!r} (available: {', '.join(sorted(SOURCES))})"
        ) from None
    return factory(settings, options)
