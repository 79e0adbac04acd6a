"""A classifier that follows the registry's promotion pointer, between batches.

``klachtradar models promote NAME VERSION`` rewrites ``models/NAME/PROMOTED``. The
running pipeline holds a :class:`PromotedClassifier`; before each batch it looks at
the pointer (one ``stat`` and a tiny read, at most every ``check_seconds``) and, when
the version changed, loads the new one and swaps it in. A batch is always judged by
one model, and every result names the model that judged it. If the new version
cannot be loaded, the old one keeps serving and the failure is logged: a bad
promotion must never stop the stream. A swap logs exactly one INFO line,
``hot swap: linear@v1 → linear@v2``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from classify.base import Prediction, TextClassifier
from classify.model_store import ModelStore, load_version
from klachtradar.contract import ModelRef

log = logging.getLogger(__name__)


class PromotedClassifier:
    """The promoted version of one named model, swapped when the pointer moves."""

    def __init__(
        self, store: ModelStore, name: str, *, check_seconds: float = 1.0, precision: str = "fp32"
    ) -> None:
        self.store = store
        self.name = name
        self.check_seconds = check_seconds
        self.precision = precision
        self._stamp = store.pointer_stamp(name)
        self._current: TextClassifier = load_version(store.get(name), precision=precision)
        self._checked_at = time.monotonic()

    @property
    def model_ref(self) -> ModelRef:
        return self._current.model_ref

    @property
    def current(self) -> TextClassifier:
        """The backend serving right now."""
        return self._current

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        self.refresh()
        return self._current.predict_proba(texts)

    def refresh(self, *, force: bool = False) -> bool:
        """Swap in a newly promoted version; True when a swap happened."""
        now = time.monotonic()
        if not force and now - self._checked_at < self.check_seconds:
            return False
        self._checked_at = now
        stamp = self.store.pointer_stamp(self.name)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            model = load_version(self.store.get(self.name), precision=self.precision)
        except Exception as exc:  # keep serving the old model, say why
            log.error(
                "model %s: promoted version not loaded, keeping %s: %s",
                self.name,
                self._current.model_ref.version,
                exc,
            )
            return False
        old = self._current.model_ref
        log.info(  # the one line an operator greps for: which model, from what to what
            "hot swap: %s@%s → %s@%s",
            old.name,
            old.version,
            model.model_ref.name,
            model.model_ref.version,
            extra={
                "fields": {"model": self.name, "old": old.version, "new": model.model_ref.version}
            },
        )
        self._current = model
        return True
