"""Dutch sentiment, complaint-intent and escalation-cue classifiers.

Backends share one interface (:class:`classify.base.TextClassifier`); the classify
stage (:func:`classify.stage.classify_batch`) turns raw posts into classified posts.
"""

from classify.base import Prediction, TextClassifier, to_classification
from classify.registry import load_classifier

__all__ = ["Prediction", "TextClassifier", "load_classifier", "to_classification"]
