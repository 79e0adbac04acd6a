"""Sinks by name, for ``klachtradar index --sink NAME``.

The seam between the sink package and the ``index`` process: a sink is a factory
``(settings, options) -> PostSink`` registered under a name. Every sink must upsert on
``doc_id`` (redelivery is normal) and raise :class:`~klachtradar.errors.SinkError`
when a write fails, ``retryable`` saying whether a retry may help. ``embedded`` (the
SQLite store) and ``elasticsearch`` (imported lazily) are here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from klachtradar.contract import DeletedPost, ScoredPost
from klachtradar.errors import ConfigError
from klachtradar.settings import Settings


class PostSink(Protocol):
    """Stores scored posts idempotently by ``doc_id``, and removes deleted ones for good."""

    def write_posts(self, posts: Sequence[ScoredPost]) -> None: ...

    def delete_posts(self, deletes: Sequence[DeletedPost]) -> int:
        """Remove the posts and keep their tombstones, so a later upsert is dropped."""
        ...

    def close(self) -> None: ...


SinkFactory = Callable[[Settings, Mapping[str, str]], PostSink]


def embedded_sink(settings: Settings, options: Mapping[str, str]) -> PostSink:
    """The embedded store; option ``store`` overrides ``[store] path``."""
    from sink.store import EmbeddedStore

    path = Path(options["store"]) if options.get("store") else settings.store.path
    return EmbeddedStore(settings.resolve(path), retention_days=settings.store.retention_days)


def elasticsearch_sink(settings: Settings, options: Mapping[str, str]) -> PostSink:
    """Elasticsearch at ``[elasticsearch] url`` (the client is imported lazily)."""
    from sink.es.outputs import ElasticsearchPostSink

    return ElasticsearchPostSink.from_settings(settings)


POST_SINKS: dict[str, SinkFactory] = {
    "embedded": embedded_sink,
    "elasticsearch": elasticsearch_sink,
}


def default_sinks(settings: Settings) -> list[str]:
    """``index`` without ``--sink``: the embedded store, plus Elasticsearch when configured."""
    return ["embedded", "elasticsearch"] if settings.elasticsearch.url else ["embedded"]


def open_sink(name: str, settings: Settings, options: Mapping[str, str]) -> PostSink:
    """The sink called ``name``; unknown names raise :class:`ConfigError`."""
    try:
        factory = POST_SINKS[name]
    except KeyError:
        raise ConfigError(
            f"unknown sink {name!r} (available: {', '.join(sorted(POST_SINKS))})"
        ) from None
    return factory(settings, options)
