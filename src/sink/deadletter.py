"""The dead-letter file: every input that could not be processed, with the reason.

One JSON line per :class:`~klachtradar.contract.DeadLetter` (origin, line or offset,
stage, error, original text), appended, so nothing is lost and a fixed file can be
replayed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from klachtradar.contract import DeadLetter
from klachtradar.errors import SinkError


class DeadLetterFile:
    """Appends dead letters to a JSONL file, creating its folder on first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0

    def write(self, letters: Sequence[DeadLetter]) -> None:
        """Append letters; an unwritable file is a non-retryable :class:`SinkError`."""
        if not letters:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                for letter in letters:
                    handle.write(letter.model_dump_json() + "\n")
        except OSError as exc:
            raise SinkError(
                f"{self.path}: cannot write dead letters ({exc})", retryable=False
            ) from exc
        self.written += len(letters)


def read_dead_letters(path: Path) -> list[DeadLetter]:
    """All dead letters in a file (empty if there is none)."""
    if not path.is_file():
        return []
    return [
        DeadLetter.model_validate_json(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
