"""The transport between processes: topics of keyed byte messages, at-least-once.

Stages never see a transport. The runner moves batches between topics through this
small interface, so the in-process implementation (tests, the embedded default) and
the Kafka one (production; consumer groups scale out over partitions) are
interchangeable. The contract of the interface is Kafka's:

* ``poll`` returns messages after the consumer's last *committed* position;
* ``commit`` is called only after the output of those messages has been produced and
  flushed (or written to a sink), so a crash before it means redelivery, never loss;
* redelivered messages carry the same keys and payloads, and every sink is idempotent
  on the contract's deterministic ids, so redelivery never duplicates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel

from klachtradar.contract import DeadLetter
from klachtradar.errors import TransportError

DEFAULT_PREFIX = "klachtradar"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one prefix (``klachtradar.posts.raw`` …)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def raw(self) -> str:
        return f"{self.prefix}.posts.raw"

    @property
    def scored(self) -> str:
        return f"{self.prefix}.posts.scored"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def complaints(self) -> str:
        """One event per classified brand complaint, keyed by brand (the repartition
        that lets one ``incidents`` member see all of a brand's complaints)."""
        return f"{self.prefix}.complaints"

    @property
    def history_changelog(self) -> str:
        """Author-history changes of ``process``; partition *p* holds raw partition *p*'s."""
        return f"{self.prefix}.history.changelog"

    @property
    def incidents_changelog(self) -> str:
        """Incident-detector state; partition *p* holds complaints partition *p*'s."""
        return f"{self.prefix}.incidents.changelog"

    @property
    def changelogs(self) -> tuple[str, ...]:
        """The state topics: compacted where the broker compacts, read to the end on restore."""
        return (self.history_changelog, self.incidents_changelog)


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message; ``position`` is transport-specific (partition/offset)."""

    topic: str
    key: str | None
    value: bytes
    position: str
    headers: dict[str, str] = field(default_factory=dict)
    timestamp: float | None = None
    """When the broker (or its producer) stamped the message, Unix seconds, if known."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to produce."""

    key: str | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)
    partition: int | None = None
    """Where it must go; ``None``: the key's partition. A changelog names it: state of
    raw partition *p* goes to changelog partition *p*, whatever the key hashes to."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message the broker will never take (too large, an invalid topic), and why."""

    topic: str
    message: OutgoingMessage
    reason: str


class RecordsRejectedError(TransportError):
    """Some messages of a flush can never be written; every other one was acknowledged.

    Retrying cannot help (the same bytes are refused again) and must not happen: a
    retry would send the acknowledged messages once more. The caller dead-letters
    :attr:`rejected` and goes on.
    """

    def __init__(self, rejected: Sequence[Rejected]) -> None:
        first = rejected[0].reason if rejected else ""
        super().__init__(f"{len(rejected)} message(s) rejected: {first}", retryable=False)
        self.rejected = list(rejected)


def encode(model: BaseModel) -> bytes:
    """The wire format: the contract model as UTF-8 JSON (it carries ``schema_version``)."""
    return model.model_dump_json().encode("utf-8")


def dead_letter_message(letter: DeadLetter) -> OutgoingMessage:
    """A dead letter as a DLQ message, keyed by where it came from."""
    return OutgoingMessage(key=letter.origin, value=encode(letter), headers={"stage": letter.stage})


class Transport(Protocol):
    """What the runner needs from a message transport."""

    def produce(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        """Queue messages for a topic (may buffer until :meth:`flush`)."""
        ...

    def flush(self) -> None:
        """Block until every produced message is acknowledged.

        Raises :class:`RecordsRejectedError` (after the others are acknowledged) for
        messages the broker can never take, retryable :class:`TransportError` otherwise.
        """
        ...

    def poll(self, topic: str, group: str, *, max_records: int, timeout_s: float) -> list[Message]:
        """Up to ``max_records`` messages after the group's committed position."""
        ...

    def commit(self, topic: str, group: str, messages: Sequence[Message]) -> None:
        """Mark messages (and everything before them) as processed for the group."""
        ...

    def rewind(self, topic: str, group: str) -> None:
        """After a failed batch: deliver everything not committed (or safely done) again.

        Without it, the next successful commit would move past the failed batch.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class InMemoryTransport:
    """An in-process transport with Kafka's delivery semantics, for tests and embedding.

    One partition per topic; each group has a committed offset and a read cursor.
    ``rewind`` simulates a consumer crash: the cursor goes back to the committed
    offset, so uncommitted messages are delivered again. ``max_message_bytes`` plays
    the broker's message limit: a larger message is rejected at the next flush.
    """

    def __init__(self, *, max_message_bytes: int | None = None) -> None:
        self._logs: dict[str, list[OutgoingMessage]] = defaultdict(list)
        self._committed: dict[tuple[str, str], int] = defaultdict(int)
        self._cursor: dict[tuple[str, str], int] = {}
        self.max_message_bytes = max_message_bytes
        self._rejected: list[Rejected] = []

    def produce(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        limit = self.max_message_bytes
        for m in messages:
            if limit is not None and len(m.value) > limit:
                reason = f"MessageSizeTooLargeError: {len(m.value)} bytes > {limit}"
                self._rejected.append(Rejected(topic, m, reason))
            else:
                self._logs[topic].append(m)

    def flush(self) -> None:
        rejected, self._rejected = self._rejected, []
        if rejected:
            raise RecordsRejectedError(rejected)

    def poll(
        self, topic: str, group: str, *, max_records: int, timeout_s: float = 0.0
    ) -> list[Message]:
        key = (topic, group)
        start = self._cursor.get(key, self._committed[key])
        log = self._logs[topic]
        batch = log[start : start + max_records]
        self._cursor[key] = start + len(batch)
        return [
            Message(
                topic=topic, key=m.key, value=m.value, position=str(start + i), headers=m.headers
            )
            for i, m in enumerate(batch)
        ]

    def commit(self, topic: str, group: str, messages: Sequence[Message]) -> None:
        if messages:
            self._committed[(topic, group)] = max(
                self._committed[(topic, group)], int(messages[-1].position) + 1
            )

    def rewind(self, topic: str, group: str) -> None:
        """Forget uncommitted progress, as a restarted consumer would."""
        self._rejected.clear()
        self._cursor.pop((topic, group), None)

    def messages(self, topic: str) -> list[OutgoingMessage]:
        """Everything ever produced to a topic (for inspection)."""
        return list(self._logs[topic])

    def lag(self, topic: str, group: str) -> int:
        """Messages the group has not committed yet."""
        return len(self._logs[topic]) - self._committed[(topic, group)]

    def close(self) -> None:
        return None
