"""The tone of a brand's own reply: ``professioneel``, ``kortaf`` or ``grof``.

Why a model of its own: the seeds of issue 17 are about replies, not complaints —
Sanoma's "Wat wil je nou? De juf uithangen of geholpen worden?" became the story. The
complaint classifier reads customers; this one reads webcare, whose registers differ
(signatures like ``^Jeroen``, DM requests, boilerplate, snark).

It follows the classifier contract of :mod:`classify.base` (scikit-learn style:
parameters in ``__init__``, ``fit`` returns ``self``, learned state in attributes ending
in ``_``, ``predict_proba`` on a batch, no I/O) and lives in the same registry
(``models/tone/<version>/`` with ``card.json``, ``MODEL_CARD.md`` and ``PROMOTED``); its
artefact is numpy arrays only (``tone.npz``, read with ``allow_pickle=False``), so
serving needs no scikit-learn.

Features are TF-IDF over word 1–3-grams, character 3–5-grams inside words and three
shape features (length, greeting, signature); handles, signatures, links and digits are
normalised first, so ``^Jeroen`` and ``@sanne_vd_berg`` say "signed" and "addressed",
not who. The deciding phrases are the word n-grams that pushed the verdict most
(weight for the class minus the mean weight of the others, times the feature value).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import numpy as np

from klachtradar.contract import ModelRef, RawPost, Tone, ToneJudgement
from klachtradar.dutch import THEME_STOPWORDS
from klachtradar.errors import ConfigError

if TYPE_CHECKING:
    from klachtradar.settings import Settings

log = logging.getLogger(__name__)

TONES: tuple[Tone, ...] = (Tone.PROFESSIONEEL, Tone.KORTAF, Tone.GROF)
"""Label order of the artefact's rows."""
BACKEND = "tone_linear"
"""The ``backend`` of a tone model's ``card.json``."""
ARTEFACT = "tone.npz"

_HANDLE = re.compile(r"(?<!\w)\.?@\w+")
_SIGNATURE = re.compile(
    r"(?:\^\s?\w+(?:,[^\n]*)?$|\b(?:gr(?:oet(?:jes|en)?)?\.?|mvg\.?)\s*,?\s*\w*$)"
)
_URL = re.compile(r"https?://\S+")
_TOKEN = re.compile(r"[a-zà-ÿ0-9']+|[!?]+|[\U0001F300-\U0001FAFF]")
_GREETING = re.compile(
    r"^(?:hoi|hi|hey|hee|hallo|dag|beste|geachte|goede(?:morgen|middag|navond))\b"
)


@dataclass(slots=True)
class TonePrediction:
    """Probabilities over :data:`TONES` for one text, and the phrases that decided."""

    proba: dict[Tone, float]
    evidence: list[str]

    @property
    def tone(self) -> Tone:
        return max(self.proba, key=self.proba.__getitem__)


@runtime_checkable
class ToneClassifier(Protocol):
    """What the pipeline needs from a tone backend (cf. :class:`classify.base.TextClassifier`)."""

    @property
    def model_ref(self) -> ModelRef: ...

    def predict_proba(self, texts: Sequence[str]) -> list[TonePrediction]:
        """One :class:`TonePrediction` per text, in order. Never raises on odd text."""
        ...


def normalise(text: str) -> tuple[str, list[str]]:
    """Lower-cased text without who (handles, signatures, links), and its shape features."""
    shape: list[str] = []
    stripped = text.strip()
    if _SIGNATURE.search(stripped):
        shape.append("_signed")
        stripped = _SIGNATURE.sub(" ", stripped)
    body = _URL.sub(" _url ", _HANDLE.sub(" ", stripped)).strip().lower()
    if _GREETING.match(body):
        shape.append("_greeting")
    body = re.sub(r"\d", "0", body)
    return body, shape


def features(text: str) -> Counter[str]:
    """The raw term counts of one reply (before TF-IDF)."""
    body, shape = normalise(text)
    tokens = _TOKEN.findall(body)
    words = [t for t in tokens if t[0].isalnum()]
    counts: Counter[str] = Counter(shape)
    counts["_len:" + ("kort" if len(words) < 7 else "midden" if len(words) < 18 else "lang")] += 1
    for n in (1, 2, 3):
        for i in range(len(tokens) - n + 1):
            counts["w:" + " ".join(tokens[i : i + n])] += 1
    for word in words:
        padded = f"<{word}>"
        for n in (3, 4, 5):
            for i in range(len(padded) - n + 1):
                counts["c:" + padded[i : i + n]] += 1
    return counts


class LinearToneClassifier:
    """TF-IDF + multinomial logistic regression over reply tone.

    >>> clf = LinearToneClassifier(c=3.0).fit(["Stuur een DM.", "Wat fijn, dank je!",
    ...     "Zeur niet zo.", "Zie website.", "Graag gedaan, fijne dag!", "Jammer dan, sukkel."],
    ...     [Tone.KORTAF, Tone.PROFESSIONEEL, Tone.GROF] * 2, min_df=1)
    >>> clf.predict_proba(["Zeur niet, sukkel."])[0].tone
    <Tone.GROF: 'grof'>
    """

    def __init__(
        self, *, c: float = 10.0, name: str = "tone", version: str = "dev", top_reasons: int = 3
    ) -> None:
        self.c = c
        self.name = name
        self.version = version
        self.top_reasons = top_reasons

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def fit(self, texts: Sequence[str], labels: Sequence[Tone], *, min_df: int = 2) -> Self:
        """Learn vocabulary, IDF and weights (scikit-learn is needed here only)."""
        from sklearn.linear_model import LogisticRegression

        rows = [features(t) for t in texts]
        df: Counter[str] = Counter()
        for row in rows:
            df.update(row.keys())
        terms = sorted(t for t, n in df.items() if n >= min_df or t.startswith("_"))
        self.terms_ = terms
        self.index_ = {t: i for i, t in enumerate(terms)}
        total = len(rows)
        self.idf_ = np.array([math.log((1 + total) / (1 + df[t])) + 1 for t in terms])
        matrix = self._matrix(rows)
        model = LogisticRegression(C=self.c, max_iter=5000)
        model.fit(matrix, [TONES.index(label) for label in labels])
        self.coef_ = np.asarray(model.coef_, dtype=np.float64)
        self.intercept_ = np.asarray(model.intercept_, dtype=np.float64)
        return self

    def predict_proba(self, texts: Sequence[str]) -> list[TonePrediction]:
        out = []
        for text in texts:
            vector = self._vector(features(text))
            words = [t for t in _TOKEN.findall(normalise(text)[0]) if t[0].isalnum()]
            logits = vector @ self.coef_.T + self.intercept_
            exp = np.exp(logits - logits.max())
            proba = exp / exp.sum()
            best = int(proba.argmax())
            out.append(
                TonePrediction(
                    proba={tone: float(p) for tone, p in zip(TONES, proba, strict=True)},
                    evidence=self._reasons(vector, best, words),
                )
            )
        return out

    def _matrix(self, rows: Sequence[Counter[str]]) -> Any:
        from scipy.sparse import csr_matrix

        data: list[float] = []
        cols: list[int] = []
        ptr = [0]
        for row in rows:
            vector = self._vector(row)
            nz = np.flatnonzero(vector)
            data.extend(vector[nz])
            cols.extend(nz)
            ptr.append(len(cols))
        return csr_matrix((data, cols, ptr), shape=(len(rows), len(self.terms_)))

    def _vector(self, counts: Counter[str]) -> Any:
        vector = np.zeros(len(self.terms_))
        for term, n in counts.items():
            i = self.index_.get(term)
            if i is not None:
                vector[i] = (1 + math.log(n)) * self.idf_[i]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def _reasons(self, vector: Any, best: int, words: Sequence[str]) -> list[str]:
        """The phrases that pushed most toward the verdict, as a lead would quote them.

        Candidates are the text's word n-grams and its single words (a word's push is
        the sum of its character n-grams': "zeuren" decides even where the bigram
        "komen zeuren" was never seen). Filler-only phrases are skipped; a phrase
        overlapping one already chosen is merged into it.
        """
        others = np.delete(self.coef_, best, axis=0).mean(axis=0)
        push = vector * (self.coef_[best] - others)
        candidates: dict[str, float] = {}
        for i in np.flatnonzero(push > 0):
            term = self.terms_[i]
            if term.startswith("w:") and _telling(term[2:]):
                candidates[term[2:]] = float(push[i])
        for word in set(words):
            padded = f"<{word}>"
            total = sum(
                float(push[j])
                for n in (3, 4, 5)
                for k in range(len(padded) - n + 1)
                if (j := self.index_.get("c:" + padded[k : k + n])) is not None
            )
            if total > 0 and _telling(word):
                candidates[word] = max(candidates.get(word, 0.0), total)
        chosen: list[str] = []
        for phrase in sorted(candidates, key=lambda c: -candidates[c]):
            if len(chosen) >= self.top_reasons:
                break
            chosen = _merge(chosen, phrase)
        return chosen

    def save(self, directory: Path) -> Path:
        """Write the arrays serving needs (no pickle)."""
        path = directory / ARTEFACT
        np.savez_compressed(
            path,
            terms=np.array(self.terms_, dtype=np.str_),
            idf=self.idf_,
            coef=self.coef_,
            intercept=self.intercept_,
            labels=np.array([t.value for t in TONES], dtype=np.str_),
        )
        return path

    @classmethod
    def load(cls, directory: Path, *, name: str, version: str) -> LinearToneClassifier:
        """Read a saved model; refuses an artefact whose labels differ from :data:`TONES`."""
        with np.load(directory / ARTEFACT, allow_pickle=False) as arrays:
            labels = [str(x) for x in arrays["labels"]]
            if labels != [t.value for t in TONES]:
                raise ConfigError(f"{directory}: tone labels {labels} are not {list(TONES)}")
            clf = cls(name=name, version=version)
            clf.terms_ = [str(t) for t in arrays["terms"]]
            clf.index_ = {t: i for i, t in enumerate(clf.terms_)}
            clf.idf_ = np.asarray(arrays["idf"])
            clf.coef_ = np.asarray(arrays["coef"])
            clf.intercept_ = np.asarray(arrays["intercept"])
        return clf


_FILLER = THEME_STOPWORDS | {
    "je",
    "jij",
    "jou",
    "jullie",
    "we",
    "wij",
    "ons",
    "u",
    "te",
    "voor",
    "de",
    "het",
    "een",
    "en",
    "of",
    "op",
    "in",
    "aan",
    "van",
    "is",
    "er",
    "dan",
    "dus",
    "nog",
    "ook",
    "maar",
    "al",
    "hoor",
}


def _telling(phrase: str) -> bool:
    """A phrase a lead can read as a reason: words only, not only filler words."""
    words = phrase.split()
    if not all(w[0].isalnum() for w in words):
        return False
    return any(w not in _FILLER and len(w) > 2 for w in words)


def _merge(chosen: list[str], phrase: str) -> list[str]:
    """Add ``phrase`` unless a chosen one holds it; join phrases that overlap by a word."""
    for number, have in enumerate(chosen):
        if f" {phrase} " in f" {have} ":
            return chosen
        if f" {have} " in f" {phrase} ":
            return [*chosen[:number], phrase, *chosen[number + 1 :]]
        head, tail = have.split(), phrase.split()
        if head[-1] == tail[0]:
            return [*chosen[:number], " ".join(head + tail[1:]), *chosen[number + 1 :]]
        if tail[-1] == head[0]:
            return [*chosen[:number], " ".join(tail + head[1:]), *chosen[number + 1 :]]
    return [*chosen, phrase]


def judgement(prediction: TonePrediction, model: ModelRef) -> ToneJudgement:
    """The contract's tone result for one prediction."""
    return ToneJudgement(
        tone=prediction.tone, proba=prediction.proba, reasons=prediction.evidence, model=model
    )


def judge_tones(replies: Sequence[RawPost], classifier: ToneClassifier) -> dict[str, ToneJudgement]:
    """The tone of each brand reply, by doc id, in one backend call."""
    if not replies:
        return {}
    predictions = classifier.predict_proba([r.text for r in replies])
    model = classifier.model_ref
    return {
        reply.doc_id: judgement(p, model) for reply, p in zip(replies, predictions, strict=True)
    }


def load_tone_classifier(name: str, models_dir: Path) -> ToneClassifier:
    """``NAME`` (its promoted version) or ``NAME@VERSION`` from the model registry."""
    from classify.model_store import ModelStore

    store = ModelStore(models_dir)
    model_name, _, version = name.partition("@")
    model = store.get(model_name, version or None)
    if model.backend != BACKEND:
        raise ConfigError(f"{model.path}: backend {model.backend!r} is not a tone model")
    return LinearToneClassifier.load(model.path, name=model.name, version=model.version)


def configured_tone_classifier(settings: Settings) -> ToneClassifier | None:
    """The tone model ``[replies] tone_model`` names; None when empty or not installed.

    A registry without the model (a test's own ``models_dir``) serves no tone rather
    than refusing to start: replies are still linked and timed, only not judged.
    """
    spec = settings.replies.tone_model
    if not spec:
        return None
    try:
        return load_tone_classifier(spec, settings.resolve(settings.classify.models_dir))
    except ConfigError as exc:
        log.warning("tone model %r not available, brand replies get no tone: %s", spec, exc)
        return None
