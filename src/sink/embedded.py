"""The embedded default outputs: the SQLite store, the dead-letter file and the console.

Order matters: posts are stored before their alerts are shown, so whatever an agent
clicks on from an alert is already in the store.
"""

from __future__ import annotations

from klachtradar.ports import PipelineOutput
from sink.console import ConsoleAlerts
from sink.deadletter import DeadLetterFile
from sink.store import EmbeddedStore


class EmbeddedOutputs:
    """Writes a batch's output to the store, the dead letters and (optionally) the console."""

    def __init__(
        self,
        store: EmbeddedStore,
        dead_letters: DeadLetterFile,
        console: ConsoleAlerts | None = None,
    ) -> None:
        self.store = store
        self.dead_letters = dead_letters
        self.console = console
        self._shown: set[str] = set()

    def write(self, output: PipelineOutput) -> None:
        """Dead letters, deletes, posts, then alerts (stored, and shown once per run).

        Deletes go before posts, so a post and its delete in one batch end deleted;
        a deleted post's alert is neither stored nor shown, and it is taken out of
        ``output.alerts``, so outputs after this one (notifications) do not send it.
        """
        self.dead_letters.write(output.dead_letters)
        self.store.delete_posts(output.deleted)
        self.store.write_posts(output.scored)
        self.store.write_alerts(output.alerts)
        gone = self.store.deleted_among([a.doc_id for a in output.alerts if a.doc_id])
        if gone:  # what follows this output (notifications) must not see them either
            output.alerts = [a for a in output.alerts if a.kind != "post" or a.doc_id not in gone]
        if self.console is not None:
            fresh = [a for a in output.alerts if a.alert_id not in self._shown]
            self._shown.update(a.alert_id for a in fresh)
            self.console.write(fresh)
