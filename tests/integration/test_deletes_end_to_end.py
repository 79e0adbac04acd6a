"""Deletes end to end: real broker (tansu), real Elasticsearch API (noida-db), real store.

A post, then its delete: gone from the embedded store, from Elasticsearch (posts and
alerts), and named as removed by the triage live feed; a redelivery of the post after
its delete does not bring it back; an edit updates the one post in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("elasticsearch")

from elasticsearch import Elasticsearch

from klachtradar.contract import Author, DeletedPost, Engagement, RawPost
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.local_broker import LocalBroker
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
from klachtradar.settings import Settings
from sink.deadletter import DeadLetterFile
from sink.embedded import EmbeddedOutputs
from sink.es.outputs import ElasticsearchOutputs, FanOutOutputs
from sink.store import EmbeddedStore
from tests.integration.kafka_support import (
    Processes,
    kafka_settings,
    process_env,
    stored_doc_ids,
    tansu,
    topic_doc_ids,
    unique_prefix,
    wait_for,
)
from tests.integration.noida_es import NoidaElasticsearch, noida_binary
from triage.live import ChangeFeed

pytestmark = [pytest.mark.integration]

__all__ = ["tansu"]  # the fixture, re-exported for pytest

COMPLAINT = "@KPNwebcare al 3 dagen geen internet, belachelijk. Ik zeg mijn abonnement op!"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if noida_binary() is None:
        pytest.skip("noida-db is not installed (pip install -e '.[dev]')")
    with NoidaElasticsearch(tmp_path_factory.mktemp("noida-deletes")) as url:
        yield url


def mastodon_post(post_id: str, text: str, *, author: str, followers: int = 90_000) -> RawPost:
    return RawPost(
        source="mastodon",
        post_id=post_id,
        url=f"https://mastodon.nl/@{author}/{post_id}",
        text=text,
        lang="nl",
        created_at=NOW,
        author=Author(id=author, handle=author, followers=followers),
        engagement=Engagement(reposts=40, likes=300),
    )


def es_docs(es_url: str, pattern: str) -> dict[str, dict[str, object]]:
    """Every document (by ``_id``) in the indices matching ``pattern``, after a refresh."""
    from elasticsearch import NotFoundError, helpers

    with Elasticsearch(es_url, max_retries=0) as es:
        try:
            es.indices.refresh(index=pattern)
            hits = helpers.scan(es, index=pattern, query={"query": {"match_all": {}}})
            return {hit["_id"]: hit["_source"] for hit in hits}
        except NotFoundError:  # no such index yet
            return {}


def es_names(prefix: str) -> dict[str, str]:
    return {
        "KLACHTRADAR_ELASTICSEARCH__POSTS_INDEX": f"{prefix}-posts",
        "KLACHTRADAR_ELASTICSEARCH__ALERTS_INDEX": f"{prefix}-alerts",
        "KLACHTRADAR_ELASTICSEARCH__TOMBSTONES_INDEX": f"{prefix}-tombstones",
    }


def test_embedded_with_elasticsearch_a_delete_removes_the_post_and_its_alert_for_good(
    es_url: str, tmp_path: Path, settings: Settings
) -> None:
    prefix = unique_prefix("emb")
    settings.elasticsearch.url = es_url
    settings.elasticsearch.posts_index = f"{prefix}-posts"
    settings.elasticsearch.alerts_index = f"{prefix}-alerts"
    settings.elasticsearch.tombstones_index = f"{prefix}-tombstones"
    settings.deadletter.path = tmp_path / "dead.jsonl"
    post = mastodon_post("500", COMPLAINT, author="youp")
    other = mastodon_post("501", "KPN, wanneer is de storing in Delft voorbij?", author="anna")
    pipeline = Pipeline.from_settings(settings)
    with EmbeddedStore(tmp_path / "store.db") as store:
        es = ElasticsearchOutputs.from_settings(settings)
        outputs = FanOutOutputs(EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl")), es)
        run_embedded([[post, other]], pipeline, outputs)
        alerts = es_docs(es_url, f"{prefix}-alerts")
        assert any(a["doc_id"] == post.doc_id for a in alerts.values()), "the post alerted"
        assert set(es_docs(es_url, f"{prefix}-posts-*")) == {post.doc_id, other.doc_id}

        gone = DeletedPost(source="mastodon", post_id="500", author_id="youp")
        run_embedded([[gone]], pipeline, outputs)
        assert set(es_docs(es_url, f"{prefix}-posts-*")) == {other.doc_id}
        assert not any(
            a["doc_id"] == post.doc_id for a in es_docs(es_url, f"{prefix}-alerts").values()
        )
        assert store.get(post.doc_id) is None
        assert post.doc_id not in {a.doc_id for a in store.alerts()}

        # A fresh pipeline (a restart: no memory of the delete) is fed the post again.
        run_embedded([[post]], Pipeline.from_settings(settings), outputs)
        assert set(es_docs(es_url, f"{prefix}-posts-*")) == {other.doc_id}
        assert not any(
            a["doc_id"] == post.doc_id for a in es_docs(es_url, f"{prefix}-alerts").values()
        )
        assert store.get(post.doc_id) is None
        tombstones = es_docs(es_url, f"{prefix}-tombstones")
        assert list(tombstones) == [post.doc_id]
        assert "text" not in tombstones[post.doc_id], "a tombstone keeps no content"
        es.writer.client.close()


def write_jsonl(path: Path, posts: list[RawPost]) -> Path:
    path.write_text("".join(p.model_dump_json() + "\n" for p in posts), encoding="utf-8")
    return path


def status(post: RawPost, text: str) -> dict[str, object]:
    """A Mastodon Status entity of ``post`` saying ``text``."""
    return {
        "id": post.post_id,
        "created_at": post.created_at.isoformat().replace("+00:00", "Z"),
        "url": post.url,
        "language": "nl",
        "content": f"<p>{text}</p>",
        "reblog": None,
        "replies_count": 0,
        "reblogs_count": 2,
        "favourites_count": 5,
        "quotes_count": 0,
        "account": {
            "id": post.author.id,
            "acct": post.author.handle,
            "followers_count": post.author.followers,
            "following_count": 10,
        },
        "mentions": [],
        "tags": [],
    }


def test_over_kafka_a_delete_leaves_store_elasticsearch_and_the_live_queue_and_stays(
    tansu: LocalBroker, es_url: str, tmp_path: Path
) -> None:
    settings = kafka_settings(tansu, unique_prefix("del"), batch_size=50)
    prefix = settings.topic_prefix.lower()
    posts_pattern = f"{prefix}-posts-*"
    store = tmp_path / "store.db"
    audit_path = tmp_path / "erasure-audit.jsonl"
    env = process_env(
        settings,
        store,
        KLACHTRADAR_ELASTICSEARCH__URL=es_url,
        KLACHTRADAR_DEADLETTER__PATH=str(tmp_path / "dead.jsonl"),
        KLACHTRADAR_STORE__AUDIT_PATH=str(audit_path),
        KLACHTRADAR_LISTEN__CHECKPOINT_PATH=str(tmp_path / "listener.db"),
        **es_names(prefix),
    )
    doomed = mastodon_post("990001", COMPLAINT, author="77")
    sentinel = mastodon_post("990002", "Nog steeds geen reactie van KPN", author="77")
    edited = mastodon_post("990010", "Ziggo is prima", author="78", followers=300)
    recording = tmp_path / "mastodon.sse"
    recording.write_text(
        f"event: update\ndata: {json.dumps(status(edited, 'Ziggo is prima'))}\n\n"
        ":thump\n\n"
        "event: status.update\n"
        f"data: {json.dumps(status(edited, 'Ziggo ligt er al 2 dagen uit!'))}\n\n"
        f"event: delete\ndata: {doomed.post_id}\n\n",
        encoding="utf-8",
    )
    procs = Processes(tmp_path, env)
    try:
        procs.start("process", "process")
        procs.start("index", "index", "--sink", "embedded", "--sink", "elasticsearch")
        procs.wait_ready("process", "index")

        first = write_jsonl(tmp_path / "first.jsonl", [doomed])
        listen = procs.start(
            "listen-1", "listen", "--to", "kafka", "--source", "jsonl", "--file", str(first)
        )
        assert listen.wait(timeout=60) == 0
        wait_for(lambda: doomed.doc_id in stored_doc_ids(store), 60, "the post stored")
        wait_for(lambda: doomed.doc_id in es_docs(es_url, posts_pattern), 60, "the post indexed")
        alerted = topic_doc_ids(settings, f"{settings.topic_prefix}.alerts").count(doomed.doc_id)
        assert alerted >= 1, "the post alerted"
        feed = ChangeFeed(store)

        listen = procs.start(
            "listen-2", "listen", "--to", "kafka", "--source", "mastodon", "--file", str(recording)
        )
        assert listen.wait(timeout=60) == 0
        wait_for(
            lambda: doomed.doc_id not in stored_doc_ids(store), 60, "the post gone from the store"
        )
        wait_for(lambda: doomed.doc_id not in es_docs(es_url, posts_pattern), 60, "gone from ES")
        change = feed.check()
        assert change is not None and doomed.doc_id in change.removed, "the live queue was told"

        def edit_indexed() -> bool:
            doc = es_docs(es_url, posts_pattern).get(edited.doc_id)
            return doc is not None and "2 dagen" in str(doc["text"])

        wait_for(edit_indexed, 60, "the edit indexed in place")

        again = write_jsonl(tmp_path / "again.jsonl", [doomed, sentinel])  # same author: in order
        listen = procs.start(
            "listen-3", "listen", "--to", "kafka", "--source", "jsonl", "--file", str(again)
        )
        assert listen.wait(timeout=60) == 0
        wait_for(lambda: sentinel.doc_id in stored_doc_ids(store), 60, "the sentinel stored")
        wait_for(lambda: sentinel.doc_id in es_docs(es_url, posts_pattern), 60, "sentinel indexed")
        # Before forget: the redelivered post stayed out, the edit is one post, in place.
        assert doomed.doc_id not in stored_doc_ids(store), "redelivery did not resurrect it"
        assert doomed.doc_id not in es_docs(es_url, posts_pattern)
        assert stored_doc_ids(store).count(edited.doc_id) == 1
        with EmbeddedStore(store) as db:
            row = db.get(edited.doc_id)
            assert row is not None and "2 dagen" in row.post.text
        indexed = sorted(es_docs(es_url, posts_pattern))
        assert indexed == sorted({edited.doc_id, sentinel.doc_id}), "each post once"

        # forget --kafka: erased here at once, and the deletes reach the running processes.
        forget = procs.start(
            "forget", "forget", "--source", "mastodon", "--author", "78", "--by", "dpo", "--kafka"
        )
        assert forget.wait(timeout=60) == 0
        wait_for(lambda: edited.doc_id not in stored_doc_ids(store), 30, "the author forgotten")
        scored_topic = f"{settings.topic_prefix}.posts.scored"
        wait_for(  # the update and its status.update may share a batch: one scored copy
            lambda: edited.doc_id in topic_doc_ids(settings, scored_topic, deletes=True),
            60,
            "process passing forget's delete on to index",
        )
        raw = topic_doc_ids(settings, f"{settings.topic_prefix}.posts.raw")
    finally:
        procs.stop_all()

    assert raw.count(edited.doc_id) == 3, "update, status.update, then forget's delete record"
    assert edited.doc_id not in es_docs(es_url, posts_pattern)
    assert sorted(es_docs(es_url, posts_pattern)) == [sentinel.doc_id]
    audit = json.loads(audit_path.read_text(encoding="utf-8").splitlines()[-1])
    assert audit["by"] == "dpo" and audit["posts"] == 1 and audit["source"] == "mastodon"
    alerts_after = topic_doc_ids(settings, f"{settings.topic_prefix}.alerts").count(doomed.doc_id)
    assert alerts_after == alerted, "no new alert for the deleted post"


def test_forget_erases_the_author_from_elasticsearch_posts_and_alerts(
    es_url: str, tmp_path: Path, settings: Settings
) -> None:
    from sink.erasure import forget_author

    prefix = unique_prefix("forget")
    settings.elasticsearch.url = es_url
    settings.elasticsearch.posts_index = f"{prefix}-posts"
    settings.elasticsearch.alerts_index = f"{prefix}-alerts"
    settings.elasticsearch.tombstones_index = f"{prefix}-tombstones"
    youp = [mastodon_post(str(600 + i), COMPLAINT, author="Youp") for i in range(3)]
    anna = mastodon_post("700", COMPLAINT, author="anna")
    with EmbeddedStore(tmp_path / "store.db") as store:
        es = ElasticsearchOutputs.from_settings(settings)
        outputs = FanOutOutputs(EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl")), es)
        run_embedded([[*youp, anna]], Pipeline.from_settings(settings), outputs)
        # The store lost one of them (pruned, say): Elasticsearch still has it, and
        # forget must find it there.
        store._db.execute("DELETE FROM posts WHERE doc_id = ?", (youp[0].doc_id,))
        store._db.commit()
        report, _ = forget_author(
            "mastodon", "youp", store=store, elasticsearch=es.tombstones, by="dpo"
        )
        es.writer.client.close()
    assert report.posts == 3 and report.elasticsearch_posts == 3
    posts = es_docs(es_url, f"{prefix}-posts-*")
    assert list(posts) == [anna.doc_id]
    alerts = es_docs(es_url, f"{prefix}-alerts")
    assert alerts and all(
        a["doc_id"] == anna.doc_id for a in alerts.values() if a["kind"] == "post"
    )
    assert "Youp" not in json.dumps(posts) and "Youp" not in json.dumps(alerts)
    assert sorted(es_docs(es_url, f"{prefix}-tombstones")) == sorted(p.doc_id for p in youp)


def test_the_elasticsearch_backed_triage_copy_drops_a_post_deleted_in_elasticsearch(
    es_url: str, tmp_path: Path, settings: Settings
) -> None:
    from sink.es.queries import ElasticsearchQueries
    from triage.database import TriageDatabase
    from triage.es_mirror import EsMirror

    prefix = unique_prefix("mirror")
    settings.elasticsearch.url = es_url
    settings.elasticsearch.posts_index = f"{prefix}-posts"
    settings.elasticsearch.alerts_index = f"{prefix}-alerts"
    settings.elasticsearch.tombstones_index = f"{prefix}-tombstones"
    doomed = mastodon_post("900", COMPLAINT, author="youp")
    kept = mastodon_post("901", COMPLAINT, author="anna")
    from sink.es.templates import install

    es = ElasticsearchOutputs.from_settings(settings)
    install(es.writer.client, settings.root, settings.elasticsearch)  # `klachtradar es setup`
    es.write(Pipeline.from_settings(settings).process([doomed, kept]))
    es.writer.client.indices.refresh(index=f"{prefix}-posts-*")  # searchable, as after 1 s
    database = TriageDatabase(tmp_path / "copy.db")
    queries = ElasticsearchQueries.from_settings(settings)
    mirror = EsMirror(database, queries, overlap_s=0.0)
    try:
        mirror.sync()
        assert sorted(stored_doc_ids(tmp_path / "copy.db")) == [doomed.doc_id, kept.doc_id]
        es.write(PipelineOutput(deleted=[DeletedPost(source="mastodon", post_id="900")]))
        report = mirror.sync()
        assert report.posts_deleted == 1
        assert stored_doc_ids(tmp_path / "copy.db") == [kept.doc_id]
    finally:
        mirror.store.close()
        database.close()
        queries.close()
        es.writer.client.close()


def test_a_deleted_post_is_no_longer_an_example_of_an_incident_alert(
    es_url: str, tmp_path: Path, settings: Settings
) -> None:
    from sink.es.templates import install

    prefix = unique_prefix("incident")
    settings.elasticsearch.url = es_url
    settings.elasticsearch.posts_index = f"{prefix}-posts"
    settings.elasticsearch.alerts_index = f"{prefix}-alerts"
    settings.elasticsearch.tombstones_index = f"{prefix}-tombstones"
    start = NOW - timedelta(minutes=30)
    spike = [
        mastodon_post(
            str(1000 + i), f"@bol pakket {i} kwijt, waardeloos, al weken!", author=f"k{i}"
        ).model_copy(update={"created_at": start + timedelta(seconds=12 * i)})
        for i in range(12)
    ]
    with EmbeddedStore(tmp_path / "store.db") as store:
        es = ElasticsearchOutputs.from_settings(settings)
        install(es.writer.client, settings.root, settings.elasticsearch)
        outputs = FanOutOutputs(EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl")), es)
        pipeline = Pipeline.from_settings(settings)
        run_embedded([spike], pipeline, outputs)

        def incidents() -> list[dict[str, object]]:
            alerts = es_docs(es_url, f"{prefix}-alerts").values()
            return [a for a in alerts if a["kind"] == "incident"]

        assert incidents(), "the spike opened an incident"
        named = {str(e) for a in incidents() for e in a["examples"]}  # type: ignore[attr-defined]
        victim = sorted(named)[0]
        source, post_id = victim.split(":", 1)
        run_embedded([[DeletedPost(source=source, post_id=post_id)]], pipeline, outputs)
        after = {str(e) for a in incidents() for e in a["examples"]}  # type: ignore[attr-defined]
        assert victim not in after and after == named - {victim}
        local = {e for a in store.alerts(kind="incident") for e in a.examples}
        assert victim not in local and local
        es.writer.client.close()
