"""The interface every classifier backend follows, scikit-learn style.

A backend is configured in ``__init__``, learns in ``fit`` (if it learns at all) and
answers ``predict_proba`` on a *batch* of texts; it does no I/O. The pipeline only
sees this interface, so the runner never knows which backend runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from klachtradar.contract import Classification, Cue, Intent, ModelRef, Sentiment

CUE_THRESHOLD = 0.5
"""A cue is reported when its probability reaches this."""

_CUES = tuple(Cue)
"""Iterating an Enum class is slow (a generator over its members): once, not per post."""


@dataclass(slots=True)
class Prediction:
    """Per-task probabilities for one text, plus the evidence that decided.

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``,
    which costs the ``linear`` backend half a microsecond on every post.
    """

    sentiment: dict[Sentiment, float]
    intent: dict[Intent, float]
    cues: dict[Cue, float]
    evidence: list[str] = field(default_factory=list)


@runtime_checkable
class TextClassifier(Protocol):
    """What the classify stage needs from a backend."""

    @property
    def model_ref(self) -> ModelRef:
        """Name and version, stamped on every result."""
        ...

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        """One :class:`Prediction` per text, in order. Never raises on odd text."""
        ...


def to_classification(
    prediction: Prediction, model: ModelRef, *, fallback: bool = False
) -> Classification:
    """Turn probabilities into the contract's labelled result (argmax, cue threshold).

    ``fallback``: the verdict came from the overload cascade's fast model.
    """
    sentiment = max(prediction.sentiment, key=prediction.sentiment.__getitem__)
    intent = max(prediction.intent, key=prediction.intent.__getitem__)
    cues = [cue for cue in _CUES if prediction.cues.get(cue, 0.0) >= CUE_THRESHOLD]
    return Classification(
        sentiment=sentiment,
        sentiment_proba=prediction.sentiment,
        intent=intent,
        intent_proba=prediction.intent,
        cues=cues,
        cue_proba=prediction.cues,
        model=model,
        evidence=prediction.evidence,
        fallback=fallback,
    )
