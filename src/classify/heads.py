"""Calibrated logistic-regression heads over any feature matrix.

The ``linear`` backend (TF-IDF features) and the ``embedding`` backend (sentence
vectors) differ only in how a text becomes a row of numbers; what they learn on top
is the same: one multinomial logistic regression for sentiment, one for intent and
one binary one per escalation cue, each followed by a temperature fitted on dev
(:mod:`classify.calibration`). Everything here is a plain scikit-learn object or a
float, so skops can persist it without pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from classify.base import Prediction
from classify.calibration import (
    FloatArray,
    fit_binary_temperature,
    fit_temperature,
    sigmoid_with_temperature,
    softmax_with_temperature,
)
from classify.corpus import CUES, INTENTS, SENTIMENTS, LabelledPost


@dataclass(frozen=True)
class LabelArrays:
    """Gold labels as arrays: class indices for the two tasks, a 0/1 matrix for cues."""

    sentiment: NDArray[np.int_]
    intent: NDArray[np.int_]
    cues: NDArray[np.int_]

    @classmethod
    def from_records(cls, records: Sequence[LabelledPost]) -> LabelArrays:
        return cls(
            sentiment=np.array([SENTIMENTS.index(r.sentiment) for r in records], dtype=int),
            intent=np.array([INTENTS.index(r.intent) for r in records], dtype=int),
            cues=np.array([[int(c in r.cues) for c in CUES] for r in records], dtype=int).reshape(
                len(records), len(CUES)
            ),
        )


@dataclass
class HeadParams:
    """Regularisation per task (inverse strength ``C``), chosen on dev."""

    c_sentiment: float = 4.0
    c_intent: float = 4.0
    c_cue: float = 2.0
    class_weight: str | None = "balanced"


@dataclass
class TaskHeads:
    """Sentiment, intent and cue heads; learned state ends in ``_``."""

    params: HeadParams = field(default_factory=HeadParams)
    sentiment_: Any = None
    intent_: Any = None
    cues_: list[Any] = field(default_factory=list)
    temperatures_: dict[str, float] = field(default_factory=dict)
    _stack: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = field(
        default=None, repr=False
    )
    _shared: tuple[FloatArray, FloatArray] | None = field(default=None, repr=False)

    def fit(
        self,
        x: Any,
        y: LabelArrays,
        x_dev: Any = None,
        y_dev: LabelArrays | None = None,
        *,
        x_cues: Any = None,
        x_dev_cues: Any = None,
    ) -> TaskHeads:
        """Fit every head on ``x``; fit the temperatures on dev when it is given.

        ``x_cues`` (default ``x``) feeds only the cue heads: rare cues profit from
        hand-written patterns that would only add noise to sentiment and intent.
        """
        p = self.params
        x_cues = x if x_cues is None else x_cues
        self.sentiment_ = _logistic(p.c_sentiment, p.class_weight).fit(x, y.sentiment)
        self.intent_ = _logistic(p.c_intent, p.class_weight).fit(x, y.intent)
        self.cues_ = []
        for j in range(len(CUES)):
            target = y.cues[:, j]
            self.cues_.append(
                _logistic(p.c_cue, "balanced").fit(x_cues, target)
                if target.min() != target.max()
                else None
            )
        self.temperatures_ = {"sentiment": 1.0, "intent": 1.0, "cues": 1.0}
        self._stack = self._shared = None
        if x_dev is not None and y_dev is not None:
            logits = self.logits(x_dev, x_dev_cues)
            self.temperatures_ = {
                "sentiment": fit_temperature(logits["sentiment"], y_dev.sentiment),
                "intent": fit_temperature(logits["intent"], y_dev.intent),
                "cues": fit_binary_temperature(logits["cues"], y_dev.cues),
            }
        return self

    @classmethod
    def from_stacked(
        cls,
        stacked: tuple[FloatArray, ...],
        temperatures: dict[str, float],
        params: HeadParams | None = None,
    ) -> TaskHeads:
        """Heads that predict from :meth:`stacked` arrays alone (no scikit-learn objects:
        they can answer and explain, not be refitted)."""
        main_w, main_b, cue_w, cue_b = stacked
        heads = cls(params=params or HeadParams(), temperatures_=dict(temperatures))
        heads._stack = (main_w, main_b, cue_w, cue_b)
        return heads

    def logits(self, x: Any, x_cues: Any = None) -> dict[str, FloatArray]:
        """Uncalibrated scores per task (class scores, cue log-odds).

        One matrix product per input instead of six scikit-learn calls: the fitted
        coefficients are stacked once (:meth:`stacked`). Softmax of these scores
        equals ``predict_proba`` of the multinomial heads.
        """
        x_cues = x if x_cues is None else x_cues
        main_w, main_b, cue_w, cue_b = self.stacked()
        main = np.asarray(x @ main_w, dtype=float) + main_b
        cues = np.asarray(x_cues @ cue_w, dtype=float) + cue_b
        k = len(SENTIMENTS)
        return {"sentiment": main[:, :k], "intent": main[:, k:], "cues": cues}

    def stacked(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """The fitted coefficients as four arrays: task weights (features × sentiment
        then intent classes), task biases, cue weights (cue features × cues), cue biases.

        All that prediction needs; :meth:`from_stacked` rebuilds heads from it.
        """
        if self._stack is None:
            main_w = np.vstack([self.sentiment_.coef_, self.intent_.coef_]).T
            main_b = np.concatenate([self.sentiment_.intercept_, self.intent_.intercept_])
            n_cue_features = next(
                (h.coef_.shape[1] for h in self.cues_ if h is not None), main_w.shape[0]
            )
            cue_w = np.zeros((n_cue_features, len(CUES)))
            cue_b = np.full(len(CUES), -8.0)  # a cue never seen in training: "no"
            for j, head in enumerate(self.cues_):
                if head is not None:
                    cue_w[:, j] = head.coef_[0]
                    cue_b[j] = head.intercept_[0]
            self._stack = (main_w, main_b, cue_w, cue_b)
        return self._stack

    def logits_shared(self, x: Any) -> dict[str, FloatArray]:
        """:meth:`logits` when one matrix holds the task columns and, after them, the
        cue heads' extra columns: one product with the weights stacked side by side
        (the task heads' rows for the extra columns are zero).
        """
        if self._shared is None:
            main_w, main_b, cue_w, cue_b = self.stacked()
            weights = np.zeros((cue_w.shape[0], main_w.shape[1] + cue_w.shape[1]))
            weights[: main_w.shape[0], : main_w.shape[1]] = main_w
            weights[:, main_w.shape[1] :] = cue_w
            self._shared = (weights, np.concatenate([main_b, cue_b]))
        weights, bias = self._shared
        scores = np.asarray(x @ weights, dtype=float) + bias
        k, m = len(SENTIMENTS), len(SENTIMENTS) + len(INTENTS)
        return {"sentiment": scores[:, :k], "intent": scores[:, k:m], "cues": scores[:, m:]}

    def proba(self, x: Any, x_cues: Any = None, *, shared: bool = False) -> dict[str, FloatArray]:
        """Calibrated probabilities per task (``shared``: see :meth:`logits_shared`)."""
        logits = self.logits_shared(x) if shared else self.logits(x, x_cues)
        t = self.temperatures_
        return {
            "sentiment": softmax_with_temperature(logits["sentiment"], t.get("sentiment", 1.0)),
            "intent": softmax_with_temperature(logits["intent"], t.get("intent", 1.0)),
            "cues": sigmoid_with_temperature(logits["cues"], t.get("cues", 1.0)),
        }


Features = Callable[[Sequence[str]], tuple[Any, Any, list[list[str]]]]
"""A backend's feature function: texts → (task rows, cue rows, evidence per text)."""


def fit_task_heads(
    params: HeadParams,
    features: Features,
    records: Sequence[LabelledPost],
    dev: Sequence[LabelledPost] = (),
) -> TaskHeads:
    """Fit the three heads on a backend's features; dev (if any) calibrates them.

    Every learned backend trains its heads the same way; only ``features`` differs.
    """
    x, x_cues, _ = features([r.text for r in records])
    heads = TaskHeads(params=params)
    if dev:
        x_dev, x_dev_cues, _ = features([r.text for r in dev])
        heads.fit(
            x,
            LabelArrays.from_records(records),
            x_dev,
            LabelArrays.from_records(dev),
            x_cues=x_cues,
            x_dev_cues=x_dev_cues,
        )
    else:
        heads.fit(x, LabelArrays.from_records(records), x_cues=x_cues)
    return heads


def _logistic(c: float, class_weight: str | None) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight=class_weight, max_iter=2000)


def to_predictions(
    proba: dict[str, FloatArray], evidence: Sequence[list[str]] | None = None
) -> list[Prediction]:
    """Rows of task probabilities → one :class:`Prediction` per text."""
    sentiment = proba["sentiment"].tolist()
    intent = proba["intent"].tolist()
    cues = proba["cues"].tolist()
    evidence = evidence if evidence is not None else [[] for _ in sentiment]
    # Row lengths are the label counts by construction (the heads' output columns).
    return [
        Prediction(
            dict(zip(SENTIMENTS, s)),  # noqa: B905
            dict(zip(INTENTS, i)),  # noqa: B905
            dict(zip(CUES, c)),  # noqa: B905
            list(e),
        )
        for s, i, c, e in zip(sentiment, intent, cues, evidence, strict=True)
    ]
