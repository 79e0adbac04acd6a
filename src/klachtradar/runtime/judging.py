"""Judging in worker processes: the pure stages of a batch on the other CPU core.

Language tagging and classification are pure functions of the text, while enrichment
keeps state (author history, incidents). So a replay can judge batch *n + 1* in a
worker process while the main process scores and stores batch *n*, as spaCy's
``n_process`` does for its pure components. Only strings go to the worker and only
small :class:`~classify.base.Prediction` objects come back.

Used for unpaced replays (``klachtradar replay --fast``) and by ``process --judges N``.

A worker that dies (killed, out of memory) breaks its pool; :class:`JudgePool` notices
at once (it waits on the workers' sentinels), logs ``judge worker died, restarting``
and builds a new pool in the background. Until that one has loaded its models, every
batch submitted fails fast, and the callers judge it in-process: slower for a few
seconds, never stopped, never for good.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from classify.base import Prediction, TextClassifier
from klachtradar.backoff import Backoff
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
    fallback: bool = False
    """Judged by the fast model (the overload cascade, :mod:`classify.cascade`)."""
    seconds: float = 0.0
    """What the classifier took for the batch in the worker (the cascade's cost model)."""
    fast: tuple[int, ...] = ()
    """A split batch (:func:`classify.stage.predict_routed`): the posts ``fast_model``
    judged; ``model`` judged the others."""
    fast_model: ModelRef | None = None
    primary_posts: int | None = None
    """How many posts ``model`` judged in ``seconds`` (``None``: the whole batch)."""


_WORKER: dict[str, Any] = {}

log = logging.getLogger("klachtradar.judging")


class JudgesRestartingError(RuntimeError):
    """No judge pool is available right now (a worker died; a new pool is starting)."""


def _init_worker(settings_json: str, parent_pid: int) -> None:
    """Build the tagger, the brand matcher and the classifier once per worker process.

    First of all, tie the worker's life to the process that owns the pool: a worker
    is forked by the forkserver, not by its owner, so it would otherwise outlive an
    owner killed with SIGKILL (and keep the forkserver and the resource tracker alive:
    1.85 GB of orphans after four kills).
    """
    exit_with(parent_pid)
    from classify.registry import cascade_fallback, configured_classifier, fast_classifier
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
    _WORKER["fast"] = fast_classifier(settings) if cascade_fallback(settings) else None
    settle_after_start()


def _judge(
    texts: list[str],
    given: list[str | None],
    handles: list[list[str]] | None = None,
    hashtags: list[list[str]] | None = None,
    quota: int | None = None,
) -> Judgement:
    """``quota``: how many posts the configured model judges (``None``: all; 0: the
    whole batch goes to the fast model; see :meth:`classify.cascade.Cascade.quota`),
    ignored without a fast model."""
    from classify.stage import predict_routed

    settings: Settings = _WORKER["settings"]
    fast: TextClassifier | None = _WORKER.get("fast")
    primary: TextClassifier = _WORKER["classifier"]
    identify = _WORKER["tagger"]
    langs = [lang or identify(text) or "nl" for text, lang in zip(texts, given, strict=True)]
    routed = predict_routed(
        texts,
        langs,
        primary,
        fast or primary,
        quota if fast is not None else None,
        languages=settings.pipeline.supported_languages,
    )
    predictions = routed.predictions
    verdicts: dict[str, Any] = {
        "model": primary.model_ref,
        "seconds": routed.seconds,
        "fast": routed.fast,
        "fast_model": fast.model_ref if routed.fast and fast is not None else None,
        "primary_posts": routed.primary_posts,
    }
    if handles is None or hashtags is None:
        return Judgement(langs, predictions, **verdicts)
    matcher = _WORKER["matcher"]
    matcher.reload_if_changed()
    brands = [
        [(m.brand, m.matched, m.kind) for m in matcher.match_fields(text, at, tags)]
        for text, at, tags in zip(texts, handles, hashtags, strict=True)
    ]
    return Judgement(langs, predictions, brands=brands, watchlist=matcher.version, **verdicts)


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
    loads the models in every worker). A dead worker is replaced (see the module doc).

    ``on_restart`` is called once per restart begun (the ``process`` command counts
    them in ``klachtradar_judge_restarts_total``).
    """

    def __init__(
        self,
        settings: Settings,
        processes: int = 1,
        *,
        on_restart: Callable[[], None] | None = None,
        restart_backoff: Backoff | None = None,
    ) -> None:
        import os

        self._context = multiprocessing.get_context("forkserver")
        self._payload = settings.model_dump_json()
        self._owner = os.getpid()
        self.processes = processes
        self.restarts = 0
        self._on_restart = on_restart or (lambda: None)
        self._backoff = restart_backoff or Backoff(initial_s=0.5, maximum_s=10.0)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._pool: ProcessPoolExecutor | None = self._started_pool()
        self._watcher = threading.Thread(target=self._watch, name="judge-watch", daemon=True)
        self._watcher.start()

    def _started_pool(self) -> ProcessPoolExecutor:
        """A new pool whose every worker has loaded its models (this takes seconds)."""
        pool = ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self._payload, self._owner),
        )
        try:
            for future in [pool.submit(_judge, ["ok"], ["nl"]) for _ in range(self.processes)]:
                future.result()  # wait until every worker has loaded its models
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return pool

    @property
    def available(self) -> bool:
        """Whether batches go to workers now (False while a new pool starts)."""
        return self._pool is not None

    def submit(self, posts: Sequence[RawPost], *, quota: int | None = None) -> Future[Judgement]:
        """Judge a batch in a worker (language, classification, brand mentions); the
        future's result feeds ``Pipeline.process``. ``quota``: how many posts the
        configured model judges, the overload cascade's fast model the rest (``None``:
        all; ``Pipeline.route`` decides).

        Never raises: without a working pool the future fails at once
        (:class:`JudgesRestartingError`), and the caller judges the batch in-process.
        """
        pool = self._pool
        try:
            if pool is None:
                raise JudgesRestartingError("judge workers are restarting")
            return pool.submit(
                _judge,
                [p.text for p in posts],
                [p.lang for p in posts],
                [list(p.mentions) for p in posts],
                [list(p.hashtags) for p in posts],
                quota,
            )
        except Exception as exc:  # BrokenProcessPool: the watcher restarts it
            failed: Future[Judgement] = Future()
            failed.set_exception(exc)
            return failed

    def _watch(self) -> None:
        """Wait on the workers' sentinels; when one ends (and we are not closing), restart."""
        while not self._closing.is_set():
            pool = self._pool
            sentinels = _sentinels(pool) if pool is not None else []
            if not sentinels:
                self._closing.wait(0.5)
                continue
            ended = multiprocessing.connection.wait(sentinels, timeout=0.5)
            if ended and not self._closing.is_set():
                self._restart(pool)

    def _restart(self, broken: ProcessPoolExecutor | None) -> None:
        """Replace a pool whose worker died; keep trying (with backoff) until it starts."""
        with self._lock:
            if self._pool is not broken:
                return
            self._pool = None
        self.restarts += 1
        log.warning(
            "judge worker died, restarting",
            extra={"fields": {"restarts": self.restarts, "processes": self.processes}},
        )
        self._on_restart()
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        while not self._closing.is_set():
            try:
                pool = self._started_pool()
            except Exception as exc:
                delay = self._backoff.delay()
                log.error(
                    "judge workers did not start, retrying",
                    extra={
                        "fields": {"error": f"{type(exc).__name__}: {exc}", "retry_in_s": delay}
                    },
                )
                self._closing.wait(delay)
                continue
            self._backoff.reset()
            with self._lock:
                if self._closing.is_set():
                    pool.shutdown(wait=False, cancel_futures=True)
                    return
                self._pool = pool
            log.info("judge workers restarted", extra={"fields": {"restarts": self.restarts}})
            return

    def close(self) -> None:
        """Stop the workers (and the watcher: a worker ending now is no death)."""
        self._closing.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._watcher is not threading.current_thread():
            self._watcher.join(timeout=5)

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sentinels(pool: ProcessPoolExecutor) -> list[int]:
    """The sentinels of a pool's worker processes (readable once a worker has ended).

    ``_processes`` is private to ``concurrent.futures``, but it is the only handle on
    the workers a pool offers; its shape (pid → Process) has been stable since 3.3.
    """
    processes = getattr(pool, "_processes", None) or {}
    return [p.sentinel for p in list(processes.values())]
