"""Judging in worker processes: the pure stages of a batch on the other CPU core.

Language tagging and classification are pure functions of the text, while enrichment
keeps state (author history, incidents). So a replay can judge batch *n + 1* in a
worker process while the main process scores and stores batch *n*, as spaCy's
``n_process`` does for its pure components. Only strings go to the worker and only
small :class:`~classify.base.Prediction` objects come back.

Used for unpaced replays (``klachtradar replay --fast``); a paced or live run judges
in-process, so no batch ever waits for the next one to arrive.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from classify.base import Prediction, TextClassifier
from klachtradar.contract import ModelRef, RawPost
from klachtradar.runtime.gc_policy import settle_after_start
from klachtradar.settings import Settings


@dataclass(frozen=True, slots=True)
class Judgement:
    """A batch's languages and predictions (``None``: language not supported), and its
    brand mentions as ``(brand, matched, kind)`` under watchlist ``watchlist``."""

    langs: list[str]
    predictions: list[Prediction | None]
    model: ModelRef
    brands: list[list[tuple[str, str, str]]] | None = None
    watchlist: str = ""


_WORKER: dict[str, Any] = {}


def _init_worker(settings_json: str, parent_pid: int) -> None:
    """Build the tagger, the brand matcher and the classifier once per worker process.

    First of all, tie the worker's life to the process that owns the pool: a worker
    is forked by the forkserver, not by its owner, so it would otherwise outlive an
    owner killed with SIGKILL (and keep the forkserver and the resource tracker alive:
    1.85 GB of orphans after four kills).
    """
    exit_with(parent_pid)
    from classify.registry import configured_classifier
    from enrich.brand_match import BrandMatcher
    from enrich.language import tagger

    settings = Settings.model_validate_json(settings_json)
    _WORKER["settings"] = settings
    _WORKER["tagger"] = tagger(
        settings.enrich.language_backend, settings.enrich.language_candidates
    )
    _WORKER["matcher"] = BrandMatcher.from_file(
        settings.resolve(settings.watchlist.path), backend=settings.enrich.brand_backend
    )
    _WORKER["classifier"] = configured_classifier(settings)
    settle_after_start()


def _judge(
    texts: list[str],
    given: list[str | None],
    handles: list[list[str]] | None = None,
    hashtags: list[list[str]] | None = None,
) -> Judgement:
    from classify.stage import predict_batch

    settings: Settings = _WORKER["settings"]
    classifier: TextClassifier = _WORKER["classifier"]
    identify = _WORKER["tagger"]
    langs = [lang or identify(text) or "nl" for text, lang in zip(texts, given, strict=True)]
    predictions = predict_batch(
        texts, langs, classifier, languages=settings.pipeline.supported_languages
    )
    if handles is None or hashtags is None:
        return Judgement(langs, predictions, classifier.model_ref)
    matcher = _WORKER["matcher"]
    matcher.reload_if_changed()
    brands = [
        [(m.brand, m.matched, m.kind) for m in matcher.match_fields(text, at, tags)]
        for text, at, tags in zip(texts, handles, hashtags, strict=True)
    ]
    return Judgement(langs, predictions, classifier.model_ref, brands, matcher.version)


def exit_with(pid: int) -> None:
    """End this process as soon as process ``pid`` ends, however it ends.

    A daemon thread waits on a pidfd (Linux ≥ 5.3: readable when the process exits, no
    polling); where that is missing it checks every half second. ``os._exit`` because
    the owner is gone: nobody is left to take results or run clean-up for.
    """
    import os
    import select
    import threading

    def wait_pidfd(fd: int) -> None:
        select.select([fd], [], [])
        os._exit(0)

    def poll() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # alive, but not ours to signal
            threading.Event().wait(0.5)

    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        threading.Thread(target=poll, name="exit-with-owner", daemon=True).start()
    else:
        threading.Thread(target=wait_pidfd, args=(fd,), name="exit-with-owner", daemon=True).start()


class JudgePool:
    """Worker processes that judge batches; build it before timing anything (start-up
    loads the models in every worker)."""

    def __init__(self, settings: Settings, processes: int = 1) -> None:
        import os

        context = multiprocessing.get_context("forkserver")
        payload = settings.model_dump_json()
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_init_worker,
            initargs=(payload, os.getpid()),
        )
        self.processes = processes
        for future in [self._pool.submit(_judge, ["ok"], ["nl"]) for _ in range(processes)]:
            future.result()  # wait until every worker has loaded its models

    def submit(self, posts: Sequence[RawPost]) -> Future[Judgement]:
        """Judge a batch in a worker (language, classification, brand mentions); the
        future's result feeds ``Pipeline.process``."""
        return self._pool.submit(
            _judge,
            [p.text for p in posts],
            [p.lang for p in posts],
            [list(p.mentions) for p in posts],
            [list(p.hashtags) for p in posts],
        )

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
