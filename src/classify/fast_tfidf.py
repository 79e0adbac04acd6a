"""A fast ``transform`` for fitted scikit-learn TF-IDF vectorisers.

scikit-learn analyses every document from scratch in Python: for character n-grams
that is a few hundred string slices per post, about 8,000 posts a second here, far
from the 20,000 the pipeline needs. Social posts reuse the same words all the time,
so this module caches, per distinct word, the vocabulary indices of its
word-bounded character n-grams (``char_wb``), and looks word uni- and bigrams up in
the vocabulary directly. The result equals ``vectorizer.transform`` (a unit test
holds it to that); the fitted vectorisers stay the persisted, skops-safe source of
truth and this class is rebuilt from them on load.

Only what our ``linear`` backend uses is supported: ``sublinear_tf=True``,
``norm="l2"``, ``use_idf=True``, no lower-casing or preprocessing inside the
vectoriser (texts arrive normalised), ``char_wb`` or a ``token_pattern`` word analyser.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

_CACHE_LIMIT = 200_000
"""Distinct words remembered before the cache starts over (bounded memory)."""


class FastTfidf:
    """Equivalent of ``vectorizer.transform`` for a fitted word or char_wb vectoriser."""

    def __init__(self, vectorizer: Any) -> None:
        if not (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"):
            raise ValueError("FastTfidf needs sublinear_tf, use_idf and l2 norm")
        self.analyzer: str = vectorizer.analyzer
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.min_n, self.max_n = vectorizer.ngram_range
        self.token_pattern = re.compile(vectorizer.token_pattern)
        self._cache: dict[str, Any] = {}

    def transform(self, docs: Sequence[str]) -> Any:
        """A CSR matrix, one l2-normalised TF-IDF row per document."""
        from scipy.sparse import csr_matrix
        from sklearn.preprocessing import normalize

        if self.analyzer == "char_wb":
            indices, lengths = self._char_indices(docs)
        else:
            indices, lengths = self._word_indices(docs)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        matrix = csr_matrix(
            (np.ones(len(indices), dtype=np.float64), indices, indptr),
            shape=(len(docs), len(self.vocabulary)),
        )
        matrix.sum_duplicates()
        matrix.data = (np.log(matrix.data) + 1.0) * self.idf[matrix.indices]
        normalize(matrix, norm="l2", copy=False)
        return matrix

    def _char_indices(self, docs: Sequence[str]) -> tuple[Any, list[int]]:
        """Concatenated vocabulary indices of every document, and each document's count."""
        cache = self._cache
        parts: list[Any] = []
        lengths: list[int] = []
        for doc in docs:
            total = 0
            for word in doc.split():
                found = cache.get(word)
                if found is None:
                    found = np.asarray(self._char_ngrams(word), dtype=np.int32)
                    if len(cache) >= _CACHE_LIMIT:
                        cache.clear()
                    cache[word] = found
                parts.append(found)
                total += len(found)
            lengths.append(total)
        indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        return indices, lengths

    def _char_ngrams(self, word: str) -> list[int]:
        """scikit-learn's ``_char_wb_ngrams`` for one word, mapped to vocabulary indices."""
        vocab = self.vocabulary
        padded = f" {word} "
        length = len(padded)
        found: list[int] = []
        for n in range(self.min_n, self.max_n + 1):
            offset = 0
            index = vocab.get(padded[offset : offset + n])
            if index is not None:
                found.append(index)
            while offset + n < length:
                offset += 1
                index = vocab.get(padded[offset : offset + n])
                if index is not None:
                    found.append(index)
            if offset == 0:  # a word shorter than n counts once
                break
        return found

    def _word_indices(self, docs: Sequence[str]) -> tuple[Any, list[int]]:
        vocab = self.vocabulary
        out: list[int] = []
        lengths: list[int] = []
        for doc in docs:
            before = len(out)
            tokens = self.token_pattern.findall(doc)
            for n in range(self.min_n, self.max_n + 1):
                if n == 1:
                    grams = tokens
                else:
                    grams = [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
                for gram in grams:
                    index = vocab.get(gram)
                    if index is not None:
                        out.append(index)
            lengths.append(len(out) - before)
        return np.asarray(out, dtype=np.int32), lengths
