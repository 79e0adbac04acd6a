"""The bulk writer: ``helpers.streaming_bulk`` with our retry policy and failure classes.

:meth:`BulkWriter.write` either returns after every action was accepted or turned into
a dead letter, or raises :class:`~klachtradar.errors.SinkError`; it never drops an
action silently. That is what lets the Kafka ``index`` step commit its offsets right
after ``write`` returns.

Each round, in order:
  1. send the pending actions with ``streaming_bulk`` (batched by count and bytes);
  2. classify every per-item result: accepted, retryable (429, 5xx, version conflict,
     connection lost before an answer), rejected (400 and other 4xx: the document is
     wrong, e.g. a mapping conflict) or fatal (401/403: the cluster refuses us);
  3. rejected items become dead letters with the server's reason; fatal raises;
  4. if anything is retryable, sleep (exponential backoff with jitter) and send only
     those again; after ``max_retries`` rounds raise a retryable ``SinkError``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from klachtradar.backoff import Backoff
from klachtradar.errors import SinkError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BulkAction:
    """One bulk operation: ``update`` (upsert), ``create`` or ``index`` of one document."""

    op_type: str
    index: str
    id: str
    body: dict[str, Any]

    def as_bulk(self) -> dict[str, Any]:
        """The dict form ``helpers.streaming_bulk`` expands into header + body lines."""
        action: dict[str, Any] = {"_op_type": self.op_type, "_index": self.index, "_id": self.id}
        if self.op_type == "update":
            action["retry_on_conflict"] = 3
            action.update(self.body)  # script, scripted_upsert, upsert
        else:
            action["_source"] = self.body
        return action


@dataclass(frozen=True, slots=True)
class RejectedAction:
    """An action the server refused for good, with its reason (goes to the dead letters)."""

    action: BulkAction
    status: int
    reason: str


class Outcome(Enum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    REJECTED = "rejected"
    FATAL = "fatal"


def classify(status: int | str | None, error: Any, op_type: str) -> Outcome:
    """What a per-item bulk result means for us.

    >>> classify(429, {"type": "es_rejected_execution_exception"}, "update").value
    'retry'
    >>> classify(400, {"type": "document_parsing_exception"}, "update").value
    'rejected'
    """
    if not isinstance(status, int):  # "N/A": no HTTP answer at all
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.ACCEPTED
    if status == 409 and op_type == "create":
        return Outcome.ACCEPTED  # create-once documents (alerts): already there
    if status in (401, 403):
        return Outcome.FATAL
    if status in (408, 409, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.REJECTED


def reason_of(error: Any) -> str:
    """A one-line reason from a bulk item error (a dict from the server, or a message)."""
    if isinstance(error, dict):
        reason = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
        caused = error.get("caused_by")
        if isinstance(caused, dict):
            reason += f" (caused by {caused.get('type')}: {caused.get('reason')})"
        return reason
    return str(error).splitlines()[0] if error else "unknown error"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Up to ``max_retries`` rounds; waits are :class:`klachtradar.backoff.Backoff`'s:
    ``initial · 2^round``, capped, with ±50 % jitter."""

    max_retries: int = 6
    initial_s: float = 0.5
    max_s: float = 30.0

    def delay(self, round_: int, rng: random.Random) -> float:
        return Backoff(self.initial_s, self.max_s, jitter=0.5).wait_for(round_, rng)


@dataclass
class BulkReport:
    """What one :meth:`BulkWriter.write` call did."""

    accepted: int = 0
    rejected: list[RejectedAction] = field(default_factory=list)
    retries: int = 0
    requests_failed: int = 0


class BulkWriter:
    """Sends bulk actions to Elasticsearch until each is accepted or dead-lettered.

    >>> writer = BulkWriter(client, max_docs=500, max_bytes=5_000_000)  # doctest: +SKIP
    >>> report = writer.write(actions)                                   # doctest: +SKIP
    """

    def __init__(
        self,
        client: Elasticsearch,
        *,
        max_docs: int = 500,
        max_bytes: int = 5_000_000,
        retry: RetryPolicy | None = None,
        refresh: bool | str = False,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        # The retry policy lives here alone: the transport must not retry a bulk request
        # on its own (it would hide 429/503 from us and multiply the backoff).
        self.client = client.options(max_retries=0, retry_on_status=(), retry_on_timeout=False)
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy()
        self.refresh = refresh
        self.sleep = sleep
        self._rng = random.Random(seed)

    def write(self, actions: Sequence[BulkAction]) -> BulkReport:
        """Write every action; see the module docstring for the order of steps."""
        pending = list(_last_per_document(actions).values())
        report = BulkReport()
        for round_ in range(self.retry.max_retries + 1):
            if round_:
                delay = self.retry.delay(round_ - 1, self._rng)
                log.warning(
                    "elasticsearch: retrying %d action(s) in %.2fs (round %d of %d)",
                    len(pending), delay, round_, self.retry.max_retries,
                )  # fmt: skip
                self.sleep(delay)
                report.retries += 1
            pending = self._send_round(pending, report)
            if not pending:
                return report
        raise SinkError(
            f"elasticsearch: {len(pending)} action(s) still failing after "
            f"{self.retry.max_retries} retries",
            retryable=True,
        )

    def _send_round(self, actions: list[BulkAction], report: BulkReport) -> list[BulkAction]:
        """One pass over ``actions``; returns those to try again."""
        from elastic_transport import TransportError
        from elasticsearch import helpers

        by_key = {(a.index, a.id): a for a in actions}
        answered: set[tuple[str, str]] = set()
        retry: list[BulkAction] = []
        # No refresh parameter unless asked for: the request is then exactly what a bare
        # streaming_bulk sends (benchmarks/bench_es.py compares the two).
        extra: dict[str, Any] = {"refresh": self.refresh} if self.refresh else {}
        try:
            for ok, item in helpers.streaming_bulk(
                self.client,
                (a.as_bulk() for a in actions),
                chunk_size=self.max_docs,
                max_chunk_bytes=self.max_bytes,
                raise_on_error=False,
                raise_on_exception=False,
                **extra,
            ):
                op_type, result = next(iter(item.items()))
                key = (result.get("_index", ""), str(result.get("_id", "")))
                action = by_key.get(key) or _match_by_id(by_key, key[1])
                answered.add((action.index, action.id))
                outcome = Outcome.ACCEPTED if ok else classify(
                    result.get("status"), result.get("error"), op_type
                )  # fmt: skip
                self._account(outcome, action, result, report, retry)
        except TransportError as exc:  # connection refused/reset/timeout: no answer
            report.requests_failed += 1
            log.warning("elasticsearch: bulk request failed: %s", type(exc).__name__)
        retry.extend(a for k, a in by_key.items() if k not in answered)
        return retry

    def _account(
        self,
        outcome: Outcome,
        action: BulkAction,
        result: dict[str, Any],
        report: BulkReport,
        retry: list[BulkAction],
    ) -> None:
        if outcome is Outcome.ACCEPTED:
            report.accepted += 1
        elif outcome is Outcome.RETRY:
            retry.append(action)
        elif outcome is Outcome.REJECTED:
            status = int(result.get("status", 400))
            report.rejected.append(RejectedAction(action, status, reason_of(result.get("error"))))
        else:
            raise SinkError(
                f"elasticsearch refused the request ({result.get('status')}): "
                f"{reason_of(result.get('error'))}; check [elasticsearch] credentials",
                retryable=False,
            )


def _last_per_document(actions: Sequence[BulkAction]) -> dict[tuple[str, str], BulkAction]:
    """One action per document, the last one winning (a later score replaces an earlier)."""
    return {(a.index, a.id): a for a in actions}


def _match_by_id(by_key: dict[tuple[str, str], BulkAction], doc_id: str) -> BulkAction:
    """The action for an item whose ``_index`` the server rewrote (an alias resolved)."""
    for (_, action_id), action in by_key.items():
        if action_id == doc_id:
            return action
    raise SinkError(f"elasticsearch answered for unknown document {doc_id!r}", retryable=True)
