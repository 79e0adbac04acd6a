"""The ``notify`` process's step: the alerts topic into the outbox, then deliver.

Commit path, in order:

1. poll ``<prefix>.alerts`` in the notifier's own consumer group;
2. decode; a message that is not an :class:`~klachtradar.contract.Alert` becomes a
   dead letter (to the DLQ topic, acknowledged) instead of stopping the stream;
3. queue the batch in the outbox, in one transaction (dedup drops what it has seen);
4. commit the offsets — a crash before this redelivers the batch, and step 3 adds
   nothing the second time (at-least-once plus dedup);
5. climb the escalation ladder of unclaimed P1s, then send what is due.

Sending happens after the commit and outside the Kafka loop's retry: a chat outage
leaves messages in the outbox for their backoff, it never rewinds the topic.
"""

from __future__ import annotations

from collections.abc import Callable

from klachtradar.contract import Alert, DeadLetter
from klachtradar.runtime.runner import message_dead_letter
from klachtradar.runtime.transport import Topics, Transport
from notify.dispatch import AlertDispatch, ClaimCheck


def notify_step(
    transport: Transport,
    dispatch: AlertDispatch,
    topics: Topics,
    *,
    group: str,
    dead_letters: Callable[[list[DeadLetter]], None],
    is_claimed: ClaimCheck | None = None,
    max_records: int = 500,
    timeout_s: float = 1.0,
) -> int:
    """One pass of the commit path above; returns the messages consumed."""
    messages = transport.poll(topics.alerts, group, max_records=max_records, timeout_s=timeout_s)
    if messages:
        alerts: list[Alert] = []
        dead: list[DeadLetter] = []
        for message in messages:
            try:
                alerts.append(Alert.model_validate_json(message.value))
            except ValueError as exc:
                dead.append(message_dead_letter(message, "notify", str(exc).splitlines()[0]))
        if dead:
            dead_letters(dead)
        dispatch.enqueue(alerts)
        transport.commit(topics.alerts, group, messages)
    if is_claimed is not None:
        dispatch.escalate(is_claimed)
    dispatch.deliver()
    return len(messages)
