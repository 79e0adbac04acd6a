"""The ``linear`` model as plain arrays: everything serving needs, loadable with numpy alone.

Why a second artefact beside ``model.skops``: reading a skops file imports
scikit-learn, and skops' trust check walks every scikit-learn module on import —
which pulls in SciPy's statistics and, through scikit-learn's array-API shim, torch.
That cost a streaming process 4.4 s and several hundred MB before its first post.
Serving needs none of it: the vectorisers' vocabularies and idf weights and the heads'
stacked coefficients are arrays, and :class:`~classify.fast_tfidf.TfidfBlocks` and
:class:`~classify.heads.TaskHeads` already work on those. So :func:`save_arrays` writes
them to ``serving.npz`` (``allow_pickle=False`` on both sides: no code runs on load),
and :meth:`classify.linear.LinearClassifier.load` prefers it. ``model.skops`` stays the
complete, refittable state for training tools.

Vocabularies travel as one UTF-8 blob plus offsets, so a term may hold any character
and 60,000 terms cost their bytes, not 60,000 × the longest term.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from klachtradar.errors import ConfigError

ARRAYS = "serving.npz"
FORMAT = 1
"""Bumped when the layout changes; a loader refuses a format it does not know."""


@dataclass
class FittedTfidf:
    """What :class:`~classify.fast_tfidf.FastTfidf` reads of a fitted vectoriser.

    Shaped like scikit-learn's ``TfidfVectorizer`` attributes, so the fast transform
    takes either; only the settings our ``linear`` backend uses exist here.
    """

    analyzer: str
    ngram_range: tuple[int, int]
    token_pattern: str
    vocabulary_: dict[str, int]
    idf_: NDArray[np.float64]
    sublinear_tf: bool = True
    use_idf: bool = True
    norm: str = "l2"

    @classmethod
    def of(cls, vectorizer: Any) -> FittedTfidf:
        """The serving view of a fitted scikit-learn vectoriser (or of one of these)."""
        low, high = vectorizer.ngram_range
        return cls(
            analyzer=str(vectorizer.analyzer),
            ngram_range=(int(low), int(high)),
            token_pattern=str(vectorizer.token_pattern),
            vocabulary_=dict(vectorizer.vocabulary_),
            idf_=np.asarray(vectorizer.idf_, dtype=np.float64),
            sublinear_tf=bool(vectorizer.sublinear_tf),
            use_idf=bool(vectorizer.use_idf),
            norm=str(vectorizer.norm),
        )

    def terms(self) -> list[str]:
        """The vocabulary as a list: position = column index."""
        terms = [""] * len(self.vocabulary_)
        for term, index in self.vocabulary_.items():
            terms[int(index)] = term
        return terms


@dataclass
class LinearArrays:
    """The serving state of a ``linear`` model (see the module docstring)."""

    word: FittedTfidf
    char: FittedTfidf
    stacked: tuple[NDArray[np.float64], ...]
    """``TaskHeads.stacked()``: task weights, task biases, cue weights, cue biases."""
    temperatures: dict[str, float]
    stack: str
    lexicon_weight: float


def save_arrays(arrays: LinearArrays, path: Path) -> Path:
    """Write ``arrays`` to ``path`` atomically (a reader never sees half a file)."""
    meta = {
        "format": FORMAT,
        "stack": arrays.stack,
        "lexicon_weight": arrays.lexicon_weight,
        "temperatures": arrays.temperatures,
        **{
            f"{name}_{key}": value
            for name, v in _vectorisers(arrays)
            for key, value in _settings(v)
        },
    }
    payload: dict[str, NDArray[Any]] = {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for name, vectoriser in _vectorisers(arrays):
        blob, offsets = _pack(vectoriser.terms())
        payload[f"{name}_terms"] = blob
        payload[f"{name}_offsets"] = offsets
        payload[f"{name}_idf"] = vectoriser.idf_
    for i, part in enumerate(arrays.stacked):
        payload[f"stacked_{i}"] = np.asarray(part, dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            np.savez_compressed(out, allow_pickle=False, **payload)
        Path(tmp).chmod(0o644)  # mkstemp's 0600 would hide the model from other users
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_arrays(path: Path) -> LinearArrays:
    """Read a file written by :func:`save_arrays`; a damaged or foreign file is a
    :class:`~klachtradar.errors.ConfigError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("format") != FORMAT:
                raise ConfigError(f"{path}: unknown serving format {meta.get('format')!r}")
            vectorisers = {
                name: FittedTfidf(
                    analyzer=str(meta[f"{name}_analyzer"]),
                    ngram_range=(
                        int(meta[f"{name}_ngram_range"][0]),
                        int(meta[f"{name}_ngram_range"][1]),
                    ),
                    token_pattern=str(meta[f"{name}_token_pattern"]),
                    vocabulary_=_vocabulary(data[f"{name}_terms"], data[f"{name}_offsets"]),
                    idf_=np.asarray(data[f"{name}_idf"], dtype=np.float64),
                )
                for name in ("word", "char")
            }
            stacked = tuple(np.asarray(data[f"stacked_{i}"]) for i in range(4))
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a readable linear serving file ({exc})") from exc
    return LinearArrays(
        word=vectorisers["word"],
        char=vectorisers["char"],
        stacked=stacked,
        temperatures={k: float(v) for k, v in meta["temperatures"].items()},
        stack=str(meta["stack"]),
        lexicon_weight=float(meta["lexicon_weight"]),
    )


def _vectorisers(arrays: LinearArrays) -> list[tuple[str, FittedTfidf]]:
    return [("word", arrays.word), ("char", arrays.char)]


def _settings(vectoriser: FittedTfidf) -> list[tuple[str, Any]]:
    """The vectoriser settings kept in the metadata; the fast transform checks them."""
    if not (vectoriser.sublinear_tf and vectoriser.use_idf and vectoriser.norm == "l2"):
        raise ValueError("the serving format holds sublinear, idf-weighted, l2-normed TF-IDF only")
    return [
        ("analyzer", vectoriser.analyzer),
        ("ngram_range", list(vectoriser.ngram_range)),
        ("token_pattern", vectoriser.token_pattern),
    ]


def _pack(terms: Sequence[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Terms as one UTF-8 blob and the end offset of each."""
    encoded = [t.encode("utf-8") for t in terms]
    offsets = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _vocabulary(blob: NDArray[np.uint8], offsets: NDArray[np.int64]) -> dict[str, int]:
    if not len(offsets):
        return {}
    raw = bytes(blob)
    starts = [0, *offsets[:-1].tolist()]
    return {
        raw[start:end].decode("utf-8"): i
        for i, (start, end) in enumerate(zip(starts, offsets.tolist(), strict=True))
    }
