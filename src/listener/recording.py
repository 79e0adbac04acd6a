"""Recordings of platform streams, read back as outcomes: ``klachtradar normalise`` and
``listen --source S --file FILE``.

A recording is what the platform delivered, byte for byte:

* ``x`` — the filtered (or compliance) stream: one JSON object per line, blank
  keep-alive lines, ``\\r\\n`` endings;
* ``bluesky`` — Jetstream: one event per line (commit, identity, account);
* ``mastodon`` — the streaming API's Server-Sent Events text: ``event:``/``data:``
  lines, a blank line ending each event, ``:`` comment lines as heartbeats.

Each payload goes through the same interpreters the live sources use
(:func:`listener.x_compliance.interpret_line`, :func:`listener.bluesky_post.interpret_event`,
:func:`listener.mastodon.interpret_event`) and becomes one :data:`~listener.outcome.Outcome`:
a post, a delete, a dead letter naming file and line, or a skip with its reason. There
is no brand prefilter here: an operator replaying an outage wants every post back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from klachtradar.contract import DeadLetter, DeletedPost, RawPost, limit_post_sizes
from klachtradar.errors import ContractError, SourceError
from listener.bluesky_post import interpret_event as interpret_jetstream
from listener.jetstream import FrameDecoder
from listener.mastodon import interpret_event as interpret_mastodon
from listener.outcome import Outcome, Skip
from listener.source import Record, dead_letter
from listener.x_compliance import interpret_line as interpret_x
from listener.x_post import tweet_to_post, users_by_id

RECORDED_SOURCES = ("x", "bluesky", "mastodon")

_BROKEN = (KeyError, ValueError, TypeError, AttributeError, ContractError)


def read_recording(source: str, path: Path) -> Iterator[Outcome]:
    """Every outcome of a recording, in order; unknown sources raise :class:`SourceError`."""
    readers = {"x": _x_outcomes, "bluesky": _jetstream_outcomes, "mastodon": _mastodon_outcomes}
    if source not in readers:
        raise SourceError(
            f"no recording format for source {source!r} (known: {', '.join(RECORDED_SOURCES)})"
        )
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the recording ({exc.strerror})") from exc
    with handle:
        yield from readers[source](str(path), _lines(handle))


def _lines(handle: Iterable[bytes]) -> Iterator[tuple[int, str | bytes]]:
    """Numbered lines without their ending; undecodable ones stay bytes (dead-lettered)."""
    for number, raw in enumerate(handle, 1):
        raw = raw.rstrip(b"\r\n")
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, raw


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _not_utf8(origin: str, number: int, raw: bytes) -> DeadLetter:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        error = f"not UTF-8 at byte {exc.start}"
    return dead_letter(origin, f"line {number}", "decode", error, raw)


def _x_outcomes(origin: str, lines: Iterable[tuple[int, str | bytes]]) -> Iterator[Outcome]:
    for number, line in lines:
        if isinstance(line, bytes):
            yield _not_utf8(origin, number, line)
            continue
        position = f"line {number}"
        outcome = interpret_x(line, origin, position)
        if not isinstance(outcome, dict):
            yield outcome
            continue
        data = outcome["data"]
        users = users_by_id(outcome.get("includes"))
        for tweet in data if isinstance(data, list) else [data]:
            try:
                yield tweet_to_post(tweet, users)
            except _BROKEN as exc:
                yield dead_letter(origin, position, "normalise", _reason(exc), line)


def _jetstream_outcomes(origin: str, lines: Iterable[tuple[int, str | bytes]]) -> Iterator[Outcome]:
    decoder = FrameDecoder()
    for number, line in lines:
        position = f"line {number}"
        if isinstance(line, str) and not line.strip():
            yield Skip("blank line")
            continue
        try:
            event = decoder.decode(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield dead_letter(origin, position, "decode", _reason(exc), line)
            continue
        try:
            yield interpret_jetstream(event)
        except _BROKEN as exc:
            yield dead_letter(origin, position, "normalise", _reason(exc), line)


def _mastodon_outcomes(origin: str, lines: Iterable[tuple[int, str | bytes]]) -> Iterator[Outcome]:
    """SSE: ``event:`` and ``data:`` lines gather, a blank line dispatches the event."""
    event: str | None = None
    data: list[str] = []
    start = 0
    for number, line in lines:
        if isinstance(line, bytes):
            yield _not_utf8(origin, number, line)
            continue
        if line.startswith(":"):
            yield Skip("heartbeat")
        elif line.startswith("event:"):
            event, start = line[6:].strip(), start or number
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            start = start or number
        elif line == "" and (event is not None or data):
            yield _mastodon_event(origin, start, event or "message", "\n".join(data))
            event, data, start = None, [], 0
    if event is not None or data:  # the recording stopped inside an event
        yield dead_letter(
            origin, f"line {start}", "decode", "event not ended by a blank line", "\n".join(data)
        )


def _mastodon_event(origin: str, number: int, name: str, payload: str) -> Outcome:
    try:
        return interpret_mastodon(name, payload)
    except _BROKEN as exc:
        stage = "decode" if isinstance(exc, json.JSONDecodeError) else "normalise"
        return dead_letter(origin, f"line {number}", stage, f"{name}: {_reason(exc)}", payload)


def outcome_line(outcome: Outcome) -> dict[str, Any]:
    """The JSON line ``normalise`` prints for an outcome."""
    if isinstance(outcome, RawPost):
        return {"action": "upsert", "post": _dump(outcome)}
    if isinstance(outcome, DeletedPost):
        return {"action": "delete", "doc_id": outcome.doc_id, "record": _dump(outcome)}
    if isinstance(outcome, Skip):
        return {"action": "skip", "reason": outcome.reason}
    return {
        "action": "dead_letter",
        "reason": outcome.error,
        "position": outcome.position,
        "letter": _dump(outcome),
    }


def _dump(model: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def recording_batches(
    source: str, path: Path, *, batch_size: int, max_post_bytes: int
) -> Iterator[list[Record]]:
    """A recording as the batches ``listen --file`` publishes: skips left out, oversized
    posts dead-lettered like every intake does."""
    batch: list[Record] = []
    for outcome in read_recording(source, path):
        if isinstance(outcome, Skip):
            continue
        batch.append(outcome)
        if len(batch) >= batch_size:
            yield limit_post_sizes(batch, max_post_bytes)
            batch = []
    if batch:
        yield limit_post_sizes(batch, max_post_bytes)
