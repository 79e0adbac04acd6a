"""One exception hierarchy for klachtradar, so callers can catch by meaning.

``KlachtradarError`` is the root. The CLI turns any of them into one clear sentence
and a non-zero exit; the stream turns per-record ones into dead letters.
"""

from __future__ import annotations


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
