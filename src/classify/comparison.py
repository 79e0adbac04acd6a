"""Two models on the same posts: deltas with confidence, a paired test, the flipped posts.

On 252 test posts a difference of 0.02 F1 can be noise. So ``evaluate --compare``
pairs the two models post by post and reports, per headline metric, the difference
(second − first) with a 95 % interval from a paired bootstrap (the same resampled
posts scored for both), McNemar's exact test on the complaint verdicts (only the posts
where exactly one model is right count), and the posts whose complaint verdict flipped,
both ways — the ones a data scientist should read before promoting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from classify.corpus import INTENTS
from classify.evaluation import EvaluationReport, PostVerdict
from klachtradar.contract import Intent

KLACHT = INTENTS.index(Intent.KLACHT)
METRICS: tuple[tuple[str, str], ...] = (
    ("complaint_f1", "complaint F1 (klacht vs rest)"),
    ("sentiment_macro_f1", "sentiment macro-F1"),
    ("intent_macro_f1", "intent macro-F1"),
)


@dataclass(frozen=True)
class Delta:
    """A metric's difference (second − first) and its paired-bootstrap 95 % interval."""

    metric: str
    title: str
    first: float
    second: float
    low: float
    high: float

    @property
    def difference(self) -> float:
        return self.second - self.first


@dataclass(frozen=True)
class Comparison:
    """What ``evaluate --compare`` adds to the two reports."""

    first: str
    second: str
    deltas: list[Delta]
    only_first_right: int
    only_second_right: int
    mcnemar_p: float
    became_complaint: list[PostVerdict]
    stopped_being_complaint: list[PostVerdict]

    def as_dict(self) -> dict[str, object]:
        return {
            "first": self.first,
            "second": self.second,
            "deltas": [
                {
                    "metric": d.metric,
                    "first": d.first,
                    "second": d.second,
                    "difference": d.difference,
                    "ci95": [d.low, d.high],
                }
                for d in self.deltas
            ],
            "complaint_mcnemar": {
                "only_first_right": self.only_first_right,
                "only_second_right": self.only_second_right,
                "p_value": self.mcnemar_p,
            },
            "flipped": {
                "became_complaint": [p.id for p in self.became_complaint],
                "stopped_being_complaint": [p.id for p in self.stopped_being_complaint],
            },
        }


def compare(
    first: EvaluationReport, second: EvaluationReport, *, resamples: int = 1000, seed: int = 7
) -> Comparison:
    """Pair ``first`` and ``second`` (scored on the same posts, in the same order)."""
    if [p.id for p in first.posts] != [p.id for p in second.posts]:
        raise ValueError("the two reports were not scored on the same posts")
    a, b = _arrays(first.posts), _arrays(second.posts)
    rng = np.random.default_rng(seed)
    n = len(first.posts)
    samples = [rng.integers(0, n, n) for _ in range(resamples)] if n else []
    deltas = []
    for key, title in METRICS:
        score = SCORES[key]
        diffs = [score(b, idx) - score(a, idx) for idx in samples]
        low, high = np.percentile(diffs, [2.5, 97.5]) if diffs else (0.0, 0.0)
        everything = np.arange(n)
        deltas.append(Delta(key, title, score(a, everything), score(b, everything),
                            float(low), float(high)))  # fmt: skip
    right_a = (a["intent_pred"] == KLACHT) == (a["intent_gold"] == KLACHT)
    right_b = (b["intent_pred"] == KLACHT) == (b["intent_gold"] == KLACHT)
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    was = a["intent_pred"] == KLACHT
    now = b["intent_pred"] == KLACHT
    return Comparison(
        first=first.model,
        second=second.model,
        deltas=deltas,
        only_first_right=only_a,
        only_second_right=only_b,
        mcnemar_p=mcnemar_exact(only_a, only_b),
        became_complaint=[p for p, w, x in zip(second.posts, was, now, strict=True) if x and not w],
        stopped_being_complaint=[
            p for p, w, x in zip(second.posts, was, now, strict=True) if w and not x
        ],
    )


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of ``b`` against ``b + c`` at ½."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def _arrays(posts: Sequence[PostVerdict]) -> dict[str, NDArray[np.int_]]:
    return {
        name: np.array([getattr(p, name) for p in posts], dtype=int)
        for name in ("sentiment_gold", "sentiment_pred", "intent_gold", "intent_pred")
    }


def _binary_f1(gold: NDArray[np.bool_], pred: NDArray[np.bool_]) -> float:
    tp = float(np.sum(gold & pred))
    denominator = float(np.sum(gold) + np.sum(pred))
    return 2 * tp / denominator if denominator else 0.0


def _macro_f1(gold: NDArray[np.int_], pred: NDArray[np.int_]) -> float:
    present = np.union1d(gold, pred)
    if not len(present):
        return 0.0
    return float(np.mean([_binary_f1(gold == c, pred == c) for c in present]))


def _complaint(x: dict[str, NDArray[np.int_]], idx: NDArray[np.int_]) -> float:
    return _binary_f1(x["intent_gold"][idx] == KLACHT, x["intent_pred"][idx] == KLACHT)


def _sentiment(x: dict[str, NDArray[np.int_]], idx: NDArray[np.int_]) -> float:
    return _macro_f1(x["sentiment_gold"][idx], x["sentiment_pred"][idx])


def _intent(x: dict[str, NDArray[np.int_]], idx: NDArray[np.int_]) -> float:
    return _macro_f1(x["intent_gold"][idx], x["intent_pred"][idx])


SCORES: dict[str, Callable[[dict[str, NDArray[np.int_]], NDArray[np.int_]], float]] = {
    "complaint_f1": _complaint,
    "sentiment_macro_f1": _sentiment,
    "intent_macro_f1": _intent,
}
