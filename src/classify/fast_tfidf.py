"""A fast ``transform`` for fitted scikit-learn TF-IDF vectorisers.

scikit-learn analyses every document from scratch in Python: for character n-grams
that is a few hundred string slices per post, about 8,000 posts a second here, far
from the 20,000 the pipeline needs. Social posts reuse the same words all the time,
so this module works per whitespace-separated chunk and caches, per distinct chunk,
the vocabulary indices of its word-bounded character n-grams (``char_wb``) or its
word tokens as ids; word uni- and bigrams are then found in numpy (a gather and a
binary search). :class:`TfidfBlocks` builds the word block, the character block and
the lexicon's rule columns as one matrix with one sort per batch. The result equals
``vectorizer.transform`` (unit tests hold it to that on every corpus post); the
fitted vectorisers stay the persisted, skops-safe source of truth and these classes
are rebuilt from them on load.

Only what our ``linear`` backend uses is supported: ``sublinear_tf=True``,
``norm="l2"``, ``use_idf=True``, no lower-casing or preprocessing inside the
vectoriser (texts arrive normalised), ``char_wb`` or a ``token_pattern`` word analyser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np

_EQUIVALENT_TOKEN_PATTERNS = {r"(?u)[@#]?\b\w+\b|[!?]|[^\w\s]": r"\w+|[@#]\w+|[^\w\s]"}
r"""Token patterns with a faster pattern that finds the same tokens. In the ``linear``
backend's pattern, the word boundaries always hold where a search can stand (after a
whole word or a single symbol) and ``[!?]`` is part of ``[^\w\s]``; a unit test checks
the two on every corpus post."""

_CACHE_LIMIT = 200_000
"""Distinct words remembered before the cache starts over (bounded memory)."""


def split_chunks(docs: Sequence[str]) -> tuple[list[str], Any]:
    """Every document's whitespace-separated chunks, concatenated, and each one's row.

    Both analysers work chunk by chunk: ``char_wb`` n-grams never cross whitespace, and
    no word token contains any, so a chunk's terms do not depend on its neighbours and
    can be cached per distinct chunk.
    """
    chunks: list[str] = []
    per_doc: list[int] = []
    for doc in docs:
        found = doc.split()
        chunks += found
        per_doc.append(len(found))
    return chunks, np.repeat(np.arange(len(docs), dtype=np.int64), per_doc)


class FastTfidf:
    """Equivalent of ``vectorizer.transform`` for a fitted word or char_wb vectoriser."""

    def __init__(self, vectorizer: Any) -> None:
        if not (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"):
            raise ValueError("FastTfidf needs sublinear_tf, use_idf and l2 norm")
        self.analyzer: str = vectorizer.analyzer
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.min_n, self.max_n = vectorizer.ngram_range
        pattern = vectorizer.token_pattern
        self.token_pattern = re.compile(_EQUIVALENT_TOKEN_PATTERNS.get(pattern, pattern))
        self._cache: dict[str, Any] = {}
        self._by_id = self.analyzer != "char_wb" and self.max_n <= 2
        if self._by_id:
            self._index_terms_by_token_id()
        self._analyse: Callable[[str], Any] = (
            self._char_ngrams
            if self.analyzer == "char_wb"
            else self._token_id_array
            if self._by_id
            else self._tokens
        )
        """What a chunk is cached as: n-gram indices, token ids, or tokens."""

    def _index_terms_by_token_id(self) -> None:
        """Word uni- and bigrams as arrays over token ids, looked up in numpy.

        Every token of a vocabulary term gets an id; a chunk is cached as its tokens'
        ids (-1: in no term). A unigram's column is then ``unigram_of[id]`` and a
        bigram's is found by binary search of ``first_id * n_ids + second_id`` in the
        sorted bigram keys: no string is hashed per post.
        """
        token_ids: dict[str, int] = {}
        for term in self.vocabulary:
            for token in term.split(" "):
                token_ids.setdefault(token, len(token_ids))
        n_ids = len(token_ids)
        unigram_of = np.full(n_ids + 1, -1, dtype=np.int32)  # [-1] = the unknown token
        pair_keys: list[int] = []
        pair_columns: list[int] = []
        for term, column in self.vocabulary.items():
            tokens = term.split(" ")
            if len(tokens) == 1:
                unigram_of[token_ids[term]] = column
            else:
                pair_keys.append(token_ids[tokens[0]] * n_ids + token_ids[tokens[1]])
                pair_columns.append(column)
        order = np.argsort(pair_keys)
        self._token_ids = token_ids
        self._n_ids = n_ids
        self._unigram_of = unigram_of
        self._pair_keys = np.asarray(pair_keys, dtype=np.int64)[order]
        self._pair_columns = np.asarray(pair_columns, dtype=np.int32)[order]

    def transform(self, docs: Sequence[str]) -> Any:
        """A CSR matrix, one l2-normalised TF-IDF row per document."""
        return TfidfBlocks([self]).transform(docs)

    def keys(
        self, chunks: list[str], rows: Any, base: Any, distinct: set[str] | None = None
    ) -> Any:
        """``base[row] + index`` for every term of every chunk (repeats kept).

        ``chunks`` and ``rows`` come from :func:`split_chunks`; ``distinct`` is
        ``set(chunks)`` when the caller already has it.
        """
        if not chunks:
            return np.zeros(0, dtype=base.dtype)
        cache = self._cache
        distinct = set(chunks) if distinct is None else distinct
        missing = distinct.difference(cache)
        if missing:
            if len(cache) + len(missing) > _CACHE_LIMIT:
                cache.clear()
                missing = distinct
            for chunk in missing:
                cache[chunk] = self._analyse(chunk)
        found: list[Any] = list(map(cache.__getitem__, chunks))
        sizes = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        if self.analyzer == "char_wb":
            return np.repeat(base[rows], sizes) + np.concatenate(found)
        if self._by_id:
            return self._id_keys(np.concatenate(found), np.repeat(rows, sizes), base)
        return self._word_keys(list(chain.from_iterable(found)), np.repeat(rows, sizes), base)

    def _id_keys(self, ids: Any, rows: Any, base: Any) -> Any:
        """Keys of the word uni- and bigrams, from the batch's token ids (see above)."""
        parts: list[Any] = []
        if self.min_n <= 1:
            columns = self._unigram_of[ids]
            known = columns >= 0
            parts.append(base[rows[known]] + columns[known])
        if self.max_n >= 2 and len(ids) > 1 and len(self._pair_keys):
            first, second = ids[:-1], ids[1:]
            candidate = (first >= 0) & (second >= 0) & (rows[:-1] == rows[1:])
            keys = first.astype(np.int64) * self._n_ids + second
            at = np.minimum(np.searchsorted(self._pair_keys, keys), len(self._pair_keys) - 1)
            known = candidate & (self._pair_keys[at] == keys)
            parts.append(base[rows[:-1][known]] + self._pair_columns[at[known]])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=base.dtype)

    def _char_ngrams(self, word: str) -> Any:
        """scikit-learn's ``_char_wb_ngrams`` for one word, as vocabulary indices."""
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
        return np.asarray(found, dtype=np.int32)

    def _token_id_array(self, chunk: str) -> Any:
        ids = self._token_ids
        return np.asarray([ids.get(t, -1) for t in self.token_pattern.findall(chunk)], np.int32)

    def _tokens(self, chunk: str) -> list[str]:
        tokens: list[str] = self.token_pattern.findall(chunk)
        return tokens

    def _word_keys(self, tokens: list[str], rows: Any, base: Any) -> Any:
        """Keys of the word n-grams of the batch's tokens (``rows``: each token's row).

        The lookups run in C (``map`` with a default of -1); an n-gram whose tokens
        belong to two documents is no n-gram, and unknown ones are dropped in numpy.
        """
        count = len(tokens)
        parts: list[Any] = []
        for n in range(self.min_n, self.max_n + 1):
            if count < n:
                continue
            if n == 1:
                found = map(self.vocabulary.get, tokens, repeat(-1))
            else:
                grams = (" ".join(tokens[i : i + n]) for i in range(count - n + 1))
                found = map(self.vocabulary.get, grams, repeat(-1))
            indices = np.fromiter(found, np.int32, count - n + 1)
            if n > 1:
                indices[rows[: count - n + 1] != rows[n - 1 :]] = -1
            known = indices >= 0
            parts.append(base[rows[: count - n + 1][known]] + indices[known])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=base.dtype)


def _sublinear_tf(largest: int) -> Any:
    """``1 + log(count)`` for counts 0 … ``largest``, looked up instead of computed."""
    table = np.zeros(largest + 1, dtype=np.float64)
    table[1:] = np.log(np.arange(1, largest + 1, dtype=np.float64)) + 1.0
    return table


class TfidfBlocks:
    """Several fitted TF-IDF vectorisers side by side, plus 0/1 rule columns: one CSR.

    Equals ``hstack([v.transform(docs) for v in vectorizers] + [rules])`` (each block
    l2-normalised on its own, as each vectoriser does), but builds the matrix once:
    all terms of the batch become one array of ``row * width + column`` keys, one sort
    counts the repeats, and the block norms come from one ``bincount``. Building two
    matrices, sorting each row's indices and stacking them cost more than the terms
    themselves.
    """

    def __init__(self, vectorizers: Sequence[Any], *, extra_columns: int = 0) -> None:
        self.blocks = [v if isinstance(v, FastTfidf) else FastTfidf(v) for v in vectorizers]
        sizes = [len(b.vocabulary) for b in self.blocks]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.terms = int(self.offsets[-1])
        self.width = self.terms + extra_columns
        self.idf = np.concatenate([*(b.idf for b in self.blocks), np.ones(extra_columns)])
        # Block number of every column; the rule columns are one more block, not normed.
        self._tf = _sublinear_tf(63)

    def transform(
        self, docs: Sequence[str], extra: Any = None, *, extra_weight: float = 1.0
    ) -> Any:
        """The CSR matrix; ``extra`` is an ``(n_docs, extra_columns)`` array or None.

        Extra columns keep their values (0/1 rules, lexicon probabilities), times
        ``extra_weight``; they are not part of any block's norm.
        """
        from scipy.sparse import csr_matrix

        n = len(docs)
        n_segments = len(self.blocks) + 1
        # Keys fit 32 bits for any normal batch; sorting them is then twice as fast.
        key_type: Any = np.int32 if n * self.width < 2**31 else np.int64
        width: Any = key_type(self.width)
        row_keys = np.arange(n, dtype=key_type) * width
        chunks, chunk_rows = split_chunks(docs)
        distinct = set(chunks)
        keys_parts: list[Any] = []
        for block, offset in zip(self.blocks, self.offsets[:-1], strict=False):
            base = row_keys + key_type(offset)
            keys_parts.append(block.keys(chunks, chunk_rows, base, distinct))
        if extra is not None:
            extra = np.asarray(extra, dtype=np.float64)
            extra_rows, extra_columns = np.nonzero(extra)
            keys_parts.append(
                extra_rows.astype(key_type) * width + (extra_columns + self.terms).astype(key_type)
            )
        keys = np.sort(np.concatenate(keys_parts)) if keys_parts else np.zeros(0, key_type)
        first = np.ones(len(keys), dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        counts = np.diff(starts, append=len(keys))
        keys = keys[starts]
        # Keys are sorted, so each row's entries and, inside a row, each block's are
        # contiguous: where they start is a binary search, not a pass over the keys.
        bounds = np.searchsorted(keys, (row_keys[:, None] + self.offsets[None, :]).ravel())
        bounds = np.append(bounds, len(keys))
        per_segment = np.diff(bounds)  # n rows × (blocks + extra) segments
        indptr = bounds[::n_segments].astype(np.int64)
        columns = keys - np.repeat(row_keys, np.diff(indptr))
        if len(counts) and counts.max() >= len(self._tf):
            self._tf = _sublinear_tf(int(counts.max()))
        data = self._tf[counts] * self.idf[columns]
        # reduceat sums data[bounds[i]:bounds[i + 1]]; the appended 0 lets a bound
        # equal len(data), and an empty segment (which reduceat gives one element) is 0.
        squares = np.add.reduceat(np.append(data * data, 0.0), bounds[:-1])
        squares[per_segment == 0] = 0.0
        norms = np.sqrt(squares).reshape(n, n_segments)
        norms[:, -1] = 1.0  # the rule columns keep their weight
        norms[norms == 0.0] = 1.0
        data /= np.repeat(norms.ravel(), per_segment)
        if extra is not None:
            in_extra = columns >= self.terms
            rows = np.repeat(np.arange(n), np.diff(indptr))[in_extra]
            data[in_extra] = extra[rows, columns[in_extra] - self.terms] * extra_weight
        return csr_matrix((data, columns, indptr), shape=(n, self.width))
