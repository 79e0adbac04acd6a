"""Triage status changes onto the raw Kafka topic, for the stream's author history.

On Kafka the author history lives in the ``process`` members, per raw partition
(:mod:`klachtradar.runtime.history_state`); the embedded backend's way of hearing of a
resolve (reading the store's ``posts`` table) does not reach them. So the triage app's
status write-back (:class:`triage.es_mirror.EsMirror`, with ``[triage]
status_to_kafka``) also publishes each change as a
:class:`~klachtradar.stream_events.StatusChange`, keyed by the post's author, on the
raw topic: it lands on the author's partition, in order with their posts, and the
member that owns the author's history applies it (and changelogs it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from klachtradar.errors import SinkError
from klachtradar.settings import KafkaSettings
from klachtradar.stream_events import RECORD_HEADER, STATUS_RECORD, StatusChange


class KafkaStatusSink:
    """Publishes status changes; ``publish`` returns once the broker acknowledged it."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.topic = f"{settings.topic_prefix}.posts.raw"
        self._producer: Any = None

    def publish(self, doc_id: str, author_id: str, status: str, at: datetime) -> None:
        """Send one change and wait for it; a broker that does not answer is a retryable
        :class:`SinkError` (the outbox keeps the row and sends it again)."""
        from kafka.errors import KafkaError

        change = StatusChange(doc_id=doc_id, author_id=author_id, status=status, changed_at=at)
        headers = [(RECORD_HEADER, STATUS_RECORD.encode()), ("doc_id", doc_id.encode())]
        try:
            future = self._open().send(
                self.topic,
                key=author_id.encode(),
                value=change.model_dump_json().encode(),
                headers=headers,
            )
            future.get(timeout=self.settings.retry_backoff_max_s * 3)
        except KafkaError as exc:
            raise SinkError(f"status to Kafka: {exc}", retryable=True) from exc

    def _open(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=[s.strip() for s in self.settings.bootstrap_servers.split(",")],
                security_protocol=self.settings.security_protocol,
                acks="all",
            )
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
