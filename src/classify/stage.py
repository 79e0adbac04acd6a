"""The classify stage: ``list[RawPost] -> list[ClassifiedPost]``, pure, batched.

Posts in a language the classifier does not support are kept and tagged but not
judged (``classification=None``): a Dutch model's verdict on Turkish text is noise.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from classify.base import TextClassifier, to_classification
from klachtradar.contract import ClassifiedPost, RawPost


def classify_batch(
    posts: Sequence[RawPost],
    classifier: TextClassifier,
    *,
    languages: Collection[str] = ("nl",),
) -> list[ClassifiedPost]:
    """Classify the supported-language posts of a batch in one backend call."""
    judged = [i for i, p in enumerate(posts) if p.lang is None or p.lang in languages]
    predictions = classifier.predict_proba([posts[i].text for i in judged])
    model = classifier.model_ref
    by_index = dict(zip(judged, predictions, strict=True))
    out: list[ClassifiedPost] = []
    for i, post in enumerate(posts):
        prediction = by_index.get(i)
        out.append(
            ClassifiedPost(
                post=post,
                lang=post.lang,
                classification=None if prediction is None else to_classification(prediction, model),
            )
        )
    return out
