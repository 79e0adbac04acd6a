"""The Kafka transport (kafka-python): the production
:class:`~klachtradar.runtime.transport.Transport`.

What it adds to the interface's contract, and why:

* **Topics are created on start** if missing (:meth:`KafkaTransport.ensure_topics`), with
  the configured partitions and replication, so a fresh cluster needs no manual step.
* **One consumer per (topic, group)**, subscribed with a rebalance listener. Partitions
  are the unit of scale-out: start another ``klachtradar process`` and the group
  spreads the raw topic's partitions over the members.
* **Manual commits through a checkpoint** (:meth:`GroupConsumer.commit`): offsets are
  committed only after the producer has acknowledged the batch's output, and a batch
  whose output was flushed but not yet committed when its partitions move is committed
  by the rebalance listener, so the next owner does not redo it.
* **Rewind on failure** (:meth:`KafkaTransport.rewind`): a batch whose output could not
  be flushed is read again (seek back to its first offset) instead of being skipped by
  the next commit — the at-least-once half that a plain retry loop forgets.

Positions are ``"{partition}/{offset}"`` — what a dead letter names as its position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from klachtradar.errors import TransportError, UnsafeCommitError
from klachtradar.runtime.transport import (
    Message,
    OutgoingMessage,
    RecordsRejectedError,
    Rejected,
    Topics,
)
from klachtradar.settings import KafkaSettings

log = logging.getLogger("klachtradar.kafka")


def client_config(settings: KafkaSettings) -> dict[str, Any]:
    """Connection and security options every kafka-python client shares.

    >>> client_config(KafkaSettings(bootstrap_servers="a:9092,b:9092"))["bootstrap_servers"]
    ['a:9092', 'b:9092']
    """
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.bootstrap_servers.split(",") if s],
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
        "reconnect_backoff_max_ms": int(settings.retry_backoff_max_s * 1000),
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = settings.ssl_check_hostname
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(settings, key)
            if path is not None:
                config[key] = str(path)
    if settings.security_protocol.startswith("SASL_"):
        if settings.sasl_mechanism is None or settings.sasl_username is None:
            raise TransportError(
                f"security_protocol {settings.security_protocol} needs [kafka] sasl_mechanism "
                "and sasl_username (and KLACHTRADAR_KAFKA__SASL_PASSWORD)",
                retryable=False,
            )
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        config["sasl_plain_password"] = password.get_secret_value() if password else ""
    return config


def format_position(partition: int, offset: int) -> str:
    """``"3/1042"``: partition 3, offset 1042."""
    return f"{partition}/{offset}"


def parse_position(position: str) -> tuple[int, int]:
    """The (partition, offset) of a position made by :func:`format_position`."""
    partition, _, offset = position.partition("/")
    return int(partition), int(offset)


_FATAL = (
    kafka_errors.AuthorizationError,
    kafka_errors.SaslAuthenticationFailedError,
    kafka_errors.UnsupportedSaslMechanismError,
    kafka_errors.KafkaConfigurationError,
    kafka_errors.IllegalArgumentError,
)


_RECORD_REJECTED = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.InvalidRecordError,
    kafka_errors.InvalidTimestampError,
)
"""Errors about one record (or its topic) that the same bytes will always get again."""


def rejects_record(exc: BaseException | None) -> bool:
    """Whether a produce error refuses the record itself, so retrying cannot help.

    These are not fatal to the process (the other records are fine) and not worth a
    retry (which would re-send every earlier record of the batch): the record is
    dead-lettered instead (see :class:`~klachtradar.runtime.transport.RecordsRejectedError`).
    """
    return isinstance(exc, _RECORD_REJECTED)


def _kafka_error(action: str, exc: Exception) -> TransportError:
    """A kafka-python error as ours: retryable unless retrying cannot help.

    Credentials, authorisation and configuration errors stop the process, and so do
    the record-level refusals (:func:`rejects_record`) when they reach here outside
    a produce; everything else (timeouts, lost connections, a rebalance in the way)
    is worth a backoff.
    """
    retryable = not isinstance(exc, _FATAL) and not rejects_record(exc)
    return TransportError(f"{action}: {type(exc).__name__}: {exc}", retryable=retryable)


class PartitionWatcher(Protocol):
    """Told when a member's partitions change (state that lives per partition).

    Called on kafka-python's network thread, inside a poll: keep it short (note the
    change; do the work on the consuming thread before the next batch).
    """

    def assigned(self, partitions: list[int]) -> None: ...

    def revoked(self, partitions: list[int]) -> None: ...


@dataclass
class GroupConsumer:
    """One consumer group member on one topic, with the checkpoint state at-least-once needs.

    ``done`` holds, per partition, the next offset whose output is safe (flushed) but not
    yet committed; ``unsafe_from`` the first offset delivered whose output is not safe
    yet — where :meth:`rewind` seeks back to.
    """

    topic: str
    group: str
    consumer: KafkaConsumer
    on_commit: Callable[[str, str, int], None] = lambda topic, group, count: None
    on_assigned_hook: Callable[[str, str, list[int]], None] = lambda topic, group, parts: None
    timeout_ms: int = 10_000
    done: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    delivered_next: dict[TopicPartition, int] = field(default_factory=dict)
    unsafe_from: dict[TopicPartition, int] = field(default_factory=dict)
    joined: bool = False
    held: list[Message] = field(default_factory=list)
    """Records a :meth:`join` polled; the next :meth:`poll` hands them out first."""
    watchers: list[PartitionWatcher] = field(default_factory=list)
    """Partition-scoped state to tell about assignments and revocations."""

    def join(self, *, max_records: int, timeout_s: float, give_up: Callable[[], bool]) -> bool:
        """Join the group now, before the first batch is wanted; True once joined.

        Joining takes seconds (the broker waits for other members: tansu half the
        session timeout, Kafka ``group.initial.rebalance.delay.ms``), so ``process``
        joins while its model loads instead of after. kafka-python joins inside
        ``poll``, which may return records: they are kept in :attr:`held` with the
        usual bookkeeping, not lost. Best effort: an unreachable broker or
        ``give_up()`` ends it, and the normal loop joins (with its backoff) later.
        """
        while not self.joined and not give_up():
            try:
                self.held += self._fetch(max_records, timeout_s)
            except TransportError as exc:
                log.warning("early join failed", extra={"fields": {"error": str(exc)}})
                return False
            if self.held:
                break
        return self.joined or bool(self.held)

    def poll(self, *, max_records: int, timeout_s: float) -> list[Message]:
        """The next records of the assigned partitions (rebalances happen in here)."""
        if self.held:
            messages, self.held = self.held, []
            return messages
        return self._fetch(max_records, timeout_s)

    def _fetch(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except KafkaError as exc:
            raise _kafka_error(f"poll {self.topic}", exc) from exc
        messages: list[Message] = []
        for tp, records in batches.items():
            if not records:
                continue
            self.unsafe_from.setdefault(tp, records[0].offset)
            self.delivered_next[tp] = records[-1].offset + 1
            messages.extend(_message(tp, record) for record in records)
        return messages

    def commit(self, messages: Sequence[Message], *, unacknowledged: int) -> None:
        """Commit a processed batch: its offsets become the group's position.

        Steps, in order (the code below follows them one by one):

          1. refuse while the producer holds unacknowledged output — committing now
             could lose it if the process died before the broker has it;
          2. fold the batch into the next offset per partition (last offset + 1),
             checking offsets increase within a partition and were delivered to this
             member — anything else means the batch is not what was polled;
          3. mark those offsets done: the output is safe, so a rebalance from here on
             commits them (see :meth:`on_revoked`) instead of letting them be redone;
          4. pick the done offsets of partitions this member still owns; lost ones are
             dropped — their new owner reads from the last commit, and the ids make
             that redelivery harmless;
          5. commit them, synchronously;
          6. forget what was committed.
        """
        if unacknowledged:  # 1
            raise UnsafeCommitError(
                f"{unacknowledged} produced messages not acknowledged; flush before commit"
            )
        next_offsets = self._next_offsets(messages)  # 2
        self._mark_done(next_offsets)  # 3
        owned = set(self.consumer.assignment())  # 4
        self._drop_unowned(owned)
        offsets = self._offsets_to_commit(owned)
        if self._send_commit(offsets):  # 5
            self._committed_now(offsets)  # 6
            self.on_commit(self.topic, self.group, len(offsets))

    def _mark_done(self, next_offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in next_offsets.items():
            self.done[tp] = max(offset, self.done.get(tp, 0))
            if self.delivered_next.get(tp, 0) <= offset:
                self.unsafe_from.pop(tp, None)
            else:
                self.unsafe_from[tp] = offset

    def _next_offsets(self, messages: Sequence[Message]) -> dict[TopicPartition, int]:
        next_offsets: dict[TopicPartition, int] = {}
        for message in messages:
            partition, offset = parse_position(message.position)
            tp = TopicPartition(message.topic, partition)
            if message.topic != self.topic:
                raise UnsafeCommitError(f"{message.topic} message committed on {self.topic}")
            if tp not in self.delivered_next:
                continue  # the partition moved since the poll; its new owner redoes it
            if offset < next_offsets.get(tp, 0):
                raise UnsafeCommitError(f"{tp}: offsets go backwards within the batch")
            if offset >= self.delivered_next[tp]:
                raise UnsafeCommitError(f"{tp}: offset {offset} was never delivered")
            next_offsets[tp] = offset + 1
        return next_offsets

    def _commit_done(self, owned: set[TopicPartition]) -> int:
        """Commit done offsets of owned partitions; returns how many partitions moved."""
        self._drop_unowned(owned)
        offsets = self._offsets_to_commit(owned)
        return self._committed_now(offsets) if self._send_commit(offsets) else 0

    def _send_commit(self, offsets: dict[TopicPartition, Any]) -> bool:
        """Commit synchronously; False if the group refused (it rebalanced without us)."""
        if not offsets:
            return False
        try:
            self.consumer.commit(offsets, timeout_ms=self.timeout_ms)
        except CommitFailedError as exc:
            self._commit_refused(exc)
            return False
        except KafkaError as exc:
            raise _kafka_error(f"commit {self.topic}", exc) from exc
        return True

    def _offsets_to_commit(self, partitions: set[TopicPartition]) -> dict[TopicPartition, Any]:
        """Done offsets of these partitions that move beyond the last commit."""
        return {
            tp: OffsetAndMetadata(offset, "", -1)
            for tp, offset in self.done.items()
            if tp in partitions and offset > self.committed.get(tp, -1)
        }

    def _drop_unowned(self, owned: set[TopicPartition]) -> None:
        """Forget done offsets of partitions that moved: their new owner redoes them."""
        for tp in [tp for tp in self.done if tp not in owned]:
            del self.done[tp]

    def _commit_refused(self, exc: Exception) -> None:
        """The group moved on without us: the new owners redo from the last commit."""
        log.warning(
            "commit refused after a rebalance; batch will be redelivered",
            extra={"fields": {"topic": self.topic, "group": self.group, "error": str(exc)}},
        )
        self.done.clear()

    def _committed_now(self, offsets: dict[TopicPartition, Any]) -> int:
        for tp, meta in offsets.items():
            self.committed[tp] = meta.offset
            if self.done.get(tp) == meta.offset:
                del self.done[tp]
        return len(offsets)

    async def on_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        """Before partitions move: commit what is done on them, forget the rest.

        kafka-python runs rebalance callbacks on its network thread, where a blocking
        commit is refused, so this one awaits the coordinator's commit instead.
        """
        revoked_set = set(revoked)
        count = 0
        offsets = self._offsets_to_commit(revoked_set)
        if offsets:
            coordinator = self.consumer._coordinator
            try:
                await coordinator._commit_offsets_sync_async(offsets, timeout_ms=self.timeout_ms)
                count = self._committed_now(offsets)
            except Exception as exc:  # never fail a rebalance: the next owner redelivers
                log.warning(
                    "could not commit before rebalance; next owner redelivers",
                    extra={"fields": {"topic": self.topic, "error": str(exc)}},
                )
        self._forget(revoked_set)
        for watcher in self.watchers:
            watcher.revoked(sorted(tp.partition for tp in revoked_set))
        log.info(
            "partitions revoked",
            extra={
                "fields": {
                    "topic": self.topic,
                    "group": self.group,
                    "partitions": sorted(tp.partition for tp in revoked_set),
                    "committed_partitions": count,
                }
            },
        )

    def on_lost(self, lost: Sequence[TopicPartition]) -> None:
        """Evicted from the group (session expired): nothing can be committed, forget."""
        self._forget(set(lost))
        for watcher in self.watchers:
            watcher.revoked(sorted(tp.partition for tp in lost))
        log.warning(
            "partitions lost; they will be redelivered to their new owner",
            extra={
                "fields": {
                    "topic": self.topic,
                    "group": self.group,
                    "partitions": sorted(tp.partition for tp in lost),
                }
            },
        )

    def _forget(self, partitions: set[TopicPartition]) -> None:
        for state in (self.done, self.delivered_next, self.unsafe_from, self.committed):
            for tp in partitions:
                state.pop(tp, None)
        # Held records of partitions that moved belong to their new owner now.
        self.held = [m for m in self.held if _partition_of(m) not in partitions]

    def on_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        """New partitions start from the group's committed offsets (Kafka does the seek).

        Called after every join, also with no partitions (more members than
        partitions): the member is in the group either way, which readiness needs.
        """
        partitions = sorted(tp.partition for tp in assigned)
        log.info(
            "partitions assigned",
            extra={"fields": {"topic": self.topic, "group": self.group, "partitions": partitions}},
        )
        self.joined = True
        for watcher in self.watchers:
            watcher.assigned(partitions)
        self.on_assigned_hook(self.topic, self.group, partitions)

    def rewind(self) -> None:
        """Seek owned partitions back to the first offset whose output is not safe."""
        self.held.clear()  # their offsets are in unsafe_from: the seek reads them again
        owned = set(self.consumer.assignment())
        for tp, offset in list(self.unsafe_from.items()):
            if tp in owned:
                self.consumer.seek(tp, offset)
            self.delivered_next.pop(tp, None)
        self.unsafe_from.clear()

    def lag(self) -> dict[int, int]:
        """Messages behind the end of each owned partition (never negative)."""
        owned = list(self.consumer.assignment())
        if not owned:
            return {}
        try:
            ends = self.consumer.end_offsets(owned, timeout_ms=self.timeout_ms)
            return {
                tp.partition: max(0, ends[tp] - self.consumer.position(tp))
                for tp in owned
                if tp in ends
            }
        except KafkaError as exc:
            raise _kafka_error(f"lag {self.topic}", exc) from exc

    def close(self) -> None:
        """Commit what is done, then leave the group so partitions move at once."""
        try:
            self._commit_done(set(self.consumer.assignment()))
        except TransportError as exc:
            log.warning("final commit failed", extra={"fields": {"error": str(exc)}})
        self.consumer.close(autocommit=False, timeout_ms=self.timeout_ms)


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards rebalance callbacks to the member (async: revoke commits on the IO thread)."""

    def __init__(self, member: Callable[[], GroupConsumer]) -> None:
        self._member = member

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        await self._member().on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._member().on_assigned(assigned)

    async def on_partitions_lost(self, lost: Sequence[TopicPartition]) -> None:
        self._member().on_lost(lost)


def _partition_of(message: Message) -> TopicPartition:
    return TopicPartition(message.topic, parse_position(message.position)[0])


def _message(tp: TopicPartition, record: Any) -> Message:
    headers = {
        name: (value or b"").decode("utf-8", errors="replace") for name, value in record.headers
    }
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    return Message(
        topic=tp.topic,
        key=key,
        value=record.value if record.value is not None else b"",
        position=format_position(tp.partition, record.offset),
        headers=headers,
        timestamp=record.timestamp / 1000 if getattr(record, "timestamp", -1) >= 0 else None,
    )


class KafkaTransport:
    """Kafka behind the :class:`~klachtradar.runtime.transport.Transport` interface.

    >>> transport = KafkaTransport(load_settings().kafka)     # doctest: +SKIP
    >>> transport.ensure_topics()                              # doctest: +SKIP
    >>> process_step(transport, pipeline, transport.topics)    # doctest: +SKIP
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        on_commit: Callable[[str, str, int], None] | None = None,
        on_produced: Callable[[str, int], None] | None = None,
        on_assigned: Callable[[str, str, list[int]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self._on_commit = on_commit or (lambda topic, group, count: None)
        self._on_assigned = on_assigned or (lambda topic, group, partitions: None)
        self._on_produced = on_produced or (lambda topic, count: None)
        self._producer: KafkaProducer | None = None
        self._pending: list[tuple[str, OutgoingMessage, FutureRecordMetadata]] = []
        self._rejected: list[Rejected] = []
        self._members: dict[tuple[str, str], GroupConsumer] = {}

    # -- topics --------------------------------------------------------------------------

    def ensure_topics(self, names: Sequence[str] | None = None) -> list[str]:
        """Create missing topics with the configured partitions; returns those created."""
        wanted = list(names or self.all_topics())
        try:
            admin = KafkaAdminClient(**client_config(self.settings))
        except (KafkaError, OSError) as exc:
            raise _kafka_error("connect for topic creation", exc) from exc
        try:
            missing = [name for name in wanted if name not in set(admin.list_topics())]
            created: list[str] = []
            for name in missing:
                compacted = name in self.topics.changelogs
                topic = NewTopic(
                    name,
                    num_partitions=self.settings.partitions,
                    replication_factor=self.settings.replication_factor,
                    topic_configs={"cleanup.policy": "compact"} if compacted else {},
                )
                try:
                    admin.create_topics([topic])
                    created.append(name)
                except TopicAlreadyExistsError:  # another process won the race
                    pass
        except KafkaError as exc:
            raise _kafka_error("create topics", exc) from exc
        finally:
            admin.close()
        if created:
            log.info("topics created", extra={"fields": {"topics": created}})
        return created

    def all_topics(self) -> list[str]:
        """Every topic klachtradar uses under the configured prefix.

        All get ``[kafka] partitions``: a changelog must have as many partitions as
        the topic whose state it holds (raw, complaints), partition for partition.
        """
        t = self.topics
        return [t.raw, t.scored, t.alerts, t.dlq, t.complaints, *t.changelogs]

    # -- producing -----------------------------------------------------------------------

    @property
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            s = self.settings
            try:
                self._producer = KafkaProducer(
                    **client_config(s),
                    acks="all",
                    linger_ms=s.linger_ms,
                    batch_size=s.producer_batch_bytes,
                    max_request_size=s.max_request_bytes,
                    max_block_ms=int(s.retry_backoff_max_s * 1000),
                    request_timeout_ms=max(5_000, int(s.retry_backoff_max_s * 1000)),
                    delivery_timeout_ms=max(30_000, int(s.retry_backoff_max_s * 3000)),
                )
            except KafkaError as exc:
                raise _kafka_error("connect producer", exc) from exc
        return self._producer

    def produce(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        """Queue messages; nothing is safe until :meth:`flush` returned.

        A message the producer refuses outright (larger than ``max_request_bytes``) is
        set aside as rejected, and the others are still queued.
        """
        producer = self.producer
        for m in messages:
            try:
                future = producer.send(
                    topic,
                    partition=m.partition,
                    value=m.value or None,  # an empty value is a tombstone (null)
                    key=m.key.encode("utf-8") if m.key is not None else None,
                    headers=[(k, v.encode("utf-8")) for k, v in m.headers.items()],
                )
            except KafkaError as exc:
                if not rejects_record(exc):
                    raise _kafka_error(f"produce to {topic}", exc) from exc
                self._rejected.append(Rejected(topic, m, f"{type(exc).__name__}: {exc}"))
                continue
            self._pending.append((topic, m, future))

    def flush(self) -> None:
        """Block until every queued message is acknowledged; any failure raises.

        kafka-python's ``flush`` returns when every send *completed*, failed ones
        included, so each future is checked. A send that failed for a reason that may
        pass (a timeout, a lost leader) fails the whole batch, which is then redone
        (duplicates are absorbed by ids; losses are not). Sends refused for good
        (:func:`rejects_record`) raise :class:`RecordsRejectedError` once every other
        message is acknowledged, so the caller dead-letters just those.
        """
        pending, self._pending = self._pending, []
        rejected, self._rejected = self._rejected, []
        if not pending and not rejected:
            return
        try:
            self.producer.flush(timeout=self.settings.retry_backoff_max_s * 3)
        except KafkaError as exc:
            raise _kafka_error("flush", exc) from exc
        failed: list[BaseException | None] = []
        acknowledged: dict[str, int] = {}
        for topic, message, future in pending:
            if not future.is_done:
                failed.append(None)
            elif not future.failed():
                acknowledged[topic] = acknowledged.get(topic, 0) + 1
            elif rejects_record(future.exception):
                reason = f"{type(future.exception).__name__}: {future.exception}"
                rejected.append(Rejected(topic, message, reason))
            else:
                failed.append(future.exception)
        if failed:
            first = next((f for f in failed if f is not None), None)
            raise TransportError(
                f"{len(failed)} of {len(pending)} messages not acknowledged"
                + (f": {type(first).__name__}: {first}" if first else ""),
                retryable=True,
            )
        for topic, count in acknowledged.items():
            self._on_produced(topic, count)
        if rejected:
            raise RecordsRejectedError(rejected)

    @property
    def unacknowledged(self) -> int:
        """Messages produced since the last successful flush."""
        return len(self._pending)

    # -- consuming -----------------------------------------------------------------------

    def member(self, topic: str, group: str) -> GroupConsumer:
        """The group member consuming ``topic`` for ``group`` (joined on first use)."""
        key = (topic, group)
        if key not in self._members:
            s = self.settings
            try:
                consumer = KafkaConsumer(
                    **client_config(s),
                    group_id=group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_poll_records=s.batch_size,
                    max_poll_interval_ms=s.max_poll_interval_ms,
                    session_timeout_ms=s.session_timeout_ms,
                    heartbeat_interval_ms=s.heartbeat_interval_ms,
                )
            except KafkaError as exc:
                raise _kafka_error(f"join {group}", exc) from exc
            member = GroupConsumer(
                topic,
                group,
                consumer,
                on_commit=self._on_commit,
                on_assigned_hook=self._on_assigned,
                timeout_ms=int(s.retry_backoff_max_s * 3000),
            )
            consumer.subscribe([topic], listener=_Listener(lambda: member))
            self._members[key] = member
        return self._members[key]

    def poll(self, topic: str, group: str, *, max_records: int, timeout_s: float) -> list[Message]:
        return self.member(topic, group).poll(max_records=max_records, timeout_s=timeout_s)

    def commit(self, topic: str, group: str, messages: Sequence[Message]) -> None:
        if messages:
            self.member(topic, group).commit(messages, unacknowledged=self.unacknowledged)

    def rewind(self, topic: str, group: str) -> None:
        """After a failed batch: drop unflushed output, read the batch again."""
        self._pending.clear()
        self._rejected.clear()
        if (topic, group) in self._members:
            self._members[(topic, group)].rewind()

    def members(self) -> Iterator[GroupConsumer]:
        return iter(list(self._members.values()))

    def close(self) -> None:
        """Flush what is queued, commit what is done, leave groups, close connections."""
        try:
            self.flush()
        except TransportError as exc:
            log.warning("output lost on close", extra={"fields": {"error": str(exc)}})
            self.rewind("", "")
        for member in self.members():
            member.close()
        self._members.clear()
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
