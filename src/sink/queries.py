"""Opening the configured query backend: :func:`open_queries`.

The interface and its vocabulary (:class:`~sink.query_types.PostQueries`,
:class:`~sink.query_types.PostFilter` …) live in :mod:`sink.query_types`, which both
backends import; this module picks and opens one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from klachtradar.settings import Settings
    from sink.query_types import PostQueries


BACKENDS = ("auto", "embedded", "elasticsearch")


def uses_elasticsearch(settings: Settings, backend: str = "auto") -> bool:
    """Whether ``backend`` (``auto``, ``embedded`` or ``elasticsearch``) means Elasticsearch:
    asked for, or ``auto`` with ``[elasticsearch] url`` set."""
    from klachtradar.errors import ConfigError

    if backend not in BACKENDS:
        raise ConfigError(f"unknown query backend {backend!r} (auto, embedded or elasticsearch)")
    return backend == "elasticsearch" or (backend == "auto" and bool(settings.elasticsearch.url))


def open_queries(settings: Settings, *, backend: str = "auto") -> PostQueries:
    """The configured backend: Elasticsearch when a URL is set (or asked for), else the store.

    ``backend`` is ``auto``, ``embedded`` or ``elasticsearch``.
    """
    if uses_elasticsearch(settings, backend):
        from sink.es.queries import ElasticsearchQueries

        return ElasticsearchQueries.from_settings(settings)
    from sink.store import EmbeddedStore

    return EmbeddedStore(settings.resolve(settings.store.path))
