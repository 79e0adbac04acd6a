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
from klachtradar.settings import Settings


@dataclass(frozen=True, slots=True)
class Judgement:
    """A batch's languages and predictions (``None``: language not supported)."""

    langs: list[str]
    predictions: list[Prediction | None]
    model: ModelRef


_WORKER: dict[str, Any] = {}


def _init_worker(settings_json: str) -> None:
    """Build the tagger and the classifier once per worker process."""
    from classify.registry import load_classifier
    from enrich.language import tagger

    settings = Settings.model_validate_json(settings_json)
    _WORKER["settings"] = settings
    _WORKER["tagger"] = tagger(
        settings.enrich.language_backend, settings.enrich.language_candidates
    )
    _WORKER["classifier"] = load_classifier(
        settings.pipeline.classifier,
        models_dir=settings.resolve(settings.classify.models_dir),
        check_seconds=settings.classify.reload_check_seconds,
        int8=settings.classify.transformer_int8,
    )


def _judge(texts: list[str], given: list[str | None]) -> Judgement:
    from classify.stage import predict_batch

    settings: Settings = _WORKER["settings"]
    classifier: TextClassifier = _WORKER["classifier"]
    identify = _WORKER["tagger"]
    langs = [lang or identify(text) or "nl" for text, lang in zip(texts, given, strict=True)]
    predictions = predict_batch(
        texts, langs, classifier, languages=settings.pipeline.supported_languages
    )
    return Judgement(langs, predictions, classifier.model_ref)


class JudgePool:
    """Worker processes that judge batches; build it before timing anything (start-up
    loads the models in every worker)."""

    def __init__(self, settings: Settings, processes: int = 1) -> None:
        context = multiprocessing.get_context("forkserver")
        payload = settings.model_dump_json()
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_init_worker,
            initargs=(payload,),
        )
        self.processes = processes
        for future in [self._pool.submit(_judge, ["ok"], ["nl"]) for _ in range(processes)]:
            future.result()  # wait until every worker has loaded its models

    def submit(self, posts: Sequence[RawPost]) -> Future[Judgement]:
        """Judge a batch in a worker; the future's result feeds ``Pipeline.process``."""
        return self._pool.submit(_judge, [p.text for p in posts], [p.lang for p in posts])

    def close(self) -> None:
        """Stop the workers."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> JudgePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
