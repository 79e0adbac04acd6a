"""The classify stage: ``list[RawPost] -> list[ClassifiedPost]``, pure, batched.

Posts in a language the classifier does not support are kept and tagged but not
judged (``classification=None``): a Dutch model's verdict on Turkish text is noise.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from classify.base import Prediction, TextClassifier, to_classification
from klachtradar.contract import ClassifiedPost, Intent, ModelRef, RawPost


def classify_batch(
    posts: Sequence[RawPost],
    classifier: TextClassifier,
    *,
    languages: Collection[str] = ("nl",),
    fallback: bool = False,
) -> list[ClassifiedPost]:
    """Classify the supported-language posts of a batch in one backend call.

    ``fallback``: ``classifier`` is the overload cascade's fast model (:mod:`classify.cascade`).
    """
    predictions = predict_batch(
        [p.text for p in posts], [p.lang for p in posts], classifier, languages=languages
    )
    return assemble(posts, predictions, classifier.model_ref, fallback=fallback)


def predict_batch(
    texts: Sequence[str],
    langs: Sequence[str | None],
    classifier: TextClassifier,
    *,
    languages: Collection[str] = ("nl",),
) -> list[Prediction | None]:
    """Probabilities for the supported-language texts, ``None`` for the others.

    Takes and returns plain data, so it can run in another process (see
    :mod:`klachtradar.runtime.judging`).
    """
    judged = [i for i, lang in enumerate(langs) if lang is None or lang in languages]
    predictions = classifier.predict_proba([texts[i] for i in judged])
    out: list[Prediction | None] = [None] * len(texts)
    for i, prediction in zip(judged, predictions, strict=True):
        out[i] = prediction
    return out


def assemble(
    posts: Sequence[RawPost],
    predictions: Sequence[Prediction | None],
    model: ModelRef,
    *,
    fallback: bool = False,
) -> list[ClassifiedPost]:
    """Classified posts from posts and their predictions (``None``: not judged)."""
    return [
        ClassifiedPost(
            post=post,
            lang=post.lang,
            classification=None
            if prediction is None
            else to_classification(prediction, model, fallback=fallback),
        )
        for post, prediction in zip(posts, predictions, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class Routed:
    """A batch judged by two models (the overload cascade's split, :mod:`classify.cascade`)."""

    predictions: list[Prediction | None]
    fast: tuple[int, ...]
    """Indices of the posts the fast model judged; the primary judged the others."""
    primary_posts: int
    """How many posts the primary judged, in ``seconds``: the cascade's cost model."""
    seconds: float


def predict_routed(
    texts: Sequence[str],
    langs: Sequence[str | None],
    primary: TextClassifier,
    fast: TextClassifier,
    quota: int | None,
    *,
    languages: Collection[str] = ("nl",),
) -> Routed:
    """The primary judges ``quota`` posts of the batch (``None``: all), the fast model
    the rest; plain data in and out, so a judge worker can run it.

    Which posts get the primary: the fast model judges the whole batch first, and the
    primary re-judges the ``quota`` it finds likeliest to be complaints (ties: batch
    order). Those verdicts raise alerts and fill the queue, so they are the ones worth
    the better model's time; a misread neutral post costs nobody an answer.
    """
    if quota is None:
        started = time.perf_counter()
        predictions = predict_batch(texts, langs, primary, languages=languages)
        count = sum(p is not None for p in predictions)
        return Routed(predictions, (), count, time.perf_counter() - started)
    predictions = predict_batch(texts, langs, fast, languages=languages)
    judged = [i for i, p in enumerate(predictions) if p is not None]
    ranked = sorted(judged, key=lambda i: -_complaint(predictions[i]))
    chosen = sorted(ranked[: max(0, quota)])
    seconds = 0.0
    if chosen:
        started = time.perf_counter()
        again = primary.predict_proba([texts[i] for i in chosen])
        seconds = time.perf_counter() - started
        for i, prediction in zip(chosen, again, strict=True):
            predictions[i] = prediction
    taken = set(chosen)
    return Routed(predictions, tuple(i for i in judged if i not in taken), len(chosen), seconds)


def assemble_routed(
    posts: Sequence[RawPost], routed: Routed, primary: ModelRef, fast: ModelRef
) -> list[ClassifiedPost]:
    """Classified posts of a split batch: each verdict names the model that made it, and
    the fast model's are marked ``fallback`` (the card's "snel model")."""
    out = assemble(posts, routed.predictions, primary)
    for i in routed.fast:
        out[i] = assemble([posts[i]], [routed.predictions[i]], fast, fallback=True)[0]
    return out


def _complaint(prediction: Prediction | None) -> float:
    return 0.0 if prediction is None else prediction.intent.get(Intent.KLACHT, 0.0)
