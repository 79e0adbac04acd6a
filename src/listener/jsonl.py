"""JSONL replay: a file of posts (one JSON object per line) played back as a stream.

Every line is either a valid :class:`RawPost` or a :class:`DeadLetter` naming the
file, the line and the field that was wrong; a bad line never stops the replay. A
line longer than ``max_post_bytes`` is dead-lettered unparsed (a prefix, its size and
SHA-256 kept: see :func:`klachtradar.contract.oversized_letter`).
Pacing follows the posts' ``created_at``: ``speed=60`` plays an hour in a minute,
``speed=None`` (``--fast``) plays as fast as the pipeline takes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from klachtradar.contract import (
    DEFAULT_MAX_POST_BYTES,
    DeadLetter,
    RawPost,
    oversized_letter,
    parse_raw_post,
    raw_fields,
)
from klachtradar.errors import ContractError, SourceError

Record = RawPost | DeadLetter


def read_jsonl(path: Path, *, max_post_bytes: int = DEFAULT_MAX_POST_BYTES) -> Iterator[Record]:
    """Parse a JSONL file line by line; blank lines are skipped, bad or oversized ones
    dead-lettered."""
    try:
        handle = path.open("rb")
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise SourceError(f"{path}: is a directory, not a JSONL file") from exc
    except PermissionError as exc:
        raise SourceError(f"{path}: not readable (permission denied)") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield _parse_line(path, number, raw, max_post_bytes)


def _parse_line(path: Path, number: int, raw: bytes, max_post_bytes: int) -> Record:
    line = raw.rstrip(b"\r\n")
    if len(line) > max_post_bytes:
        return oversized_letter(str(path), f"line {number}", "validate", line, max_post_bytes)
    try:
        return parse_raw_post(line)  # refuses bytes that are not UTF-8
    except ContractError as exc:
        return _dead(path, number, str(exc), line)


def _dead(path: Path, number: int, error: str, line: bytes) -> DeadLetter:
    """A bad line's letter; a line that is not UTF-8 keeps its exact bytes (``raw_base64``)."""
    text, raw_base64 = raw_fields(line)
    return DeadLetter(
        origin=str(path),
        position=f"line {number}",
        stage="validate",
        error=error,
        raw=text,
        raw_base64=raw_base64,
    )


@dataclass
class JsonlReplay:
    """Batches of records from a JSONL file, paced by the posts' own timestamps.

    ``clock`` and ``sleep`` are injectable so tests can replay in virtual time.
    """

    path: Path
    speed: float | None = None
    batch_size: int = 256
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _first_event: datetime | None = field(default=None, init=False)
    _start_wall: float = field(default=0.0, init=False)

    def batches(self) -> Iterator[list[Record]]:
        """Yield lists of at most ``batch_size`` records, each when its time has come."""
        batch: list[Record] = []
        for record in read_jsonl(self.path, max_post_bytes=self.max_post_bytes):
            if isinstance(record, RawPost) and self.speed is not None:
                delay = self._delay(record.created_at)
                if delay > 0:
                    if batch:
                        yield batch
                        batch = []
                    self.sleep(delay)
            batch.append(record)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _delay(self, created_at: datetime) -> float:
        assert self.speed is not None
        if self._first_event is None:
            self._first_event = created_at
            self._start_wall = self.clock()
            return 0.0
        offset = (created_at - self._first_event).total_seconds() / self.speed
        return self._start_wall + offset - self.clock()


def time_span_seconds(path: Path) -> float:
    """Seconds between the first and last post in a file (for a demo of fixed duration)."""
    first: datetime | None = None
    last: datetime | None = None
    for record in read_jsonl(path):
        if isinstance(record, RawPost):
            first = record.created_at if first is None else min(first, record.created_at)
            last = record.created_at if last is None else max(last, record.created_at)
    if first is None or last is None:
        return 0.0
    return (last - first).total_seconds()
