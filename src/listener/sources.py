"""Build a source by name from the settings: ``x``, ``bluesky``, ``mastodon``, ``webhook``,
``jsonl``. Secrets come from the environment variables the settings name, here and
nowhere else, so no other module reads the environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from klachtradar.contract import DEFAULT_MAX_POST_BYTES
from klachtradar.errors import ConfigError
from klachtradar.settings import Settings
from klachtradar.watchlist import load_watchlist
from listener.checkpoint import State
from listener.prefilter import AcceptAll, BrandPrefilter
from listener.source import Clock, Record, Source

SOURCES = ("x", "bluesky", "mastodon", "webhook", "jsonl")


@dataclass
class JsonlSource:
    """The JSONL replay as a listen source (same contract validation, same dead letters)."""

    path: Path
    batch_size: int = 256
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    name: str = "jsonl"

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        from listener.jsonl import JsonlReplay

        replay = JsonlReplay(
            self.path, batch_size=self.batch_size, max_post_bytes=self.max_post_bytes
        )
        for batch in replay.batches():
            yield list(batch)
            if stop.is_set():
                return

    def checkpoint(self) -> State | None:
        return None


@dataclass
class RecordingSource:
    """A recording of a platform stream (``listen --source x --file F``) as a listen source.

    The outcomes of :func:`listener.recording.read_recording` without the skips: posts,
    deletes and dead letters, no brand prefilter, no checkpoint (a file is replayed whole).
    """

    name: str
    path: Path
    batch_size: int = 256
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        from listener.recording import recording_batches

        batches = recording_batches(
            self.name, self.path, batch_size=self.batch_size, max_post_bytes=self.max_post_bytes
        )
        for batch in batches:
            yield batch
            if stop.is_set():
                return

    def checkpoint(self) -> State | None:
        return None


def build_source(
    name: str,
    settings: Settings,
    *,
    state: State | None = None,
    env: Mapping[str, str] | None = None,
    file: Path | None = None,
    clock: Clock | None = None,
) -> Source:
    """The configured source called ``name``; unknown names raise :class:`ConfigError`.

    With ``file``, ``x``, ``bluesky`` and ``mastodon`` replay a recording of their stream
    (:class:`RecordingSource`) instead of connecting.
    """
    if file is not None and name in ("x", "bluesky", "mastodon"):
        return RecordingSource(
            name,
            file,
            batch_size=settings.pipeline.batch_size,
            max_post_bytes=settings.listen.max_post_bytes,
        )
    env = os.environ if env is None else env
    clock = clock or Clock()
    listen = settings.listen
    tick = listen.idle_tick_seconds
    watchlist = load_watchlist(settings.resolve(settings.watchlist.path))
    prefilter: BrandPrefilter | AcceptAll = (
        BrandPrefilter(watchlist) if listen.prefilter else AcceptAll()
    )
    if name == "x":
        from listener.x_stream import XOptions, XSource

        x = listen.x
        options = XOptions(
            base_url=x.api_base_url,
            token=env.get(x.token_env),
            languages=x.languages,
            tag_prefix=x.rule_tag_prefix,
            max_rule_length=x.max_rule_length,
            sync_rules=x.sync_rules,
            backfill=x.backfill,
            backfill_pages=x.backfill_pages,
            idle_tick_s=tick,
        )
        return XSource(options, watchlist, clock=clock, state=state)
    if name == "bluesky":
        from listener.bluesky_appview import AppView
        from listener.jetstream import JetstreamOptions, JetstreamSource

        b = listen.bluesky
        appview = (
            AppView(b.appview_url, ttl_s=b.profile_ttl_seconds, clock=clock.now)
            if b.appview_url
            else None
        )
        options_b = JetstreamOptions(
            url=b.jetstream_url,
            overlap_s=b.overlap_seconds,
            compress=b.compress,
            zstd_dictionary=settings.resolve(b.zstd_dictionary) if b.zstd_dictionary else None,
            idle_tick_s=tick,
            refresh_min_followers=b.refresh_min_followers,
            refresh_after_s=b.refresh_after_seconds,
        )
        return JetstreamSource(options_b, prefilter, appview, clock=clock, state=state)
    if name == "mastodon":
        from listener.mastodon import MastodonOptions, MastodonSource

        m = listen.mastodon
        options_m = MastodonOptions(
            base_url=m.base_url,
            stream=m.stream,
            tag=m.tag,
            token=env.get(m.token_env),
            idle_tick_s=tick,
            backfill_pages=m.backfill_pages,
        )
        return MastodonSource(options_m, prefilter, clock=clock, state=state)
    if name == "webhook":
        from listener.webhook import WebhookOptions, WebhookSource

        w = listen.webhook
        return WebhookSource(
            WebhookOptions(
                host=w.host,
                port=w.port,
                api_key=env.get(w.api_key_env),
                max_body_bytes=w.max_body_bytes,
                idle_tick_s=tick,
                read_timeout_s=w.read_timeout_seconds,
                publish_timeout_s=w.publish_timeout_seconds,
                max_in_flight=w.max_in_flight,
                retry_after_s=w.retry_after_seconds,
            )
        )
    if name == "jsonl":
        if file is None:
            raise ConfigError("--source jsonl needs --file PATH")
        return JsonlSource(
            file,
            batch_size=settings.pipeline.batch_size,
            max_post_bytes=settings.listen.max_post_bytes,
        )
    raise ConfigError(f"unknown source {name!r}; choose one of: {', '.join(SOURCES)}")
