"""A classifier loaded on first use: for a process whose workers do the classifying.

With judge workers (``process --judges N``) every batch is classified in a worker; the
consumer process needs its own copy of the model only when a worker fails and a batch
is judged in-process. Loading it anyway doubled the memory of a ``process`` serving
the e5 encoder (1.2 GB in the consumer beside 1.7 GB in the worker) and added its
load time to start-up. So the consumer holds a :class:`DeferredClassifier`: it loads
the real one the first time it is asked, logs that it did, and from then on is it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from classify.base import Prediction, TextClassifier
from klachtradar.contract import ModelRef

log = logging.getLogger(__name__)


class DeferredClassifier:
    """Stands for the classifier ``load()`` returns, and calls it only when needed.

    ``model_ref`` is known up front (``name``; version ``"?"`` until loaded) because
    the worker's verdicts carry their own model reference; only an in-process
    prediction needs the real one.
    """

    def __init__(self, load: Callable[[], TextClassifier], *, name: str) -> None:
        self._load = load
        self._name = name
        self._loaded: TextClassifier | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    @property
    def model_ref(self) -> ModelRef:
        if self._loaded is None:
            return ModelRef(name=self._name, version="?")
        return self._loaded.model_ref

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        return self._classifier().predict_proba(texts)

    def _classifier(self) -> TextClassifier:
        with self._lock:
            if self._loaded is None:
                log.warning(
                    "loading the classifier in this process (a batch is judged here, "
                    "not in a worker)",
                    extra={"fields": {"classifier": self._name}},
                )
                self._loaded = self._load()
            return self._loaded
