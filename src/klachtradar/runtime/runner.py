"""Runners: move batches from a source through the pipeline into the outputs.

Two shapes, one pipeline:

* :func:`run_embedded` — source → pipeline → outputs in one process (the default; no
  Kafka, no Elasticsearch). Records stay Python objects, no serialisation.
* :func:`listen_step`, :func:`process_step`, :func:`index_step` — the same work split
  over a :class:`~klachtradar.runtime.transport.Transport`, one step per process kind
  (``listen``, ``process``, ``index``), each committing only after its output is safe.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from klachtradar.contract import (
    DEFAULT_MAX_POST_BYTES,
    KEPT_PREFIX_BYTES,
    NOT_UTF8,
    Alert,
    AlertKind,
    DeadLetter,
    DeletedPost,
    RawPost,
    ScoredPost,
    limited_letter,
    oversized_letter,
    parse_deleted_post,
    parse_raw_post,
    raw_fields,
    utf8_error,
)
from klachtradar.errors import ContractError
from klachtradar.ports import Outputs, PipelineOutput, Record
from klachtradar.runtime.deletes import split_records
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.stream_events import STATUS_RECORD, StatusChange

if TYPE_CHECKING:
    from klachtradar.runtime.judging import Judgement, JudgePool
    from klachtradar.runtime.process_state import ProcessState
from klachtradar.runtime.transport import (
    Message,
    OutgoingMessage,
    RecordsRejectedError,
    Rejected,
    Topics,
    Transport,
    dead_letter_message,
    encode,
)


@dataclass
class RunStats:
    """Counters for the end-of-run summary."""

    records: int = 0
    posts: int = 0
    dead_letters: int = 0
    deleted: int = 0
    classified: int = 0
    not_classified: int = 0
    with_brand: int = 0
    complaints: int = 0
    alerts: int = 0
    incidents: int = 0
    elapsed_s: float = 0.0
    alerts_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def posts_per_second(self) -> float:
        return self.posts / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, records: int, output: PipelineOutput) -> None:
        self.records += records
        self.posts += len(output.scored)
        self.dead_letters += len(output.dead_letters)
        self.deleted += len(output.deleted)
        for post in output.scored:
            cls = post.classification
            if cls is None:
                self.not_classified += 1
            else:
                self.classified += 1
                self.complaints += cls.complaint_probability >= 0.5
            self.with_brand += bool(post.brands)
        for alert in output.alerts:
            self.alerts += 1
            self.incidents += alert.kind is AlertKind.INCIDENT
            self.alerts_by_kind[alert.kind.value] = self.alerts_by_kind.get(alert.kind.value, 0) + 1


def run_embedded(
    batches: Iterable[Sequence[Record]],
    pipeline: Pipeline,
    outputs: Outputs,
    *,
    on_batch: Callable[[RunStats], None] | None = None,
    judges: JudgePool | None = None,
    end_of_input: bool = True,
    arrival: Callable[[RawPost], datetime | None] | None = None,
) -> RunStats:
    """Process every batch of a source in-process.

    Per batch, in this order:
      1. split the source's records into posts, the dead letters it already made and
         deletes; the pipeline forgets the deleted posts;
      2. run the pipeline on the posts (poison posts become dead letters there);
      3. hand the combined output to ``outputs`` (deletes, store, then alerts);
      4. count, and report progress.

    With ``end_of_input`` (the batches are the whole input, e.g. a file) the incident
    alerts still waiting for the event-time watermark are written at the end; a caller
    feeding one batch of a live stream at a time passes False.

    With ``judges`` (worker processes, for unpaced replays) step 2's pure stages run
    one batch ahead in a worker: batch *n + 1* is being judged while batch *n* is
    scored and stored here. A worker failure falls back to judging in-process.

    ``arrival`` gives when a post reached the stream, for the overload cascade (a live
    source: its ``received_at``); without it (a file replay) there is no lag.
    """
    stats = RunStats()

    def arrived(posts: Sequence[RawPost]) -> list[datetime | None]:
        return [arrival(p) for p in posts] if arrival is not None else []

    started = time.perf_counter()

    def finish(
        batch: Sequence[Record],
        output: PipelineOutput,
        dead: list[DeadLetter],
        deletes: Sequence[DeletedPost] = (),
    ) -> None:
        output.dead_letters[:0] = dead
        output.deleted[:0] = deletes
        outputs.write(output)
        stats.add(len(batch), output)
        stats.elapsed_s = time.perf_counter() - started
        if on_batch is not None:
            on_batch(stats)

    if judges is None:
        for batch in batches:
            posts, dead, deletes = split_records(batch)
            pipeline.forget(deletes)
            finish(batch, pipeline.process(posts, arrived=arrived(posts)), dead, deletes)
    else:
        pending: deque[tuple[Sequence[Record], list[RawPost], list[DeadLetter], Future[Judgement]]]
        pending = deque()
        for batch in batches:
            posts, dead, deletes = split_records(batch)
            judging = judges.submit(posts, quota=pipeline.route(arrived(posts)))
            pending.append((batch, posts, dead, judging))
            if len(pending) > judges.processes:
                finish(*_judged_output(pipeline, *pending.popleft()))
            if deletes:  # forgotten now; they reach the outputs (alone) in stream order
                pipeline.forget(deletes)
                finish([], PipelineOutput(), [], deletes)
        while pending:
            finish(*_judged_output(pipeline, *pending.popleft()))
    if end_of_input:
        tail = pipeline.end_of_input()
        if tail.alerts:
            finish([], tail, [])
    stats.elapsed_s = time.perf_counter() - started
    return stats


def _judged_output(
    pipeline: Pipeline,
    batch: Sequence[Record],
    posts: list[RawPost],
    dead: list[DeadLetter],
    future: Future[Judgement],
) -> tuple[Sequence[Record], PipelineOutput, list[DeadLetter]]:
    try:
        judged = future.result()
    except Exception:  # a worker died or its stage raised: judge here, poison isolation included
        return batch, pipeline.process(posts), dead
    return batch, pipeline.process(posts, judged=judged), dead


# -- the same work over a transport ---------------------------------------------------------


TRACE_HEADER = "trace_id"
"""Header naming one post's journey: set by ``listen``, copied onto scored posts and alerts."""

RECORD_HEADER = "record"
"""Header saying what a message holds when it is not a post: ``delete`` (a
:class:`DeletedPost`). Consumers older than schema 1.1 dead-letter such a message
(it is not a valid post), never misread it."""

DELETE_RECORD = "delete"


ATTEMPTS_HEADER = "dlq_attempts"
"""Header on a message ``dlq replay`` re-drove: the ``attempts`` of the letter it came from."""


def new_trace_id() -> str:
    """A fresh trace id (32 hex digits, W3C trace-context sized)."""
    return uuid.uuid4().hex


def listen_step(records: Sequence[Record], transport: Transport, topics: Topics) -> None:
    """Publish a source batch: posts to the raw topic (keyed by author), bad input to the DLQ.

    Every message carries a ``source``, its ``doc_id`` and a fresh ``trace_id`` header.
    A post the broker refuses for good (too large) becomes a dead letter; the rest of
    the batch is published once, never re-sent (see :func:`flush_or_dead_letter`).
    """
    posts = [
        OutgoingMessage(
            key=r.author.id,
            value=encode(r),
            headers={"source": r.source, "doc_id": r.doc_id, TRACE_HEADER: new_trace_id()},
        )
        for r in records
        if isinstance(r, RawPost)
    ]
    posts += [delete_message(r) for r in records if isinstance(r, DeletedPost)]
    dead = [dead_letter_message(r) for r in records if isinstance(r, DeadLetter)]
    transport.produce(topics.raw, posts)
    transport.produce(topics.dlq, dead)
    flush_or_dead_letter(transport, topics, stage="publish")


def delete_message(deleted: DeletedPost) -> OutgoingMessage:
    """A delete as a message, keyed like its post (the author id) when the source said.

    Same key, same partition: a reader of that partition sees the post, then its
    delete. A delete without an author (Mastodon names the status only) is keyed by
    doc id; the sinks' tombstones make the order irrelevant there.
    """
    headers = {
        "source": deleted.source,
        "doc_id": deleted.doc_id,
        RECORD_HEADER: DELETE_RECORD,
        TRACE_HEADER: new_trace_id(),
    }
    return OutgoingMessage(
        key=deleted.author_id or deleted.doc_id, value=encode(deleted), headers=headers
    )


def status_message(change: StatusChange) -> OutgoingMessage:
    """A triage status change as a raw-topic message, keyed (and so partitioned) by author."""
    headers = {"doc_id": change.doc_id, RECORD_HEADER: STATUS_RECORD}
    return OutgoingMessage(key=change.author_id, value=encode(change), headers=headers)


def is_delete(message: Message) -> bool:
    """Whether a consumed message carries a :class:`DeletedPost`."""
    return message.headers.get(RECORD_HEADER) == DELETE_RECORD


def flush_or_dead_letter(transport: Transport, topics: Topics, *, stage: str) -> None:
    """Flush; messages the broker refuses for good become dead letters, acknowledged too.

    A refused message is not retried: its bytes would be refused again, and a retry
    of the batch would re-send every message already acknowledged. When the DLQ itself
    refuses a letter there is nowhere left to put it, and the error propagates.
    """
    try:
        transport.flush()
    except RecordsRejectedError as exc:
        if any(r.topic == topics.dlq for r in exc.rejected):
            raise
        letters = [rejected_letter(r, stage) for r in exc.rejected]
        transport.produce(topics.dlq, [dead_letter_message(d) for d in letters])
        transport.flush()


def rejected_letter(rejected: Rejected, stage: str) -> DeadLetter:
    """The dead letter of a message the broker refused: where it was going, and why.

    A large message keeps a prefix, its size and hash only, so the letter fits the DLQ.
    """
    message = rejected.message
    position = message.headers.get("doc_id") or message.key or ""
    return limited_letter(
        rejected.topic, position, stage, rejected.reason, message.value, KEPT_PREFIX_BYTES
    )


def message_arrivals(decoded: _Decoded) -> list[datetime | None]:
    """When each post reached the raw topic: its message's broker timestamp, else the
    listener's ``received_at`` (for the overload cascade, :mod:`classify.cascade`)."""
    out: list[datetime | None] = []
    for post in decoded.posts:
        message = decoded.by_doc.get(post.doc_id)
        stamp = message.timestamp if message is not None else None
        out.append(datetime.fromtimestamp(stamp, UTC) if stamp else post.received_at)
    return out


def decode_posts(
    messages: Sequence[Message], *, max_post_bytes: int = DEFAULT_MAX_POST_BYTES
) -> tuple[list[RawPost], list[DeadLetter]]:
    """Raw-topic messages to posts; undecodable, invalid or oversized ones to dead letters."""
    decoded = _decode(messages, max_post_bytes)
    return decoded.posts, decoded.dead


@dataclass
class _Decoded:
    """A raw batch decoded: posts, dead letters, deletes, and each post's message by doc id."""

    posts: list[RawPost] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    deletes: list[DeletedPost] = field(default_factory=list)
    by_doc: dict[str, Message] = field(default_factory=dict)
    statuses: list[StatusChange] = field(default_factory=list)


def decode_delete(message: Message) -> DeletedPost | DeadLetter:
    """A delete message's :class:`DeletedPost`, or the dead letter of a broken one."""
    try:
        return parse_deleted_post(message.value)
    except ContractError as exc:
        return message_dead_letter(message, "decode", f"delete record: {exc}")


def _decode(messages: Sequence[Message], max_post_bytes: int = DEFAULT_MAX_POST_BYTES) -> _Decoded:
    """:func:`decode_posts`, plus the deletes and which message each post came from.

    The raw topic is an intake too (any producer may write to it), so the size limit
    every listener applies holds here as well.
    """
    out = _Decoded()
    posts, dead, by_doc = out.posts, out.dead, out.by_doc
    for message in messages:
        if is_delete(message):
            deleted = decode_delete(message)
            if isinstance(deleted, DeletedPost):
                out.deletes.append(deleted)
            else:
                dead.append(deleted)
            continue
        if message.headers.get(RECORD_HEADER) == STATUS_RECORD:
            try:
                out.statuses.append(StatusChange.model_validate_json(message.value))
            except ValueError as exc:
                dead.append(message_dead_letter(message, "decode", f"status record: {exc}"))
            continue
        if len(message.value) > max_post_bytes:
            letter = oversized_letter(
                message.topic, message.position, "decode", message.value, max_post_bytes
            )
            dead.append(letter.model_copy(update={"attempts": failed_attempts(message.headers)}))
            continue
        try:
            post = parse_raw_post(message.value)
        except ContractError as exc:
            dead.append(message_dead_letter(message, "decode", str(exc)))
            continue
        posts.append(post)
        by_doc[post.doc_id] = message
    return out


def message_dead_letter(message: Message, stage: str, error: str) -> DeadLetter:
    """A dead letter for a consumed message: its topic, position, original bytes, attempts.

    A message re-driven by ``dlq replay`` carries the letter's attempt count in the
    :data:`ATTEMPTS_HEADER`; failing again makes it one more, so the next replay can
    tell an input that keeps failing from one that failed once.
    """
    raw, raw_base64 = raw_fields(message.value)
    problem = utf8_error(message.value) if raw_base64 is not None else None
    if problem is not None and not error.startswith(NOT_UTF8):
        error = f"{problem}: {error}"
    return DeadLetter(
        origin=message.topic,
        position=message.position,
        stage=stage,
        error=error,
        raw=raw,
        raw_base64=raw_base64,
        attempts=failed_attempts(message.headers),
    )


def failed_attempts(headers: Mapping[str, str]) -> int:
    """How often a consumed message's input has failed, counting this failure.

    1 for fresh input; the re-driven letter's ``attempts`` + 1 for a replayed one. A
    header that is not a positive number (a foreign producer) counts as fresh input.
    """
    value = headers.get(ATTEMPTS_HEADER, "")
    return int(value) + 1 if value.isdigit() and int(value) >= 1 else 1


AlertLatency = Callable[[str, float], None]
"""Told ``(alert kind, seconds from the post's arrival to the alert produced)``."""


def process_step(
    transport: Transport,
    pipeline: Pipeline,
    topics: Topics,
    *,
    group: str = "klachtradar-process",
    max_records: int = 500,
    timeout_s: float = 1.0,
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES,
    on_alert_latency: AlertLatency | None = None,
    state: ProcessState | None = None,
) -> int:
    """One poll of the raw topic through the pipeline; returns messages handled.

    Commit path, in order: restore partitions that moved here and drop messages of
    partitions that moved away (``state``) → decode → forget the deleted posts, apply
    status changes → process → produce deletes, scored, alerts, dead letters and the
    state's changelog and complaint events → flush the producer → commit the
    consumed offsets. A crash anywhere
    before the commit means the batch is delivered again; ids make that harmless.
    Scored posts and post alerts carry the ``trace_id`` of the raw message; dead
    letters of a stage point at the consumed message (topic, partition/offset, bytes).
    """
    messages = transport.poll(topics.raw, group, max_records=max_records, timeout_s=timeout_s)
    if not messages:
        return 0
    kept = state.prepare(messages) if state is not None else messages
    decoded = _decode(kept, max_post_bytes)
    pipeline.forget(decoded.deletes)
    pipeline.apply_statuses(decoded.statuses)
    output = pipeline.process(decoded.posts, arrived=message_arrivals(decoded))
    output.deleted[:0] = decoded.deletes
    extra = state.outgoing(output, decoded.posts, decoded.by_doc) if state is not None else []
    _deliver(
        transport, topics, group, kept, output, decoded.dead, decoded.by_doc, on_alert_latency,
        extra,
    )  # fmt: skip
    return len(messages)


def _deliver(
    transport: Transport,
    topics: Topics,
    group: str,
    messages: Sequence[Message],
    output: PipelineOutput,
    dead: list[DeadLetter],
    by_doc: dict[str, Message],
    on_alert_latency: AlertLatency | None = None,
    extra: Sequence[tuple[str, OutgoingMessage]] = (),
) -> int:
    """Produce a processed batch's output (and ``extra``: state changelog, complaint
    events), wait for the broker, then commit the batch."""
    output.dead_letters[:0] = dead
    output.dead_letters = [_with_origin(d, by_doc) for d in output.dead_letters]
    traces = {doc: m.headers.get(TRACE_HEADER, "") for doc, m in by_doc.items()}
    transport.produce(topics.scored, [delete_message(d) for d in output.deleted])
    transport.produce(topics.scored, [_keyed(p, traces) for p in output.scored])
    transport.produce(topics.alerts, [_alert_message(a, traces) for a in output.alerts])
    transport.produce(topics.dlq, [dead_letter_message(d) for d in output.dead_letters])
    for topic, message in extra:
        transport.produce(topic, [message])
    flush_or_dead_letter(transport, topics, stage="produce")
    if on_alert_latency is not None:
        observe_arrival_to_alert(output, by_doc, on_alert_latency)
    transport.commit(topics.raw, group, messages)
    return len(messages)


def observe_arrival_to_alert(
    output: PipelineOutput,
    by_doc: Mapping[str, Message],
    observe: AlertLatency,
    *,
    now: float | None = None,
) -> None:
    """Time from each alerted post's arrival to now, when its alert has been produced.

    Arrival is the post's ``received_at`` (the listener's clock), else the raw
    message's broker timestamp. An alert whose post is not in this batch (an incident
    the watermark released later) is not timed here: its arrival is not known.
    """
    now = time.time() if now is None else now
    received = {
        p.doc_id: p.post.received_at.timestamp() for p in output.scored if p.post.received_at
    }
    for alert in output.alerts:
        if alert.doc_id is None:
            continue
        arrived = received.get(alert.doc_id)
        if arrived is None and (message := by_doc.get(alert.doc_id)) is not None:
            arrived = message.timestamp
        if arrived is not None:
            observe(alert.kind.value, max(0.0, now - arrived))


@dataclass
class _Polled:
    """A polled raw batch whose language and classification a worker is working on."""

    messages: list[Message]
    decoded: _Decoded
    judgement: Future[Judgement]


class LookaheadProcessStep:
    """:func:`process_step` with language and classification one batch ahead in a worker.

    Each call polls the next batch and hands its texts to a :class:`JudgePool` worker,
    then finishes the batch polled before — history, risk and alerts here, produce,
    flush, commit — while the worker judges the new one: the two cores work at once.
    Delivery is unchanged: a batch is committed only after its own output is
    acknowledged, and the consumer's bookkeeping (``unsafe_from``) already knows the
    batch polled ahead is not safe, so a rewind or a crash redoes it.

    While a batch waits, the next poll does not wait for data (``timeout 0``): at a
    trickle each batch is finished at once, so look-ahead adds no latency. Call
    :meth:`drain` before closing the transport to finish the batch in hand.
    """

    def __init__(
        self,
        transport: Transport,
        pipeline: Pipeline,
        topics: Topics,
        judges: JudgePool,
        *,
        group: str = "klachtradar-process",
        max_records: int = 500,
        timeout_s: float = 1.0,
        max_post_bytes: int = DEFAULT_MAX_POST_BYTES,
        on_alert_latency: AlertLatency | None = None,
        state: ProcessState | None = None,
    ) -> None:
        self.transport = transport
        self.state = state
        self.max_post_bytes = max_post_bytes
        self.on_alert_latency = on_alert_latency
        self.pipeline = pipeline
        self.topics = topics
        self.judges = judges
        self.group = group
        self.max_records = max_records
        self.timeout_s = timeout_s
        self._ahead: _Polled | None = None

    def __call__(self) -> int:
        """Poll one batch ahead, finish the one before; returns messages committed."""
        try:
            polled = self._poll()
            done = self._finish(self._ahead) if self._ahead is not None else 0
        except BaseException:
            self._drop()  # the transport rewinds to the first unsafe offset: redone
            raise
        self._ahead = polled
        return done

    @property
    def holding(self) -> bool:
        """Whether a polled batch waits to be finished."""
        return self._ahead is not None

    def drain(self) -> int:
        """Finish the batch polled ahead (at shutdown); returns messages committed."""
        if self._ahead is None:
            return 0
        try:
            return self._finish(self._ahead)
        finally:
            self._ahead = None

    def _poll(self) -> _Polled | None:
        timeout = 0.0 if self._ahead is not None else self.timeout_s
        messages = self.transport.poll(
            self.topics.raw, self.group, max_records=self.max_records, timeout_s=timeout
        )
        if not messages:
            return None
        decoded = _decode(messages, self.max_post_bytes)
        ahead = self._ahead
        queued = len(ahead.decoded.posts) if ahead and not ahead.judgement.done() else 0
        try:
            quota = self.pipeline.route(message_arrivals(decoded), queued=queued)
            judgement = self.judges.submit(decoded.posts, quota=quota)
        except Exception as exc:  # a broken pool: this batch is judged here (see _finish)
            judgement = Future()
            judgement.set_exception(exc)
        return _Polled(messages, decoded, judgement)

    def _finish(self, batch: _Polled) -> int:
        """Finish a batch polled before; its state is prepared now, not at the poll:
        a rebalance in between (inside the later poll) moved partitions under it."""
        messages, decoded, judgement = batch.messages, batch.decoded, batch.judgement
        if self.state is not None:
            kept = self.state.prepare(messages)
            if len(kept) != len(messages):  # some moved away: the worker's judgement is
                judgement.cancel()  # for posts no longer all ours, judge the rest here
                messages, decoded = kept, _decode(kept, self.max_post_bytes)
                judgement = Future()
                judgement.set_exception(RuntimeError("partitions moved"))
        self.pipeline.forget(decoded.deletes)
        self.pipeline.apply_statuses(decoded.statuses)
        try:
            output = self.pipeline.process(decoded.posts, judged=judgement.result())
        except Exception:  # a worker died or its stage raised: judge here, isolating poison
            output = self.pipeline.process(decoded.posts)
        output.deleted[:0] = decoded.deletes
        extra = self.state.outgoing(output, decoded.posts, decoded.by_doc) if self.state else []
        _deliver(
            self.transport,
            self.topics,
            self.group,
            messages,
            output,
            decoded.dead,
            decoded.by_doc,
            self.on_alert_latency,
            extra,
        )
        return len(batch.messages)

    def _drop(self) -> None:
        if self._ahead is not None:
            self._ahead.judgement.cancel()
            self._ahead = None


def index_step(
    transport: Transport,
    outputs: Outputs,
    topics: Topics,
    *,
    group: str = "klachtradar-index",
    max_records: int = 500,
    timeout_s: float = 1.0,
) -> int:
    """One poll of the scored topic into the sinks; commits after the sinks accepted it.

    Delete records (``record: delete`` header) are handed to the sinks as deletes.
    """
    messages = transport.poll(topics.scored, group, max_records=max_records, timeout_s=timeout_s)
    if not messages:
        return 0
    scored: list[ScoredPost] = []
    dead: list[DeadLetter] = []
    deletes: list[DeletedPost] = []
    for message in messages:
        if is_delete(message):
            deleted = decode_delete(message)
            if isinstance(deleted, DeletedPost):
                deletes.append(deleted)
            else:
                dead.append(deleted)
            continue
        try:
            scored.append(ScoredPost.model_validate_json(message.value))
        except ValueError as exc:
            dead.append(message_dead_letter(message, "index", str(exc).splitlines()[0]))
    outputs.write(PipelineOutput(scored=scored, alerts=[], dead_letters=dead, deleted=deletes))
    transport.commit(topics.scored, group, messages)
    return len(messages)


def _with_origin(letter: DeadLetter, by_doc: dict[str, Message]) -> DeadLetter:
    """A stage's dead letter (keyed by doc id) pointed at the consumed message and its bytes."""
    message = by_doc.get(letter.position) if letter.stage != "decode" else None
    if message is None:
        return letter
    return message_dead_letter(message, letter.stage, letter.error).model_copy(
        update={"failed_at": letter.failed_at}
    )


def _keyed(post: ScoredPost, traces: dict[str, str]) -> OutgoingMessage:
    headers = {"doc_id": post.doc_id, "source": post.post.source}
    if trace := traces.get(post.doc_id):
        headers[TRACE_HEADER] = trace
    return OutgoingMessage(key=post.post.author.id, value=encode(post), headers=headers)


def _alert_message(alert: Alert, traces: dict[str, str]) -> OutgoingMessage:
    headers = {"kind": alert.kind.value}
    if alert.doc_id is not None and (trace := traces.get(alert.doc_id)):
        headers[TRACE_HEADER] = trace
    return OutgoingMessage(key=alert.brand, value=encode(alert), headers=headers)
