"""One exception hierarchy for klachtradar, so callers can catch by meaning.

``KlachtradarError`` is the root. The CLI turns any of them into one clear sentence
and a non-zero exit; the stream turns per-record ones into dead letters.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KlachtradarError(Exception):
    """Base class of every error klachtradar raises on purpose."""


class ConfigError(KlachtradarError):
    """Settings or the brand watchlist are missing or invalid."""


class ContractError(KlachtradarError):
    """A payload does not satisfy the data contract (bad JSON, missing field, wrong type)."""


class SourceError(KlachtradarError):
    """A source cannot be read (missing file, refused connection, bad credentials)."""


class SinkError(KlachtradarError):
    """A sink could not write.

    ``retryable`` says whether trying again may succeed (timeouts, 429, 5xx) or not
    (a mapping conflict, a constraint violation), so the caller can choose between
    backoff and the dead-letter path.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class StageError(KlachtradarError):
    """A pipeline stage failed on one record; the record goes to the dead letters."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


class TransportError(KlachtradarError):
    """The message transport failed: broker unreachable, output not acknowledged, ….

    ``retryable`` says whether the stream should back off and try again (the broker
    may come back) or stop (bad credentials, a topic that cannot be created).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class UnsafeCommitError(TransportError):
    """An offset commit that would break at-least-once delivery was refused.

    Raised when output is still unacknowledged, or when a batch claims offsets this
    consumer never delivered. It is a bug in the caller, never a broker hiccup, so it
    is not retryable.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, else ``""``.

    Shared by every error about a mistyped name (a setting, a model, a command option),
    so a typo always costs one glance instead of a trip to the docs.
    """
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
