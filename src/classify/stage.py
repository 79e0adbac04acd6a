"""The classify stage: ``list[RawPost] -> list[ClassifiedPost]``, pure, batched.

Posts in a language the classifier does not support are kept and tagged but not
judged (``classification=None``): a Dutch model's verdict on Turkish text is noise.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from classify.base import Prediction, TextClassifier, to_classification
from klachtradar.contract import ClassifiedPost, ModelRef, RawPost


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
