"""The Elasticsearch sink against a real Elasticsearch-API server (noida-db), started here.

Gaps of noida-db 0.2.3 that these tests work around, and what covers them instead:
no ILM API (setup reports the policy as skipped; the policy body is checked in
tests/unit/test_es_templates.py) and no data streams (we use weekly indices anyway).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("elasticsearch")

from elasticsearch import Elasticsearch

from klachtradar.contract import Priority, RawPost, Risk, ScoredPost
from klachtradar.errors import SinkError
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import index_step
from klachtradar.runtime.transport import InMemoryTransport, OutgoingMessage, Topics, encode
from klachtradar.settings import Settings, load_settings
from listener.jsonl import read_jsonl
from sink.deadletter import read_dead_letters
from sink.es.documents import week_index
from sink.es.outputs import ElasticsearchOutputs, post_actions
from sink.es.queries import ElasticsearchQueries
from sink.es.templates import install, posts_mapping
from sink.es.writer import BulkWriter, RetryPolicy
from sink.query_types import FACET_FIELDS, PostFilter, PostQueries
from sink.store import EmbeddedStore
from tests.integration.flaky_proxy import FlakyProxy
from tests.integration.noida_es import NoidaElasticsearch, noida_binary

pytestmark = pytest.mark.integration

_names = itertools.count()


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One noida-db for the whole session, on a free port, always stopped afterwards."""
    if noida_binary() is None:
        pytest.skip("noida-db is not installed (pip install -e '.[dev]')")
    with NoidaElasticsearch(tmp_path_factory.mktemp("noida")) as url:
        yield url


@pytest.fixture(scope="session")
def client(es_url: str) -> Iterator[Elasticsearch]:
    with Elasticsearch(es_url, max_retries=0) as es:
        yield es


@pytest.fixture(scope="session")
def demo_output() -> PipelineOutput:
    """The shipped demo stream through the real pipeline (lexicon classifier)."""
    settings = load_settings()
    settings.history.backend = "memory"  # session fixture: never the repo's store
    posts = [r for r in read_jsonl(settings.resolve(settings.demo.file)) if isinstance(r, RawPost)]
    return Pipeline.from_settings(settings).process(posts)


def fresh_settings(es_url: str, tmp_path: Path) -> Settings:
    """Settings with index names no other test uses, and a private dead-letter file."""
    n = next(_names)
    settings = load_settings()
    es = settings.elasticsearch
    es.url, es.posts_index, es.alerts_index = es_url, f"t{n}-posts", f"t{n}-alerts"
    es.backoff_initial_s, es.backoff_max_s = 0.01, 0.05
    settings.deadletter.path = tmp_path / "deadletter.jsonl"
    return settings


def outputs_for(settings: Settings, client: Elasticsearch) -> ElasticsearchOutputs:
    outputs = ElasticsearchOutputs.from_settings(settings, client)
    outputs.writer.refresh = "wait_for"
    return outputs


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def same_post(got: ScoredPost | None, expected: ScoredPost) -> bool:
    """Equal up to the last bit of a float: noida-db re-prints doubles with a rounding
    error in the 16th digit; Elasticsearch returns ``_source`` byte for byte."""
    return got is not None and _rounded(got.model_dump(mode="json")) == _rounded(
        expected.model_dump(mode="json")
    )


def queries_for(settings: Settings, client: Elasticsearch) -> ElasticsearchQueries:
    es = settings.elasticsearch
    return ElasticsearchQueries(client, posts=es.posts_index, alerts=es.alerts_index)


# -- templates and mapping -----------------------------------------------------------------


def test_setup_installs_templates_and_running_it_again_changes_nothing(
    es_url: str, client: Elasticsearch, tmp_path: Path
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    names = settings.elasticsearch
    first = install(client, settings.root, names)
    state = client.indices.get_index_template(name=names.posts_index).body
    second = install(client, settings.root, names)

    assert client.indices.get_index_template(name=names.posts_index).body == state
    assert [s.what for s in first] == [s.what for s in second]
    assert first[0].outcome.startswith("skipped")  # noida-db has no ILM API (documented gap)
    template = state["index_templates"][0]["index_template"]
    assert template["index_patterns"] == [f"{names.posts_index}-*"]
    assert names.posts_index in template["template"]["aliases"]
    assert template["template"]["settings"]["index"]["lifecycle"]["name"] == names.posts_index
    assert client.indices.exists(index=names.alerts_index)
    alerts = client.indices.get_mapping(index=names.alerts_index).body
    assert alerts[names.alerts_index]["mappings"]["properties"]["kind"]["type"] == "keyword"


def test_weekly_index_created_on_first_write_carries_the_template_mapping(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    post = demo_output.scored[0]
    outputs_for(settings, client).write(PipelineOutput(scored=[post]))

    index = week_index(settings.elasticsearch.posts_index, post.post.created_at)
    mapping = client.indices.get_mapping(index=index).body[index]["mappings"]["properties"]
    expected = posts_mapping(settings.root)["properties"]
    assert mapping["text"] == expected["text"]
    assert mapping["text"]["analyzer"] == "klachtradar_dutch"
    assert mapping["text"]["fields"]["raw"]["type"] == "keyword"
    for field in ("brand", "source", "sentiment", "intent", "cues", "priority", "status"):
        assert mapping[field]["type"] == "keyword", field
    assert mapping["model"]["properties"]["version"]["type"] == "keyword"
    assert mapping["risk"]["type"] == "integer"
    assert mapping["author"]["properties"]["followers"]["type"] == "long"
    assert mapping["intent_proba"]["properties"]["klacht"]["type"] == "float"


def test_dutch_analyser_stems_drops_stop_words_and_folds_accents(
    es_url: str, client: Elasticsearch, tmp_path: Path
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    index = f"{settings.elasticsearch.posts_index}-2024.01.07"
    client.indices.create(index=index)

    def tokens(text: str) -> list[str]:
        answer = client.indices.analyze(index=index, analyzer="klachtradar_dutch", text=text)
        return [t["token"] for t in answer["tokens"]]

    assert tokens("storingen") == tokens("storing")
    assert tokens("café") == tokens("cafe")
    assert tokens("de en het") == []


# -- writing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parity(
    es_url: str, client: Elasticsearch, tmp_path_factory: pytest.TempPathFactory,
    demo_output: PipelineOutput,
) -> Iterator[tuple[ElasticsearchQueries, EmbeddedStore]]:  # fmt: skip
    """The demo corpus in both backends: Elasticsearch (via the writer) and the embedded store."""
    settings = fresh_settings(es_url, tmp_path_factory.mktemp("parity"))
    install(client, settings.root, settings.elasticsearch)
    outputs_for(settings, client).write(demo_output)
    client.indices.refresh(index=f"{settings.elasticsearch.posts_index}-*")
    client.indices.refresh(index=settings.elasticsearch.alerts_index)
    store = EmbeddedStore(":memory:")
    store.write_posts(demo_output.scored)
    store.write_alerts(demo_output.alerts)
    yield queries_for(settings, client), store
    store.close()


def test_demo_corpus_is_indexed_one_document_per_post(
    parity: tuple[ElasticsearchQueries, EmbeddedStore], demo_output: PipelineOutput
) -> None:
    es, store = parity
    assert es.count() == len({p.doc_id for p in demo_output.scored}) == store.count()
    sample = demo_output.scored[len(demo_output.scored) // 2]
    assert same_post(es.get(sample.doc_id), sample)  # the document rebuilds the contract model


def test_indexing_the_same_posts_twice_keeps_the_count(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    outputs = outputs_for(settings, client)
    outputs.write(demo_output)
    queries = queries_for(settings, client)
    first = queries.count()
    outputs.write(demo_output)

    assert queries.count() == first == len({p.doc_id for p in demo_output.scored})
    assert len(queries.alerts(limit=1000)) == len({a.alert_id for a in demo_output.alerts})


def test_rescored_post_updates_in_place_and_keeps_its_triage_status(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    outputs = outputs_for(settings, client)
    queries = queries_for(settings, client)
    post = next(p for p in demo_output.scored if p.brands and p.risk.score < 90 and p.risk.features)
    assert post.classification is not None and post.classification.cue_proba
    outputs.write(PipelineOutput(scored=[post]))
    assert queries.set_status(post.doc_id, "claimed")

    new_model = post.classification.model_copy(update={"cue_proba": {}})
    rescored = post.model_copy(
        update={
            "risk": Risk(score=99, priority=Priority.P1, reasons=["opnieuw gescoord"]),
            "classification": new_model,
            "scored_at": post.scored_at + timedelta(hours=1),
        }
    )
    outputs.write(PipelineOutput(scored=[rescored]))
    client.indices.refresh(index=f"{settings.elasticsearch.posts_index}-*")

    got = queries.get(post.doc_id)
    assert queries.count() == 1 and got is not None
    assert (got.risk, got.scored_at, got.post) == (rescored.risk, rescored.scored_at, post.post)
    assert got.classification is not None
    assert got.classification.cue_proba == {}  # replaced, not merged: nothing stale is left
    assert got.risk.features == {}
    assert queries.count_posts(PostFilter(status="claimed", min_risk=99)) == 1
    stored = client.search(index=settings.elasticsearch.posts_index)["hits"]["hits"][0]
    assert stored["_source"]["response_minutes"] is not None  # first response recorded


def test_mapping_conflict_sends_the_item_to_dead_letters_and_indexes_the_rest(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    good, bad = demo_output.scored[0], _far_future(demo_output.scored[1])
    conflicting = week_index(settings.elasticsearch.posts_index, bad.post.created_at)
    client.indices.create(index=conflicting, mappings={"properties": {"author": {"type": "long"}}})

    outputs_for(settings, client).write(PipelineOutput(scored=[good, bad]))

    letters = read_dead_letters(settings.deadletter.path)
    assert [(d.position, d.stage) for d in letters] == [(bad.doc_id, "sink")]
    assert letters[0].error.startswith("HTTP 400")
    assert letters[0].origin == f"elasticsearch:{conflicting}"
    assert json.loads(letters[0].raw)["doc_id"] == bad.doc_id
    assert same_post(queries_for(settings, client).get(good.doc_id), good)


def _far_future(post: ScoredPost) -> ScoredPost:
    created = datetime(2031, 3, 5, 12, tzinfo=UTC)
    raw = post.post.model_copy(update={"created_at": created})
    return post.model_copy(update={"post": raw})


# -- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        ["429", "429", "503"],
        ["503", "item429", "429"],
        ["drop", "drop"],
        ["item429", "drop", "503"],
    ],
    ids=["429-then-503", "503-item429-429", "dropped-connections", "mixed"],
)
def test_bulk_retries_with_backoff_until_the_server_accepts_and_loses_nothing(
    script: list[str],
    es_url: str,
    client: Elasticsearch,
    tmp_path: Path,
    demo_output: PipelineOutput,
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    install(client, settings.root, settings.elasticsearch)
    posts = demo_output.scored[:300]
    sleeps: list[float] = []
    with FlakyProxy(es_url, script) as proxy_url, Elasticsearch(proxy_url, max_retries=0) as es:
        writer = BulkWriter(
            es, max_docs=100, retry=RetryPolicy(6, 0.01, 1.0), sleep=sleeps.append, seed=1
        )
        report = writer.write(post_actions(posts, settings.elasticsearch.posts_index))

    client.indices.refresh(index=f"{settings.elasticsearch.posts_index}-*")
    assert queries_for(settings, client).count() == len({p.doc_id for p in posts})
    assert report.accepted == len({p.doc_id for p in posts}) and not report.rejected
    assert report.retries == len(sleeps) >= 1
    bases = [0.01 * 2**n for n in range(len(sleeps))]  # exponential, ±50 % jitter
    assert all(0.5 * b <= s <= 1.5 * b for s, b in zip(sleeps, bases, strict=True))


def test_retries_exhausted_raise_a_retryable_error_and_dead_letter_nothing(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    settings.elasticsearch.max_retries = 2
    with FlakyProxy(es_url, ["503"] * 10) as proxy_url, Elasticsearch(proxy_url) as es:
        outputs = ElasticsearchOutputs.from_settings(settings, es)
        with pytest.raises(SinkError) as failure:
            outputs.write(PipelineOutput(scored=demo_output.scored[:20]))
    assert failure.value.retryable
    assert read_dead_letters(settings.deadletter.path) == []


# -- the shared query interface: same answers as the embedded store -----------------------


MID = datetime(2026, 10, 20, tzinfo=UTC)
FILTERS = [
    PostFilter(),
    PostFilter(brand="KPN"),
    PostFilter(intent="klacht", status="open"),
    PostFilter(sentiment="negatief", cue="herhaald"),
    PostFilter(priorities=(Priority.P1, Priority.P2), with_brand=True),
    PostFilter(min_risk=50, source="x"),
    PostFilter(since=MID - timedelta(days=7), until=MID),
    PostFilter(brand="Ziggo", since=MID),
]


def test_both_backends_implement_the_query_interface(
    parity: tuple[ElasticsearchQueries, EmbeddedStore],
) -> None:
    es, store = parity
    assert isinstance(es, PostQueries) and isinstance(store, PostQueries)


@pytest.mark.parametrize("where", FILTERS, ids=str)
def test_filters_facets_and_histograms_answer_like_the_embedded_store(
    where: PostFilter, parity: tuple[ElasticsearchQueries, EmbeddedStore]
) -> None:
    es, store = parity
    assert es.count_posts(where) == store.count_posts(where) > 0
    for field in FACET_FIELDS:
        assert es.facet(field, where) == store.facet(field, where), field
    for interval in ("hour", "day", "week"):
        assert es.histogram(interval, where) == store.histogram(interval, where), interval
    for sort in ("risk", "newest"):
        assert _ids(es.find(where, limit=40, sort=sort)) == _ids(
            store.find(where, limit=40, sort=sort)
        )


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"brand": "KPN"}, {"status": None, "limit": 50}, {"min_priority": Priority.P2}],
    ids=str,
)
def test_triage_queue_matches_the_embedded_store(
    kwargs: dict[str, Any], parity: tuple[ElasticsearchQueries, EmbeddedStore]
) -> None:
    es, store = parity
    ranked = [(p.risk.priority, -p.risk.score, p.post.created_at) for p in es.top(**kwargs)]
    assert ranked == [
        (p.risk.priority, -p.risk.score, p.post.created_at) for p in store.top(**kwargs)
    ]
    assert set(_ids(es.top(**kwargs))) == set(_ids(store.top(**kwargs)))


def test_brand_counts_and_alerts_match_the_embedded_store(
    parity: tuple[ElasticsearchQueries, EmbeddedStore],
) -> None:
    es, store = parity
    by_brand = sorted(store.brand_counts(), key=lambda r: (-r.complaints, -r.posts, r.brand))
    assert es.brand_counts() == by_brand
    for kind in (None, "post", "incident"):
        ours, theirs = es.alerts(kind=kind, limit=500), store.alerts(kind=kind, limit=500)
        assert sorted(a.alert_id for a in ours) == sorted(a.alert_id for a in theirs)
        assert [a.created_at for a in ours] == [a.created_at for a in theirs]


@pytest.mark.parametrize("query", ["storing", "internet", "wachten", "KPN"])
def test_search_finds_everything_the_embedded_store_finds(
    query: str, parity: tuple[ElasticsearchQueries, EmbeddedStore]
) -> None:
    es, store = parity
    found = set(_ids(es.search(query, limit=500)))
    assert set(_ids(store.search(query, limit=500))) <= found


def test_search_matches_dutch_word_forms_the_embedded_store_misses(
    parity: tuple[ElasticsearchQueries, EmbeddedStore],
) -> None:
    es, store = parity
    stemmed = set(_ids(es.search("storingen", limit=500)))
    assert set(_ids(store.search("storing", limit=500))) <= stemmed


def _ids(posts: list[ScoredPost]) -> list[str]:
    return [p.doc_id for p in posts]


def test_index_step_commits_only_after_elasticsearch_accepted_the_batch(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    settings.elasticsearch.max_retries = 1
    install(client, settings.root, settings.elasticsearch)
    transport, topics = InMemoryTransport(), Topics()
    posts = demo_output.scored[:50]
    transport.produce(topics.scored, [OutgoingMessage(p.doc_id, encode(p)) for p in posts])
    group = "klachtradar-index"

    with FlakyProxy(es_url, ["503"] * 2) as proxy_url, Elasticsearch(proxy_url) as es:
        outputs = ElasticsearchOutputs.from_settings(settings, es)
        with pytest.raises(SinkError):
            index_step(transport, outputs, topics, group=group)
        assert transport.lag(topics.scored, group) == len(posts)  # nothing committed

        transport.rewind(topics.scored, group)  # the consumer restarts
        assert index_step(transport, outputs, topics, group=group) == len(posts)
    assert transport.lag(topics.scored, group) == 0
    client.indices.refresh(index=f"{settings.elasticsearch.posts_index}-*")
    assert queries_for(settings, client).count() == len(posts)


@pytest.mark.parametrize(("max_docs", "max_bytes"), [(25, 5_000_000), (1_000, 40_000)])
def test_bulk_requests_are_cut_by_document_count_and_by_bytes(
    max_docs: int,
    max_bytes: int,
    es_url: str,
    client: Elasticsearch,
    tmp_path: Path,
    demo_output: PipelineOutput,
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    posts = demo_output.scored[:100]
    proxy = FlakyProxy(es_url, [])
    with proxy as proxy_url, Elasticsearch(proxy_url) as es:
        report = BulkWriter(es, max_docs=max_docs, max_bytes=max_bytes).write(
            post_actions(posts, settings.elasticsearch.posts_index)
        )
    assert report.accepted == len(posts)
    assert all(size <= max_bytes for size in proxy.bulk_sizes)
    assert len(proxy.bulk_sizes) >= max(len(posts) / max_docs, sum(proxy.bulk_sizes) / max_bytes)
    assert len(proxy.bulk_sizes) > 1


def test_refused_credentials_stop_the_write_without_dead_letters(
    es_url: str, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    settings = fresh_settings(es_url, tmp_path)
    with FlakyProxy(es_url, ["401"]) as proxy_url, Elasticsearch(proxy_url) as es:
        outputs = ElasticsearchOutputs.from_settings(settings, es)
        with pytest.raises(SinkError, match="credentials") as failure:
            outputs.write(PipelineOutput(scored=demo_output.scored[:5]))
    assert not failure.value.retryable
    assert read_dead_letters(settings.deadletter.path) == []


def test_the_index_process_sink_upserts_into_elasticsearch_through_the_transport(
    es_url: str, client: Elasticsearch, tmp_path: Path, demo_output: PipelineOutput
) -> None:
    """`klachtradar index --sink elasticsearch` (the default when a URL is set)."""
    from klachtradar.runtime.post_sinks import default_sinks, open_sink
    from klachtradar.runtime.streaming import IndexOutputs, TopicDeadLetters

    settings = fresh_settings(es_url, tmp_path)
    settings.store.path = tmp_path / "store.db"
    assert default_sinks(settings) == ["embedded", "elasticsearch"]
    install(client, settings.root, settings.elasticsearch)
    topics = Topics("tindex")
    transport = InMemoryTransport()
    posts = demo_output.scored[:300]
    messages = [OutgoingMessage(key=p.post.author.id, value=encode(p)) for p in posts]
    transport.produce(topics.scored, messages + messages[:50])  # 50 redelivered
    sinks = [open_sink(name, settings, {}) for name in default_sinks(settings)]
    outputs = IndexOutputs(sinks, TopicDeadLetters(transport, topics))
    while index_step(transport, outputs, topics, max_records=100):
        pass
    for s in sinks:
        s.close()
    client.indices.refresh(index=f"{settings.elasticsearch.posts_index}*")
    count = client.count(index=settings.elasticsearch.posts_index)["count"]
    assert count == len({p.doc_id for p in posts})


def test_brand_replies_are_indexed_with_thread_tone_and_the_public_response(
    parity: tuple[ElasticsearchQueries, EmbeddedStore], client: Elasticsearch
) -> None:
    es, store = parity
    replies = [p for p in store.find(PostFilter(), limit=5000) if p.reply is not None]
    rude = next(p for p in replies if "komen zeuren" in p.post.text)
    indexed = es.get(rude.doc_id)
    assert indexed is not None and indexed.reply is not None
    assert indexed.reply == rude.reply and indexed.thread_id == rude.thread_id
    assert indexed.reply.tone is not None and indexed.reply.in_reply_to is not None
    answered = es.get(indexed.reply.in_reply_to)
    assert answered is not None and answered.response is not None
    assert answered.response.reply_doc_id == rude.doc_id
    hits = client.search(
        index=es.posts,
        query={"bool": {"filter": [{"term": {"thread_id": rude.thread_id}}]}},
        size=50,
    )["hits"]["hits"]
    assert {h["_source"]["doc_id"] for h in hits} >= {rude.doc_id, answered.doc_id}
