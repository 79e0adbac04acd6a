"""The ``incidents`` step: brand incident detection over the whole brand, on Kafka.

``process`` members each see some raw partitions (some authors); a storm about a brand
is spread over all of them. So ``process`` repartitions: one complaint event per
classified brand complaint, keyed by brand, on the complaints topic
(:mod:`klachtradar.runtime.process_state`). Here a member of the ``incidents`` group
owns complaints partitions, and with them every complaint of their brands, and runs
one :class:`~enrich.incidents.IncidentDetector` per brand on them.

**The watermark is the minimum over the raw partitions.** In one process every post
moves the detector's event time; here the events come from several ``process``
members, each at its own pace. Each ``process`` batch sends a tick per raw partition
(how far its event time got); the detectors advance to the minimum of those once every
raw partition has ticked. No raw partition can still bring a complaint older than that
(up to the allowed lateness, as in one process), so the detectors count the same
complaints in the same order as a single process would, however many members there
are and however their pace differs.

**State per complaints partition, changelogged.** Each brand detector's state (its
window, baseline, open incident, recently counted doc ids) and the partition's ticks
are written to the same partition of the incidents changelog after each batch, with
the alerts, before the commit; a partition assigned here is restored from it first
(:class:`~klachtradar.runtime.changelog.ChangelogReader`). Redelivered complaints are
recognised by doc id and not counted twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from enrich.incidents import IncidentDetector
from klachtradar.contract import Alert, DeadLetter
from klachtradar.runtime.changelog import ChangelogReader
from klachtradar.runtime.kafka_transport import parse_position
from klachtradar.runtime.runner import flush_or_dead_letter, message_dead_letter
from klachtradar.runtime.transport import (
    Message,
    OutgoingMessage,
    Topics,
    Transport,
    dead_letter_message,
    encode,
)
from klachtradar.settings import IncidentSettings
from klachtradar.stream_events import ComplaintEvent, StreamTick

log = logging.getLogger("klachtradar.incidents")

TICKS_KEY = "\x00ticks"
BRAND_PREFIX = "brand:"


@dataclass
class _Partition:
    """One complaints partition's state: its brands' detectors and the raw partitions' times."""

    detectors: dict[str, IncidentDetector] = field(default_factory=dict)
    ticks: dict[int, datetime] = field(default_factory=dict)


class IncidentState:
    """The brand detectors of the complaints partitions this member owns."""

    def __init__(
        self,
        settings: IncidentSettings,
        brand_terms: dict[str, set[str]],
        reader: ChangelogReader,
        *,
        raw_partitions: int,
    ) -> None:
        self.settings = settings
        self.brand_terms = brand_terms
        self.reader = reader
        self.raw_partitions = raw_partitions
        self._parts: dict[int, _Partition] = {}
        self._lock = threading.Lock()
        self._moves: list[tuple[str, list[int]]] = []
        self._dirty: set[tuple[int, str]] = set()

    def assigned(self, partitions: list[int]) -> None:
        with self._lock:
            self._moves.append(("assigned", partitions))

    def revoked(self, partitions: list[int]) -> None:
        with self._lock:
            self._moves.append(("revoked", partitions))

    @property
    def owned(self) -> set[int]:
        return set(self._parts)

    def prepare(self, messages: Sequence[Message]) -> list[Message]:
        """Apply partition moves (restoring what arrived); the messages still owned."""
        with self._lock:
            moves, self._moves = self._moves, []
        restore: set[int] = set()
        for kind, partitions in moves:
            for p in partitions:
                self._parts.pop(p, None)
            if kind == "assigned":
                restore |= set(partitions)
                self._parts.update({p: _Partition() for p in partitions})
            else:
                restore -= set(partitions)
        if restore:
            self._restore(restore)
        return [m for m in messages if parse_position(m.position)[0] in self._parts]

    def observe(self, messages: Sequence[Message]) -> tuple[list[Alert], list[DeadLetter]]:
        """Take in complaint events and ticks, in order; the alerts they released."""
        alerts: list[Alert] = []
        dead: list[DeadLetter] = []
        touched: set[int] = set()
        for message in messages:
            partition = parse_position(message.position)[0]
            part = self._parts[partition]
            try:
                event = _decode(message)
            except ValueError as exc:
                dead.append(message_dead_letter(message, "incidents", str(exc).splitlines()[0]))
                continue
            touched.add(partition)
            if isinstance(event, StreamTick):
                known = part.ticks.get(event.raw_partition)
                if known is None or event.latest > known:
                    part.ticks[event.raw_partition] = event.latest
                    self._dirty.add((partition, TICKS_KEY))
                continue
            detector = part.detectors.get(event.brand)
            if detector is None:
                detector = IncidentDetector(self.settings, brand_terms=self.brand_terms)
                part.detectors[event.brand] = detector
            detector.take(event.created_at, event.doc_id, [event.brand], event.text, event.risk)
            self._dirty.add((partition, event.brand))
        for partition in sorted(touched):
            alerts += self._advance(partition)
        return alerts, dead

    def watermark_source(self, partition: int) -> datetime | None:
        """The minimum of the raw partitions' times, once every one of them ticked."""
        ticks = self._parts[partition].ticks
        if len(ticks) < self.raw_partitions:
            return None
        return min(ticks.values())

    def _advance(self, partition: int) -> list[Alert]:
        latest = self.watermark_source(partition)
        if latest is None:
            return []
        alerts: list[Alert] = []
        for brand, detector in self._parts[partition].detectors.items():
            waiting = detector.waiting > 0
            released = detector.advance_to(latest)
            if released or waiting:
                self._dirty.add((partition, brand))
            alerts += released
        return alerts

    def changelog(self) -> list[OutgoingMessage]:
        """The state that changed since the last call, one message per brand (and ticks)."""
        out = []
        dirty, self._dirty = self._dirty, set()
        for partition, name in sorted(dirty):
            part = self._parts.get(partition)
            if part is None:
                continue
            if name == TICKS_KEY:
                ticks = {str(k): v.isoformat() for k, v in part.ticks.items()}
                value = json.dumps(ticks).encode()
                out.append(OutgoingMessage(key=TICKS_KEY, value=value, partition=partition))
            else:
                value = json.dumps(part.detectors[name].to_state()).encode()
                key = BRAND_PREFIX + name
                out.append(OutgoingMessage(key=key, value=value, partition=partition))
        return out

    def _restore(self, partitions: set[int]) -> None:
        restored = self.reader.restore(partitions)
        for part in restored:
            state = self._parts[part.partition]
            for key, value in part.values.items():
                data = json.loads(value)
                if key == TICKS_KEY:
                    state.ticks = {int(k): datetime.fromisoformat(v) for k, v in data.items()}
                elif key.startswith(BRAND_PREFIX):
                    detector = IncidentDetector(self.settings, brand_terms=self.brand_terms)
                    state.detectors[key[len(BRAND_PREFIX) :]] = detector.load_state(data)
        log.info(
            "incident state restored",
            extra={
                "fields": {
                    "partitions": sorted(partitions),
                    "changelog_records": sum(p.records_read for p in restored),
                    "brands": sum(len(self._parts[p.partition].detectors) for p in restored),
                    "seconds": round(restored[0].seconds, 3) if restored else 0.0,
                }
            },
        )


def alert_message(alert: Alert) -> OutgoingMessage:
    """An incident alert for the alerts topic, keyed by brand like every alert."""
    return OutgoingMessage(key=alert.brand, value=encode(alert), headers={"kind": alert.kind.value})


def _decode(message: Message) -> ComplaintEvent | StreamTick:
    data = json.loads(message.value)
    if data.get("kind") == "tick":
        return StreamTick.model_validate(data)
    return ComplaintEvent.model_validate(data)


def incidents_step(
    transport: Transport,
    state: IncidentState,
    topics: Topics,
    *,
    group: str = "klachtradar-incidents",
    max_records: int = 500,
    timeout_s: float = 1.0,
) -> int:
    """One poll of the complaints topic through the brand detectors; returns messages handled.

    Commit path, in order: restore partitions that moved here, drop messages of those
    that moved away → count complaints, advance the watermark → produce the incident
    alerts, dead letters and the changed detector state → flush → commit.
    """
    messages = transport.poll(
        topics.complaints, group, max_records=max_records, timeout_s=timeout_s
    )
    if not messages:
        return 0
    kept = state.prepare(messages)
    alerts, dead = state.observe(kept)
    transport.produce(topics.alerts, [alert_message(a) for a in alerts])
    transport.produce(topics.dlq, [dead_letter_message(d) for d in dead])
    transport.produce(topics.incidents_changelog, state.changelog())
    flush_or_dead_letter(transport, topics, stage="incidents")
    transport.commit(topics.complaints, group, kept)
    return len(messages)
