"""Temperature scaling: calibrated probabilities without changing any decision.

A logistic regression trained on 1,200 posts is over- or under-confident; the risk
score and the alert thresholds read the probabilities directly, so they must mean
what they say. One temperature per task, fitted on the dev split by minimising the
negative log-likelihood, rescales the log-probabilities. Dividing all logits by the
same positive number keeps the argmax, so accuracy and F1 are unchanged and only the
confidence moves.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_GRID = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))


def softmax_with_temperature(logits: FloatArray, temperature: float) -> FloatArray:
    """Row-wise softmax of ``logits / temperature``."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return result


def sigmoid_with_temperature(logits: FloatArray, temperature: float) -> FloatArray:
    """Element-wise sigmoid of ``logits / temperature``."""
    result: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(logits / temperature, -50, 50)))
    return result


def fit_temperature(logits: FloatArray, labels: NDArray[np.int_]) -> float:
    """The temperature minimising multiclass NLL of ``labels`` (column indices)."""
    if len(labels) == 0:
        return 1.0
    rows = np.arange(len(labels))
    best_t, best_nll = 1.0, np.inf
    for t in _GRID:
        proba = softmax_with_temperature(logits, float(t))
        nll = -np.log(np.clip(proba[rows, labels], 1e-12, 1.0)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def fit_binary_temperature(logits: FloatArray, labels: NDArray[np.int_]) -> float:
    """The temperature minimising binary NLL, for independent (multi-label) outputs."""
    if len(labels) == 0 or labels.min() == labels.max():
        return 1.0
    best_t, best_nll = 1.0, np.inf
    for t in _GRID:
        p = np.clip(sigmoid_with_temperature(logits, float(t)), 1e-12, 1 - 1e-12)
        nll = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    return best_t


def expected_calibration_error(
    proba: FloatArray, labels: NDArray[np.int_], *, bins: int = 10
) -> float:
    """Top-label ECE: the confidence-weighted gap between confidence and accuracy."""
    if len(labels) == 0:
        return 0.0
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in pairwise(edges):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            ece += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(ece)


def reliability_curve(
    proba: FloatArray, labels: NDArray[np.int_], *, bins: int = 10
) -> list[tuple[float, float, int]]:
    """``(mean confidence, accuracy, count)`` per non-empty bin, for the reliability plot."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    points = []
    for low, high in pairwise(edges):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            points.append(
                (float(confidence[mask].mean()), float(correct[mask].mean()), int(mask.sum()))
            )
    return points
