"""The embedded pipeline notifies in process: an :class:`~klachtradar.ports.Outputs`
that writes a batch where it went before, then queues and sends its alerts.

The batch is stored first (the store, the console), so the card a message links to
exists when the message arrives; then its alerts are queued in the outbox and what is
due is sent. A chat outage never blocks the pipeline: a failed message waits in the
outbox for its retry, and :meth:`NotifyingOutputs.drain` gives a finite run (a replay,
the demo) the chance to send what is left before it exits.
"""

from __future__ import annotations

from collections.abc import Callable

from klachtradar.ports import Outputs, PipelineOutput
from notify.dispatch import AlertDispatch, ClaimCheck


class NotifyingOutputs:
    """``inner`` first, then the alerts to :class:`~notify.dispatch.AlertDispatch`."""

    def __init__(
        self, inner: Outputs, dispatch: AlertDispatch, *, is_claimed: ClaimCheck | None = None
    ) -> None:
        self.inner = inner
        self.dispatch = dispatch
        self.is_claimed = is_claimed

    def write(self, output: PipelineOutput) -> None:
        self.inner.write(output)
        if output.deleted:  # a deleted post's message must not go out, nor escalate
            self.dispatch.outbox.withdraw([d.doc_id for d in output.deleted])
        if output.alerts:
            self.dispatch.enqueue(output.alerts, {p.doc_id: p for p in output.scored})
        if self.is_claimed is not None:
            self.dispatch.escalate(self.is_claimed)
        self.dispatch.deliver()

    def drain(self, wait: Callable[[float], object], *, timeout_s: float = 30.0) -> bool:
        """Send the digests and everything still pending, waiting out retries for at
        most ``timeout_s`` (seconds slept through ``wait``); True when nothing is left."""
        self.dispatch.flush_digests(force=True)
        waited = 0.0
        while True:
            self.dispatch.deliver()
            due_in = self.dispatch.next_due_in()
            if due_in is None:
                return True
            if waited + due_in > timeout_s:
                return False
            wait(due_in)
            waited += due_in
