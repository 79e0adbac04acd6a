"""Elasticsearch as a pipeline output: posts upserted, alerts created once, rejects dead-lettered.

:class:`ElasticsearchOutputs` implements :class:`klachtradar.ports.Outputs`, so the
embedded runner and the Kafka ``index`` step use it unchanged. :func:`with_elasticsearch`
adds it next to the embedded outputs when ``[elasticsearch] url`` is set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from klachtradar.contract import Alert, AlertKind, DeadLetter, DeletedPost, ScoredPost
from klachtradar.ports import Outputs, PipelineOutput
from klachtradar.settings import Settings
from sink.deadletter import DeadLetterFile
from sink.es.deletes import EsTombstones
from sink.es.documents import alert_upsert_body, document_of, upsert_body, week_index
from sink.es.writer import BulkAction, BulkReport, BulkWriter, RejectedAction, RetryPolicy

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch


def post_actions(posts: Sequence[ScoredPost], prefix: str) -> list[BulkAction]:
    """Upserts keyed by the contract's doc id, each into its week's index."""
    return [
        BulkAction("update", week_index(prefix, p.post.created_at), p.doc_id, upsert_body(p))
        for p in posts
    ]


def alert_actions(alerts: Sequence[Alert], index: str) -> list[BulkAction]:
    """Upserts keyed by the deterministic alert id: a redelivery rewrites the same alert
    and keeps its first ``changed_at`` (see :data:`sink.es.documents.ALERT_SCRIPT`)."""
    return [BulkAction("update", index, a.alert_id, alert_upsert_body(a)) for a in alerts]


def rejected_to_dead_letter(rejected: RejectedAction) -> DeadLetter:
    """A rejected document, kept with the server's reason (``raw`` is the document)."""
    action = rejected.action
    return DeadLetter(
        origin=f"elasticsearch:{action.index}",
        position=action.id,
        stage="sink",
        error=f"HTTP {rejected.status}: {rejected.reason}",
        raw=json.dumps(document_of(action.body), ensure_ascii=False),
    )


class ElasticsearchOutputs:
    """Writes a batch's posts and alerts to Elasticsearch; rejects go to the dead letters.

    Posts go first, alerts second, so an alert never points at a post that is not
    indexed yet. Input that was already a dead letter upstream is not re-sent here:
    the embedded outputs (or the DLQ topic) hold it.
    """

    def __init__(
        self,
        writer: BulkWriter,
        dead_letters: DeadLetterFile,
        *,
        posts_prefix: str,
        alerts_index: str,
        tombstones_index: str = "klachtradar-tombstones",
    ) -> None:
        self.writer = writer
        self.dead_letters = dead_letters
        self.posts_prefix = posts_prefix
        self.alerts_index = alerts_index
        self.tombstones = EsTombstones(
            writer.client,
            posts_prefix,
            alerts_index,
            tombstones_index,
            retry=writer.retry,
            sleep=writer.sleep,
        )
        self.last_reports: list[BulkReport] = []

    @classmethod
    def from_settings(
        cls, settings: Settings, client: Elasticsearch | None = None
    ) -> ElasticsearchOutputs:
        from sink.es.connection import make_client

        es = settings.elasticsearch
        writer = BulkWriter(
            client or make_client(settings),
            max_docs=es.bulk_max_docs,
            max_bytes=es.bulk_max_bytes,
            retry=RetryPolicy(es.max_retries, es.backoff_initial_s, es.backoff_max_s),
        )
        return cls(
            writer,
            DeadLetterFile(settings.resolve(settings.deadletter.path)),
            posts_prefix=es.posts_index,
            alerts_index=es.alerts_index,
            tombstones_index=es.tombstones_index,
        )

    def write(self, output: PipelineOutput) -> None:
        """Deletes, posts, then alerts; ``SinkError`` if anything is neither indexed nor
        dead-lettered. Posts and post alerts of deleted posts (tombstones) are left out."""
        self.last_reports = []
        self.tombstones.delete(output.deleted)
        posts, alerts = self._not_deleted(output.scored, output.alerts)
        for actions in (
            post_actions(posts, self.posts_prefix),
            alert_actions(alerts, self.alerts_index),
        ):
            if not actions:
                continue
            report = self.writer.write(actions)
            self.dead_letters.write([rejected_to_dead_letter(r) for r in report.rejected])
            self.last_reports.append(report)

    def _not_deleted(
        self, posts: list[ScoredPost], alerts: list[Alert]
    ) -> tuple[list[ScoredPost], list[Alert]]:
        post_docs = [a.doc_id for a in alerts if a.kind is AlertKind.POST and a.doc_id]
        gone = self.tombstones.deleted_among([p.doc_id for p in posts] + post_docs)
        if not gone:
            return posts, alerts
        return (
            [p for p in posts if p.doc_id not in gone],
            [a for a in alerts if a.kind is not AlertKind.POST or a.doc_id not in gone],
        )


class ElasticsearchPostSink:
    """Elasticsearch as a ``klachtradar index`` sink (``--sink elasticsearch``).

    Upserts scored posts by ``doc_id`` through the same writer as the outputs above;
    items Elasticsearch rejects for good (mapping conflicts) go to the dead-letter file
    with the reason, and a write that fails after its retries raises a retryable
    :class:`~klachtradar.errors.SinkError`, so the batch is consumed again.
    """

    def __init__(self, outputs: ElasticsearchOutputs) -> None:
        self.outputs = outputs

    @classmethod
    def from_settings(cls, settings: Settings) -> ElasticsearchPostSink:
        """Needs ``[elasticsearch] url``; a missing one is a :class:`ConfigError`."""
        from klachtradar.errors import ConfigError

        if not settings.elasticsearch.url:
            raise ConfigError("the elasticsearch sink needs [elasticsearch] url")
        return cls(ElasticsearchOutputs.from_settings(settings))

    def write_posts(self, posts: Sequence[ScoredPost]) -> None:
        """Upsert the posts; rejects are dead-lettered, the rest is indexed."""
        self.outputs.write(PipelineOutput(scored=list(posts)))

    def delete_posts(self, deletes: Sequence[DeletedPost]) -> int:
        """Remove the posts (and their post alerts); keep their tombstones."""
        return self.outputs.tombstones.delete(deletes)

    def close(self) -> None:
        """Release the client's connections."""
        self.outputs.writer.client.close()


class FanOutOutputs:
    """Several outputs in order; the first failure stops the batch (it will be redelivered)."""

    def __init__(self, *outputs: Outputs) -> None:
        self.outputs = outputs

    def write(self, output: PipelineOutput) -> None:
        for target in self.outputs:
            target.write(output)


def with_elasticsearch(outputs: Outputs, settings: Settings) -> Outputs:
    """``outputs``, plus Elasticsearch when ``[elasticsearch] url`` is configured."""
    if not settings.elasticsearch.url:
        return outputs
    return FanOutOutputs(outputs, ElasticsearchOutputs.from_settings(settings))
