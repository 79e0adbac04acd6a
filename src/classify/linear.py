"""The ``linear`` backend: TF-IDF word and character n-grams + logistic regression.

Why this shape: on 1,200 hand-labelled posts a linear model over sparse n-grams is
as accurate as anything bigger and answers tens of thousands of posts a second.
Character n-grams (inside word boundaries) carry Dutch spelling variation and
compounds ("internetstoring", "klantenservice"); word uni- and bigrams carry
"niet goed", "al weken". The escalation-cue heads also see the lexicon's cue and
sarcasm patterns as extra columns: churn or media threats occur some thirty times in
the corpus, too rarely to learn from n-grams alone. (Stacking the whole lexicon onto
sentiment and intent was tried and cost 0.01-0.02 macro-F1 in cross-validation.)

Persistence, never pickle: :meth:`LinearClassifier.save` writes ``model.skops``
(the complete scikit-learn state, for refitting and inspection; loading refuses any
type outside an explicit allow-list) and ``serving.npz`` (the arrays serving needs,
read with numpy alone: see :mod:`classify.linear_arrays`). :meth:`LinearClassifier.load`
prefers the arrays, so a streaming process starts without importing scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classify.augment import with_plain_copies
from classify.base import Prediction
from classify.corpus import INTENTS, SENTIMENTS, LabelledPost
from classify.fast_tfidf import TfidfBlocks
from classify.heads import HeadParams, TaskHeads, fit_task_heads, to_predictions
from classify.lexicon import RULE_FEATURES, LexiconClassifier, rule_features
from classify.linear_arrays import ARRAYS, FittedTfidf, LinearArrays, load_arrays, save_arrays
from classify.model_files import load_skops, save_skops
from classify.text_normalise import normalise
from klachtradar.contract import ModelRef

ARTEFACT = "model.skops"


@dataclass
class LinearParams:
    """Feature and regularisation choices; recorded in the model card."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 4)
    min_df: int = 2
    max_features: int = 60_000
    stack: str = "lexicon"
    """``lexicon``: the lexicon backend's sentiment and intent probabilities join the
    n-grams of every head, and its cue and sarcasm patterns those of the cue heads;
    ``rules``: only the patterns, for the cue heads; ``none``: n-grams only.

    Why ``lexicon`` is the default: n-grams learned from our corpus alone are near
    chance on real Dutch text (real tweets sentiment macro-F1 0.36, bol.com reviews
    0.60 accuracy); the lexicon's polarity words carry over (0.50 / 0.82 with them)."""
    lexicon_weight: float = 1.0
    augment_plain: bool = True
    """Also train on a plain-text copy of every post (see :mod:`classify.augment`)."""
    heads: HeadParams = field(default_factory=HeadParams)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LinearClassifier:
    """TF-IDF + calibrated logistic regression; see the module docstring.

    >>> clf = LinearClassifier().fit(records, dev=dev_records)  # doctest: +SKIP
    >>> clf.predict_proba(["@KPN al 3 dagen geen internet"])[0].intent  # doctest: +SKIP
    """

    backend = "linear"

    def __init__(
        self, params: LinearParams | None = None, *, name: str = "linear", version: str = "0"
    ) -> None:
        self.params = params or LinearParams()
        self.name = name
        self.version = version
        self.word_: Any = None
        self.char_: Any = None
        self.heads_: TaskHeads | None = None
        self._fast: TfidfBlocks | None = None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    # -- learning ------------------------------------------------------------------------

    def fit(
        self, records: Sequence[LabelledPost], *, dev: Sequence[LabelledPost] = ()
    ) -> LinearClassifier:
        """Fit vectorisers and heads on ``records``; calibrate on ``dev`` if given."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        if p.augment_plain:
            records = with_plain_copies(records)
        texts = [normalise(r.text) for r in records]
        self.word_ = TfidfVectorizer(
            analyzer="word",
            ngram_range=p.word_ngrams,
            token_pattern=r"(?u)[@#]?\b\w+\b|[!?]|[^\w\s]",
            min_df=1,
            sublinear_tf=True,
            max_features=p.max_features,
            lowercase=False,
        ).fit(texts)
        self.char_ = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=p.char_ngrams,
            min_df=p.min_df,
            sublinear_tf=True,
            max_features=p.max_features,
            lowercase=False,
        ).fit(texts)
        # The pruned-term sets are only for introspection and would make the artefact
        # ten times bigger (every rare character n-gram); scikit-learn allows dropping them.
        self.word_.stop_words_ = None
        self.char_.stop_words_ = None
        self._fast = None
        self.heads_ = fit_task_heads(p.heads, self._features, records, dev)
        return self

    # -- answering -----------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        if self.heads_ is None:
            raise RuntimeError("LinearClassifier is not fitted")
        x, evidence = self._rows(texts)
        return to_predictions(self.heads_.proba(x, shared=True), evidence)

    def _features(self, texts: Sequence[str]) -> tuple[Any, Any, list[list[str]]]:
        """Rows for sentiment and intent (n-grams, lexicon probabilities if stacked);
        the cue heads also see the rule columns."""
        x, evidence = self._rows(texts)
        if self.params.stack == "none":
            return x, x, evidence
        assert self._fast is not None
        return x[:, : self._task_width()], x, evidence

    def _task_width(self) -> int:
        """Columns the sentiment and intent heads read: a prefix of :meth:`_rows`."""
        assert self._fast is not None
        lexicon = len(LEXICON_FEATURES) if self.params.stack == "lexicon" else 0
        return self._fast.terms + lexicon

    def _rows(self, texts: Sequence[str]) -> tuple[Any, list[list[str]]]:
        """One matrix: word n-grams, character n-grams, then (as stacked) the lexicon's
        probabilities and the rule columns."""
        stack = self.params.stack
        if self._fast is None:
            extra = {"none": 0, "rules": len(RULE_FEATURES)}.get(
                stack, len(LEXICON_FEATURES) + len(RULE_FEATURES)
            )
            self._fast = TfidfBlocks([self.word_, self.char_], extra_columns=extra)
        clean = [normalise(t) for t in texts]
        if stack == "none":
            return self._fast.transform(clean), [[] for _ in texts]
        rows = [rule_features(t) for t in texts]
        names = RULE_FEATURES
        evidence = [[n for n, v in zip(names, row) if v] if any(row) else [] for row in rows]  # noqa: B905
        if stack == "lexicon":
            judged = _LEXICON.predict_proba(texts)
            rows = [[*lexicon_row(j), *row] for j, row in zip(judged, rows, strict=True)]
            evidence = [[*e, *j.evidence[:6]] for e, j in zip(evidence, judged, strict=True)]
        x = self._fast.transform(clean, rows, extra_weight=self.params.lexicon_weight)
        return x, evidence

    def explain(self, text: str, *, top: int = 6) -> list[str]:
        """The n-grams that pushed this text most toward its predicted labels.

        For each task, the features with the largest ``tf-idf × (weight of the predicted
        class − mean weight of the others)``, as ``"klacht: al 0 dagen"``. Slower than
        :meth:`predict_proba` (per text, not batched): for ``classify --explain`` and
        error analysis, not for the stream.
        """
        if self.heads_ is None:
            raise RuntimeError("LinearClassifier is not fitted")
        x, _, evidence = self._features([text])
        names = _terms(self.word_) + [f"~{t}" for t in _terms(self.char_)]
        names += list(LEXICON_FEATURES) if self.params.stack == "lexicon" else []
        row = x.tocsr()
        main_w = self.heads_.stacked()[0]
        k = len(SENTIMENTS)
        out: list[str] = []
        for task_labels, coef in ((INTENTS, main_w[:, k:].T), (SENTIMENTS, main_w[:, :k].T)):
            scores = row @ coef.T
            predicted = int(np.argmax(scores))
            contrast = coef[predicted] - np.delete(coef, predicted, axis=0).mean(axis=0)
            contributions = row.data * contrast[row.indices]
            for j in np.argsort(-contributions)[:top]:
                if contributions[j] > 0:
                    out.append(f"{task_labels[predicted].value}: {names[row.indices[j]]}")
        return out + evidence[0]

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """Write ``model.skops`` and ``serving.npz`` into ``directory``; returns the first."""
        if self.heads_ is None:
            raise RuntimeError("LinearClassifier is not fitted")
        heads = self.heads_
        state = {
            # Vocabularies travel as term lists: as dicts, skops would write one file per
            # numpy integer (30,000 of them, 25 MB); a list of strings is compact.
            "word": _without_vocabulary(self.word_),
            "char": _without_vocabulary(self.char_),
            "word_terms": _terms(self.word_),
            "char_terms": _terms(self.char_),
            "sentiment": heads.sentiment_,
            "intent": heads.intent_,
            "cues": list(heads.cues_),
            "temperatures": dict(heads.temperatures_),
            "stack": self.params.stack,
            "lexicon_weight": self.params.lexicon_weight,
        }
        save_arrays(self.serving_arrays(), directory / ARRAYS)
        return save_skops(state, directory / ARTEFACT)

    def serving_arrays(self) -> LinearArrays:
        """What serving needs of this fitted model (see :mod:`classify.linear_arrays`)."""
        if self.heads_ is None:
            raise RuntimeError("LinearClassifier is not fitted")
        return LinearArrays(
            word=FittedTfidf.of(self.word_),
            char=FittedTfidf.of(self.char_),
            stacked=self.heads_.stacked(),
            temperatures=dict(self.heads_.temperatures_),
            stack=self.params.stack,
            lexicon_weight=self.params.lexicon_weight,
        )

    @classmethod
    def load(cls, directory: Path, *, name: str, version: str) -> LinearClassifier:
        """Read a model written by :meth:`save`: ``serving.npz`` when present (numpy
        only, fast), else ``model.skops`` (allow-listed types only)."""
        if (directory / ARRAYS).is_file():
            return cls.from_arrays(load_arrays(directory / ARRAYS), name=name, version=version)
        return cls.load_full(directory, name=name, version=version)

    @classmethod
    def from_arrays(cls, arrays: LinearArrays, *, name: str, version: str) -> LinearClassifier:
        """A model that predicts and explains from its serving arrays (it cannot be
        refitted: refit from the corpus, or :meth:`load_full` the skops state)."""
        params = LinearParams(stack=arrays.stack, lexicon_weight=arrays.lexicon_weight)
        model = cls(params, name=name, version=version)
        model.word_, model.char_ = arrays.word, arrays.char
        model.heads_ = TaskHeads.from_stacked(arrays.stacked, arrays.temperatures, params.heads)
        return model

    @classmethod
    def load_full(cls, directory: Path, *, name: str, version: str) -> LinearClassifier:
        """Read the complete scikit-learn state from ``model.skops``."""
        state = load_skops(directory / ARTEFACT)
        params = LinearParams(
            stack=str(state["stack"]),
            lexicon_weight=float(state["lexicon_weight"]),
        )
        model = cls(params, name=name, version=version)
        model.word_ = _with_vocabulary(state["word"], state["word_terms"])
        model.char_ = _with_vocabulary(state["char"], state["char_terms"])
        heads = TaskHeads(params=params.heads)
        heads.sentiment_, heads.intent_ = state["sentiment"], state["intent"]
        heads.cues_ = list(state["cues"])
        heads.temperatures_ = {k: float(v) for k, v in state["temperatures"].items()}
        model.heads_ = heads
        return model


_LEXICON = LexiconClassifier()

LEXICON_FEATURES: tuple[str, ...] = (
    *(f"lexicon:{s.value}" for s in SENTIMENTS),
    *(f"lexicon:{i.value}" for i in INTENTS),
)
"""The lexicon's probabilities as columns (``stack = "lexicon"``), in this order."""


def lexicon_row(prediction: Prediction) -> list[float]:
    """A lexicon prediction as the :data:`LEXICON_FEATURES` columns."""
    return [
        *(prediction.sentiment[s] for s in SENTIMENTS),
        *(prediction.intent[i] for i in INTENTS),
    ]


def _terms(vectorizer: Any) -> list[str]:
    """The vocabulary as a list: position = column index."""
    terms = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        terms[int(index)] = term
    return terms


def _without_vocabulary(vectorizer: Any) -> Any:
    import copy

    clone = copy.copy(vectorizer)
    clone.vocabulary_ = {}
    return clone


def _with_vocabulary(vectorizer: Any, terms: list[str]) -> Any:
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
    return vectorizer
