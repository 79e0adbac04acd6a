"""The consumer process's classifier when workers classify: loaded only if it is needed."""

from __future__ import annotations

import logging

import pytest

from classify.base import TextClassifier
from classify.deferred import DeferredClassifier
from classify.lexicon import LexiconClassifier


def test_nothing_is_loaded_until_a_batch_is_judged_here_then_it_is_the_real_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loads: list[int] = []

    def load() -> TextClassifier:
        loads.append(1)
        return LexiconClassifier()

    deferred = DeferredClassifier(load, name="lexicon")
    assert isinstance(deferred, TextClassifier)
    assert not deferred.loaded and loads == []
    assert deferred.model_ref.name == "lexicon"
    with caplog.at_level(logging.WARNING, logger="classify.deferred"):
        first = deferred.predict_proba(["@KPN al weken geen internet"])
        deferred.predict_proba(["nog een"])
    assert loads == [1], "loaded once"
    assert deferred.model_ref == LexiconClassifier().model_ref
    assert (
        first[0].intent
        == LexiconClassifier().predict_proba(["@KPN al weken geen internet"])[0].intent
    )
    assert [r.getMessage() for r in caplog.records].count(
        "loading the classifier in this process (a batch is judged here, not in a worker)"
    ) == 1
