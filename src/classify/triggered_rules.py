"""Which of several named regex alternations occur in a text: the same answers, faster.

The lexicon's cue and sarcasm rules are alternations of 20-40 patterns each
(``\\boverstap\\w*|\\bzeg\\w*\\b[^.!?]{0,40}\\bop\\b|...``). Python's regex engine tries
every alternative at every position of the text, so six such searches cost about
25 µs a post: more than the whole TF-IDF transform of the ``linear`` backend.

Almost every alternative contains a literal that any match must contain: a whole word
(``ik`` in ``\\bik ben weg\\b``) or a piece of text (``overstap`` in
``\\boverstap\\w*``). :class:`TriggeredRules` indexes the alternatives by that literal
and, per text, only searches the alternatives whose literal occurs: words by one set
intersection with the text's words, pieces by ``in``. An alternative without such a
literal is always searched. A group matches iff one of its alternatives matches, which
is exactly when the original alternation matches, so the answers are the same (a unit
test holds it to that on every corpus post).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
_QUANTIFIERS = "?*+{"
_WORD_END = ("", " ", r"\b")


@dataclass(frozen=True, slots=True)
class Trigger:
    """The literal an alternative's every match contains: a whole word, or a piece."""

    text: str
    whole_word: bool


_BOUNDARY_BEFORE = r"(?<!\w)"
_BOUNDARY_AFTER = r"(?!\w)"


def _token_at(pattern: str, i: int) -> tuple[str, int]:
    """The regex token starting at ``i`` and where the next one starts.

    Word-boundary look-arounds read as ``\b`` and an escaped space as a space, so
    phrase patterns built with :func:`re.escape` index like hand-written ones.
    """
    for boundary in (_BOUNDARY_BEFORE, _BOUNDARY_AFTER):
        if pattern.startswith(boundary, i):
            return r"\b", i + len(boundary)
    char = pattern[i]
    if char == "\\":
        token = pattern[i : i + 2]
        return (" " if token == "\\ " else token), i + 2
    if char == "{":  # a counted quantifier: its digits are no literal
        return pattern[i : pattern.index("}", i) + 1], pattern.index("}", i) + 1
    if char == "[":
        end = i + 1
        if pattern[end : end + 1] == "^":
            end += 1
        if pattern[end : end + 1] == "]":
            end += 1
        end = pattern.index("]", end) + 1
        return pattern[i:end], end
    return char, i + 1


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _literal_runs(pattern: str) -> list[tuple[str, str, str]]:
    """Mandatory literal word-character runs of ``pattern``: (before, run, after).

    Only runs outside any group or character class count (a run inside ``(?:de )?``
    is optional). ``before`` / ``after`` are the regex tokens around the run (``\b``,
    a space, ``""`` for the pattern's ends, ``"?"`` when what follows is optional, or
    whatever else stands there). A pattern with a top-level ``|`` has no mandatory run.
    """
    runs: list[tuple[str, str, str]] = []
    depth = 0
    i = 0
    previous = ""
    while i < len(pattern):
        if depth == 0 and _is_word_char(pattern[i]):
            end = i
            while end < len(pattern) and _is_word_char(pattern[end]):
                end += 1
            run = pattern[i:end]
            after, next_i = _token_at(pattern, end) if end < len(pattern) else ("", end)
            if after and after[0] in _QUANTIFIERS:
                run, after = run[:-1], "?"  # the last character is optional
            elif next_i < len(pattern) and pattern[next_i] in _QUANTIFIERS:
                after = "?"  # e.g. an optional space after the run
            if run:
                runs.append((previous, run, after))
            previous = "run"
            i = end
            continue
        token, i = _token_at(pattern, i)
        if token == "|" and depth == 0:
            return []
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        previous = token
    return runs


def trigger_of(pattern: str) -> Trigger | None:
    """The most selective mandatory literal of ``pattern``, or None if it has none.

    A run that starts at a word boundary (``\b``, a space, the start) and ends at one
    (``\b``, a space, the end) is a whole word, the cheapest to test.
    """
    runs = _literal_runs(pattern)
    whole = [run for before, run, after in runs if before in _WORD_END and after in _WORD_END]
    if whole:
        return Trigger(max(whole, key=len), whole_word=True)
    pieces = [run for _, run, _ in runs]
    if pieces:
        return Trigger(max(pieces, key=len), whole_word=False)
    return None


def literal_first(pattern: str) -> str:
    """``pattern`` rewritten to start with its literal, when it starts ``\\b<word>``.

    The regex engine finds a pattern that starts with a literal by a fast substring
    scan; one that starts with ``\\b`` is tried at every position. ``\\bzeg`` and
    ``zeg(?<!\\w[\\s\\S]{3})`` match the same text: after ``zeg`` is read, the
    look-behind checks that the character before it is no word character.
    """
    for boundary in (r"\b", _BOUNDARY_BEFORE):
        if pattern.startswith(boundary):
            rest = pattern[len(boundary) :]
            end = 0
            while end < len(rest) and _is_word_char(rest[end]):
                end += 1
            if end > 1 and rest[end : end + 1] in _QUANTIFIERS:
                end -= 1  # the last character is optional: keep it out of the literal
            if end == 0 or rest[end : end + 1] in _QUANTIFIERS:
                return pattern
            return rest[:end] + rf"(?<!\w[\s\S]{{{end}}})" + rest[end:]
    return pattern


class TriggeredRules:
    """Named groups of regex alternatives; :meth:`matches` says which groups occur.

    >>> rules = TriggeredRules({"churn": [r"\\boverstap\\w*", r"\\bik ben weg\\b"]})
    >>> rules.matches("ik ben weg bij jullie")
    [True]
    """

    def __init__(self, groups: Mapping[str, Sequence[str]], *, flags: int = 0) -> None:
        self.names = list(groups)
        self._by_word: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        by_piece: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        self._always: list[tuple[int, re.Pattern[str]]] = []
        for index, patterns in enumerate(groups.values()):
            for pattern in patterns:
                compiled = (index, re.compile(literal_first(pattern), flags))
                trigger = trigger_of(pattern)
                if trigger is None:
                    self._always.append(compiled)
                elif trigger.whole_word:
                    self._by_word.setdefault(trigger.text, []).append(compiled)
                else:
                    by_piece.setdefault(trigger.text, []).append(compiled)
        self._by_piece = list(by_piece.items())
        self._words = frozenset(self._by_word)

    def matches(self, text: str) -> list[bool]:
        """One flag per group, in the order the groups were given."""
        hits = [False] * len(self.names)
        candidates: list[tuple[int, re.Pattern[str]]] = list(self._always)
        for word in self._words.intersection(_WORD.findall(text)):
            candidates += self._by_word[word]
        for piece, patterns in self._by_piece:
            if piece in text:
                candidates += patterns
        for index, pattern in candidates:
            if not hits[index] and pattern.search(text) is not None:
                hits[index] = True
        return hits
