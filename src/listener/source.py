"""What every network source offers the listen loop, and the pieces they share.

A source is an iterator of *chunks*: lists of records (posts or dead letters), possibly
empty. An empty chunk is an idle tick: it lets the loop flush on time and notice a
stop request even when nothing arrives. After each chunk, :meth:`Source.checkpoint`
describes a position that covers every record yielded so far; the loop saves it only
once those records are published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import ValidationError

from klachtradar.contract import (
    DeadLetter,
    DeletedPost,
    RawPost,
    describe_validation_error,
    raw_fields,
)
from klachtradar.errors import ContractError

Record = RawPost | DeadLetter | DeletedPost
State = dict[str, Any]


class Source(Protocol):
    """A resumable stream of records."""

    name: str

    def chunks(self, stop: threading.Event) -> Iterator[list[Record]]:
        """Yield chunks until ``stop`` is set (or the source fails for good)."""
        ...

    def checkpoint(self) -> State | None:
        """The position after everything yielded so far (None: nothing to save)."""
        ...


@runtime_checkable
class AcknowledgedSource(Protocol):
    """A source whose senders wait until their records are published (the webhook).

    The loop publishes after every non-empty chunk of such a source (a chunk is already
    a group commit of whatever arrived together) and reports each outcome: every record
    yielded before :meth:`published` is durable; :meth:`publish_failed` means none of
    the unacknowledged ones can be promised, so the senders are told to retry. Since
    the senders retry, a failed publish does not end the run for such a source.
    """

    def published(self) -> None:
        """Everything yielded so far has been published."""
        ...

    def publish_failed(self, error: BaseException) -> None:
        """Publishing what was yielded since the last :meth:`published` failed."""
        ...


@dataclass
class Clock:
    """Time and sleep, injectable so tests run backoff and rate limits in virtual time.

    ``sleep`` must return early when ``stop`` is set, so Ctrl-C never waits out a backoff.
    """

    now: Callable[[], float] = time.time
    sleeps: list[float] = field(default_factory=list)
    virtual: bool = False

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds`` (or until stop); virtual clocks only record the wait."""
        self.sleeps.append(seconds)
        if self.virtual:
            return
        stop.wait(seconds)


def dead_letter(origin: str, position: str, stage: str, error: str, raw: str | bytes) -> DeadLetter:
    """A dead letter for input a source could not turn into a post (bytes kept exactly)."""
    text, raw_base64 = raw_fields(raw)
    return DeadLetter(
        origin=origin, position=position, stage=stage, error=error, raw=text, raw_base64=raw_base64
    )


def make_post(**fields: Any) -> RawPost:
    """A :class:`RawPost`, or :class:`ContractError` naming the fields that were wrong
    (one line, fit for a dead letter) instead of pydantic's multi-line report."""
    try:
        return RawPost(**fields)
    except ValidationError as exc:
        raise ContractError(describe_validation_error(exc)) from exc
