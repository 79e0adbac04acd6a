"""Reading a changelog partition back, to its end: how partition state is restored.

A changelog topic holds every change of a piece of partition-scoped state, keyed like
the state. Restoring is reading the partition from its first offset to its end and
letting the last value per key win (a null value removes the key). That is correct
whether or not the broker compacts the topic: compaction only makes the read shorter
(tansu accepts ``cleanup.policy=compact`` but never compacts; measured).

The end is a fetch's high watermark, not the listed end offset: tansu lists the base
offset of the last record *batch* plus one, too low when a flush wrote several records
in one batch (see :func:`klachtradar.runtime.dlq.end_offsets`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from klachtradar.errors import TransportError
from klachtradar.runtime.kafka_transport import client_config
from klachtradar.settings import KafkaSettings

log = logging.getLogger("klachtradar.changelog")


@dataclass(frozen=True, slots=True)
class Restored:
    """A partition's state as the changelog left it: the last value per key."""

    partition: int
    values: dict[str, bytes]
    records_read: int
    seconds: float


class ChangelogReader:
    """Reads changelog partitions to their end, outside any consumer group."""

    def __init__(self, settings: KafkaSettings, topic: str, *, timeout_s: float = 30.0) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self._settings = settings
        self._consumer: KafkaConsumer | None = None

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            try:
                self._consumer = KafkaConsumer(
                    **client_config(self._settings),
                    enable_auto_commit=False,
                    max_poll_records=5_000,
                    fetch_max_bytes=16 * 1024 * 1024,
                )
            except KafkaError as exc:
                raise TransportError(f"changelog reader: {exc}", retryable=True) from exc
        return self._consumer

    def restore(self, partitions: Iterable[int]) -> list[Restored]:
        """Every change of these partitions, folded to the last value per key.

        Raises a retryable :class:`TransportError` when the end is not reached within
        ``timeout_s``: a member must not process a partition on half its state.
        """
        wanted = sorted(set(partitions))
        if not wanted:
            return []
        consumer = self._open()
        tps = [TopicPartition(self.topic, p) for p in wanted]
        started = time.perf_counter()
        try:
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            listed = consumer.end_offsets(tps)
            first = consumer.beginning_offsets(tps)
            values: dict[TopicPartition, dict[str, bytes]] = {tp: {} for tp in tps}
            counts = dict.fromkeys(tps, 0)
            open_tps = {tp for tp in tps if (listed[tp] or 0) > (first[tp] or 0)}
            deadline = time.monotonic() + self.timeout_s
            while open_tps:
                if time.monotonic() > deadline:
                    left = sorted(tp.partition for tp in open_tps)
                    raise TransportError(
                        f"restore {self.topic}: partitions {left}"
                        f" not read to their end in {self.timeout_s} s",
                        retryable=True,
                    )
                for tp, records in consumer.poll(timeout_ms=200).items():
                    counts[tp] += len(records)
                    state = values[tp]
                    for r in records:
                        key = r.key.decode("utf-8") if r.key is not None else ""
                        if r.value is None:
                            state.pop(key, None)
                        else:
                            state[key] = r.value
                open_tps = {tp for tp in open_tps if not self._at_end(consumer, tp)}
        except KafkaError as exc:
            raise TransportError(f"restore {self.topic}: {exc}", retryable=True) from exc
        finally:
            consumer.assign([])
        seconds = time.perf_counter() - started
        return [Restored(tp.partition, values[tp], counts[tp], seconds) for tp in tps]

    @staticmethod
    def _at_end(consumer: KafkaConsumer, tp: TopicPartition) -> bool:
        high = consumer.highwater(tp)
        return high is not None and consumer.position(tp) >= high

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
