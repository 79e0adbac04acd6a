"""Deletes propagate: a deleted post leaves every sink and the history, and stays gone."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from klachtradar.contract import (
    SCHEMA_VERSION,
    Alert,
    AlertKind,
    DeletedPost,
    Priority,
    RawPost,
    parse_deleted_post,
    parse_raw_post,
)
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import index_step, listen_step, process_step, run_embedded
from klachtradar.runtime.transport import InMemoryTransport, Topics
from klachtradar.settings import Settings
from sink.deadletter import DeadLetterFile
from sink.embedded import EmbeddedOutputs
from sink.store import EmbeddedStore
from tests.conftest import T0, PostFactory
from tests.unit.test_store import scored

TOPICS = Topics()
COMPLAINT = "@KPNwebcare al 3 dagen geen internet, belachelijk. Ik zeg mijn abonnement op!"


def deleted(post: RawPost, **fields: object) -> DeletedPost:
    return DeletedPost(source=post.source, post_id=post.post_id, author_id=post.author.id, **fields)  # type: ignore[arg-type]


def test_a_delete_record_is_keyed_like_its_post_and_a_minor_schema_bump() -> None:
    record = DeletedPost(source="bluesky", post_id="at://did:plc:a/app.bsky.feed.post/3k")
    assert record.doc_id == "bluesky:at://did:plc:a/app.bsky.feed.post/3k"
    assert SCHEMA_VERSION.split(".")[0] == "1"
    assert parse_deleted_post(record.model_dump_json()) == record
    old = '{"schema_version": "1.0", "source": "x", "post_id": "1", "text": "t",'
    old += ' "created_at": "2024-01-01T00:00:00Z", "author": {"id": "a", "handle": "h"}}'
    assert parse_raw_post(old).schema_version == "1.0"  # a 1.0 producer still understood


def test_the_store_removes_a_deleted_post_with_its_alerts_and_triage_rows(
    tmp_path: Path, make_post: PostFactory
) -> None:
    post, other = make_post("KPN storing in Delft"), make_post("KPN storing in Gouda")
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts([scored(post, 90, Priority.P1), scored(other, 80, Priority.P1)])
        alert = Alert(
            alert_id=f"post:{post.doc_id}:P1",
            kind=AlertKind.POST,
            created_at=T0,
            priority=Priority.P1,
            title="t",
            doc_id=post.doc_id,
        )
        store.write_alerts([alert])
        db = sqlite3.connect(tmp_path / "s.db")
        db.execute("CREATE TABLE triage_feedback (doc_id TEXT, text TEXT)")
        db.execute("INSERT INTO triage_feedback VALUES (?, 'KPN storing in Delft')", (post.doc_id,))
        db.commit()

        assert store.delete_posts([deleted(post)]) == 1

        assert store.get(post.doc_id) is None
        assert store.search("Delft") == []
        assert [p.doc_id for p in store.search("storing")] == [other.doc_id]
        assert store.alerts() == []
        assert db.execute("SELECT count(*) FROM triage_feedback").fetchone()[0] == 0
        # Redelivery of the post and its alert after the delete: the tombstone wins.
        store.write_posts([scored(post, 95, Priority.P1)])
        assert store.write_alerts([alert]) == []
        assert store.get(post.doc_id) is None
        assert store.count() == 1
        db.close()


def test_a_delete_that_arrives_before_its_post_keeps_the_post_out(
    tmp_path: Path, make_post: PostFactory
) -> None:
    post = make_post()
    with EmbeddedStore(tmp_path / "s.db") as store:
        assert store.delete_posts([deleted(post)]) == 0
        store.write_posts([scored(post, 50)])
        assert store.count() == 0
        assert store.deleted_among([post.doc_id, "x:other"]) == {post.doc_id}


def test_embedded_run_a_post_then_its_delete_then_a_redelivery_leaves_nothing(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    post = make_post(COMPLAINT, followers=80_000, author_id="youp")
    pipeline = Pipeline.from_settings(settings)
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        run_embedded([[post]], pipeline, outputs)
        assert store.get(post.doc_id) is not None and store.alerts(kind="post")
        assert pipeline.history.summary("youp", "KPN", T0 + timedelta(days=1)).earlier_complaints

        stats = run_embedded([[deleted(post)], [post]], pipeline, outputs)

        assert stats.deleted == 1
        assert store.get(post.doc_id) is None
        assert store.alerts() == []
        assert (
            pipeline.history.summary("youp", "KPN", T0 + timedelta(days=1)).earlier_complaints == 0
        )


def test_over_the_transport_a_delete_reaches_the_store_and_a_redelivery_no_alert(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    post = make_post(COMPLAINT, followers=80_000)
    transport = InMemoryTransport()
    pipeline = Pipeline.from_settings(settings)
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        listen_step([post], transport, TOPICS)
        process_step(transport, pipeline, TOPICS)
        index_step(transport, outputs, TOPICS)
        assert store.get(post.doc_id) is not None
        alerts_before = len(transport.messages(TOPICS.alerts))
        assert alerts_before >= 1

        listen_step([deleted(post)], transport, TOPICS)
        listen_step([post], transport, TOPICS)  # the post redelivered after its delete
        assert process_step(transport, pipeline, TOPICS) == 2
        assert index_step(transport, outputs, TOPICS) == 1  # the delete; the copy was dropped

        assert store.get(post.doc_id) is None
        assert len(transport.messages(TOPICS.alerts)) == alerts_before  # no second alert
        delete_message = transport.messages(TOPICS.raw)[1]
        assert delete_message.key == post.author.id  # same key, same partition as the post
        assert delete_message.headers["record"] == "delete"
        # A fresh index consumer (a new process, no memory) replays the whole topic:
        with EmbeddedStore(tmp_path / "fresh.db") as fresh:
            replay = EmbeddedOutputs(fresh, DeadLetterFile(tmp_path / "d2.jsonl"))
            index_step(transport, replay, TOPICS, group="replay")
            assert fresh.get(post.doc_id) is None
        # A restarted process (no tombstones in memory) scores a late copy again: the
        # store's tombstone keeps it out.
        listen_step([post], transport, TOPICS)
        process_step(transport, Pipeline.from_settings(settings), TOPICS)
        assert index_step(transport, outputs, TOPICS) == 1
        assert store.get(post.doc_id) is None


def test_an_edit_updates_the_one_post_in_place_and_rescores_it(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    post = make_post("KPN is prima hoor", post_id="77")
    edit = post.model_copy(update={"text": COMPLAINT})
    pipeline = Pipeline.from_settings(settings)
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        run_embedded([[post]], pipeline, outputs)
        before = store.get(post.doc_id)
        run_embedded([[edit]], pipeline, outputs)
        after = store.get(post.doc_id)
        assert store.count() == 1
        assert before is not None and after is not None
        assert after.post.text == COMPLAINT
        assert after.classification is not None and after.classification.intent == "klacht"
        assert after.risk.score > before.risk.score


def test_the_live_feed_tells_browsers_which_cards_a_delete_removed(tmp_path: Path) -> None:
    from tests.unit.triage_support import fill_store, raw_post
    from triage.live import ChangeFeed

    path = tmp_path / "kr.db"
    post = raw_post("1", COMPLAINT, handle="anna", followers=900_000, reposts=300)
    fill_store(path, [post])
    feed = ChangeFeed(path)
    with EmbeddedStore(path) as store:  # another process's index step, say
        store.delete_posts([deleted(post)])
    change = feed.check()
    assert change is not None
    assert change.removed == [post.doc_id]
    assert '"removed": ["x:1"]' in change.as_sse()
    assert feed.check() is None


def test_tombstones_of_posts_never_stored_expire_those_of_stored_posts_stay(
    tmp_path: Path, make_post: PostFactory
) -> None:
    from sink.store import UNSEEN_TOMBSTONE_DAYS

    stored, unseen = make_post(), make_post()
    with EmbeddedStore(tmp_path / "s.db") as store:
        store.write_posts([scored(stored, 50)])
        store.delete_posts([deleted(stored, deleted_at=T0), deleted(unseen, deleted_at=T0)])
    later = T0 + timedelta(days=UNSEEN_TOMBSTONE_DAYS, hours=1)
    with EmbeddedStore(tmp_path / "s.db") as store:  # a later process, pruning in its time
        store.prune_if_due(later)
        assert store.deleted_among([stored.doc_id, unseen.doc_id]) == {stored.doc_id}


def test_a_tombstone_look_up_rides_out_an_elasticsearch_blip_like_the_bulk_writer() -> None:
    from elastic_transport import ConnectionError as EsConnectionError

    from klachtradar.errors import SinkError
    from sink.es.deletes import EsTombstones
    from sink.es.writer import RetryPolicy

    class Flaky:
        """A client whose first ``failures`` calls find no server."""

        def __init__(self, failures: int) -> None:
            self.failures = failures
            self.indices = self

        def exists(self, index: str) -> bool:
            if self.failures:
                self.failures -= 1
                raise EsConnectionError("connection refused")
            return True

        def mget(self, **_: object) -> dict[str, object]:
            return {"docs": [{"_id": "x:1", "found": True}, {"_id": "x:2", "found": False}]}

    waits: list[float] = []
    policy = RetryPolicy(max_retries=2, initial_s=0.1, max_s=1.0)
    tombstones = EsTombstones(Flaky(2), "p", "a", "t", retry=policy, sleep=waits.append)  # type: ignore[arg-type]
    assert tombstones.deleted_among(["x:1", "x:2"]) == {"x:1"}
    assert len(waits) == 2
    down = EsTombstones(Flaky(9), "p", "a", "t", retry=policy, sleep=waits.append)  # type: ignore[arg-type]
    try:
        down.deleted_among(["x:1"])
    except SinkError as exc:
        assert exc.retryable and "still failing after 2 retries" in str(exc)
    else:
        raise AssertionError("a cluster that stays away fails the batch, retryable")


def test_a_deleted_posts_unsent_message_is_withdrawn_and_its_escalation_stopped(
    tmp_path: Path,
) -> None:
    from notify.outbox import Outbox

    outbox = Outbox(tmp_path / "outbox.db")
    db = sqlite3.connect(tmp_path / "outbox.db")
    row = (
        "INSERT INTO notify_outbox (delivery_id, route, kind, alert_id, message, status,"
        " next_at, created_at) VALUES (?, 'slack', 'post', ?, '{}', ?, '2026-01-01', '2026-01-01')"
    )
    db.execute(row, ("d1", "post:x:1:P1", "pending"))
    db.execute(row, ("d2", "post:x:2:P1", "pending"))
    db.execute(row, ("d3", "post:x:1:P2", "sent"))
    db.execute(
        "INSERT INTO notify_escalations (doc_id, alert, started_at) VALUES ('x:1', '{}', 'now')"
    )
    db.commit()
    assert outbox.withdraw(["x:1"]) == 1
    statuses = dict(db.execute("SELECT delivery_id, status FROM notify_outbox").fetchall())
    assert statuses == {"d1": "withdrawn", "d2": "pending", "d3": "sent"}
    assert outbox.running_escalations() == []
    outbox.close()
    db.close()


def test_the_embedded_outputs_hand_on_no_alert_of_a_deleted_post(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    """A restarted pipeline scores a late copy and alerts: the store drops that alert, and
    so must what comes after the store in the chain (notifications)."""
    post = make_post(COMPLAINT, followers=80_000)
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        store.delete_posts([deleted(post)])
        output = Pipeline.from_settings(settings).process([post])
        assert any(a.doc_id == post.doc_id for a in output.alerts)
        outputs.write(output)
        assert not any(a.doc_id == post.doc_id for a in output.alerts)
