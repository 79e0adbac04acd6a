"""Chaos runs, bounded: crashes, an Elasticsearch outage, poison input and overload.

Each scenario drives the real ``klachtradar`` processes over a real Kafka-protocol
broker (tansu) and acts on what it observes — a kill after so many stored posts, an
outage once posts are indexed — never on fixed sleeps, so a slow, loaded machine
makes a run longer, not flaky. Every wait has a generous deadline.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from klachtradar.contract import DeadLetter
from klachtradar.runtime.dlq import read_all
from klachtradar.runtime.kafka_transport import KafkaTransport, client_config
from klachtradar.runtime.local_broker import LocalBroker, free_port
from klachtradar.settings import KafkaSettings
from tests.integration.kafka_support import (
    Processes,
    descendants,
    generate_posts,
    kafka_settings,
    process_env,
    sigkill_and_reap,
    stored_doc_ids,
    tansu,
    topic_doc_ids,
    unique_prefix,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

__all__ = ["tansu"]  # the fixture, re-exported for pytest

# Short sessions: a SIGKILLed member leaves the group after 3 s, not 6 s.
FAST_GROUPS: dict[str, object] = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500}


# -- helpers ---------------------------------------------------------------------------------


def replay(procs: Processes, name: str, posts: Path, count: int, seconds: float) -> Any:
    """``listen --to kafka --file posts`` paced so ``count`` posts (1 s apart) take ``seconds``."""
    speed = str(count / seconds)
    return procs.start(name, "listen", "--to", "kafka", "--file", str(posts), "--speed", speed)


def topic_values(settings: KafkaSettings, topic: str) -> list[dict[str, Any]]:
    """Every message on ``topic`` as JSON, duplicates included (read until 2 s of quiet)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**client_config(settings), enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values: list[dict[str, Any]] = []
    idle = 0
    while idle < 4:
        batches = consumer.poll(timeout_ms=500)
        idle = 0 if batches else idle + 1
        values.extend(json.loads(r.value) for records in batches.values() for r in records)
    consumer.close()
    return values


def dead_letters(settings: KafkaSettings) -> list[DeadLetter]:
    """Every letter on the test's DLQ topic."""
    transport = KafkaTransport(settings)
    try:
        return [stored.letter for stored in read_all(transport, idle_s=2.0)]
    finally:
        transport.close()


def events(procs: Processes, prefix: str, event: str) -> list[dict[str, object]]:
    """Log lines with ``event`` from every process whose name starts with ``prefix``."""
    names = sorted({name for name, _ in procs.running if name.startswith(prefix)})
    return [e for name in names for e in procs.log(name) if e.get("event") == event]


def stored_at_least(store: Path, count: int) -> Callable[[], bool]:
    """A condition for :func:`wait_for`: the store holds ``count`` posts or more."""
    return lambda: len(stored_doc_ids(store)) >= count


@dataclass
class Kill:
    """One SIGKILL: whom, when (stored posts, replay still running) and what it left."""

    role: str
    stored_before: int
    mid_replay: bool
    children: set[int] = field(default_factory=set)


# -- 1. SIGKILL loop -------------------------------------------------------------------------

KILL_POSTS = 5_000
KILL_REPLAY_S = 40.0
"""Six kills and restarts (2–8 s each to ready on a loaded machine) fit in it with room."""
KILL_BATCH = 100
KILL_PLAN = ["process", "index", "process", "process", "index", "process"]
KILL_EVERY = 250
"""Whom to kill, in order; each once it is ready and ``KILL_EVERY`` more posts were stored
since (its successor has really worked, and 6 × 250 leaves most of the run to go)."""


def test_sigkilled_process_and_index_members_lose_nothing_duplicate_nothing_and_leave_no_orphans(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    expected = generate_posts(posts, KILL_POSTS)
    settings = kafka_settings(tansu, unique_prefix("chaos"), batch_size=KILL_BATCH, **FAST_GROUPS)
    store = tmp_path / "store.db"
    procs = Processes(tmp_path, process_env(settings, store))
    starts = {"process": ("process", "--judges", "1"), "index": ("index",)}
    generation = {"process": 1, "index": 1}
    kills: list[Kill] = []
    try:
        current = {role: procs.start(f"{role}-1", *args) for role, args in starts.items()}
        procs.wait_ready("process-1", "index-1")
        listen = replay(procs, "listen", posts, KILL_POSTS, KILL_REPLAY_S)
        for role in KILL_PLAN:
            procs.wait_ready(f"{role}-{generation[role]}")
            target = len(stored_doc_ids(store)) + KILL_EVERY
            wait_for(stored_at_least(store, target), 90, f"{target} stored posts", poll_s=0.05)
            kill = Kill(role, len(stored_doc_ids(store)), listen.poll() is None)
            kill.children = sigkill_and_reap(current[role])
            kills.append(kill)
            generation[role] += 1
            current[role] = procs.start(f"{role}-{generation[role]}", *starts[role])
        assert listen.wait(timeout=90) == 0
        wait_for(lambda: len(stored_doc_ids(store)) >= KILL_POSTS, 120, "every post stored")
        # The last successors may still be starting (a SIGTERM before the handler is
        # installed is Python's default: death); a graceful stop is promised once ready.
        procs.wait_ready(*(f"{role}-{n}" for role, n in generation.items()))
        exit_codes = [procs.terminate(p) for p in current.values()]
    finally:
        procs.stop_all()

    stored = stored_doc_ids(store)
    assert len(stored) == len(set(stored)) == KILL_POSTS, "each post stored once"
    assert set(stored) == set(expected)
    assert exit_codes == [0, 0], "the last generation stops gracefully"

    assert [k.role for k in kills].count("process") == 4
    assert all(k.stored_before < KILL_POSTS for k in kills), "every kill was mid-run"
    first = {role: next(k for k in kills if k.role == role) for role in starts}
    assert all(k.mid_replay for k in first.values()), "the first kills hit a running replay"
    for kill in kills:
        if kill.role == "process":
            assert len(kill.children) >= 1, "the judge worker ran (and is gone: checked)"

    scored = topic_doc_ids(settings, f"{settings.topic_prefix}.posts.scored")
    assert set(scored) == set(expected), "every post was scored"
    redone = len(scored) - len(set(scored))
    # Only uncommitted work is redone: per process kill, the batch in hand and the next.
    assert redone <= 4 * 2 * KILL_BATCH

    alert_ids: dict[str, set[str]] = defaultdict(set)
    for alert in topic_values(settings, f"{settings.topic_prefix}.alerts"):
        if alert["kind"] == "post":
            alert_ids[alert["doc_id"]].add(alert["alert_id"])
    assert alert_ids, "the run raised post alerts"
    assert set(alert_ids) <= set(expected)
    twice = {doc: ids for doc, ids in alert_ids.items() if len(ids) > 1}
    assert not twice, f"a redelivered post raised a second, different alert: {twice}"


# -- 2. Elasticsearch unreachable ------------------------------------------------------------

ES_POSTS = 2_000
ES_REPLAY_S = 30.0
ES_OUTAGE_S = 20.0


@pytest.fixture(scope="module")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """noida-db's Elasticsearch API for this module, always stopped afterwards."""
    pytest.importorskip("elasticsearch")
    from tests.integration.noida_es import NoidaElasticsearch, noida_binary

    if noida_binary() is None:
        pytest.skip("noida-db is not installed (pip install -e '.[dev]')")
    with NoidaElasticsearch(tmp_path_factory.mktemp("noida-chaos")) as url:
        yield url


def es_doc_ids(es_url: str, pattern: str) -> list[str]:
    """The ``_id`` of every document in the indices matching ``pattern`` (after a refresh)."""
    from elasticsearch import Elasticsearch, helpers

    with Elasticsearch(es_url, max_retries=0) as es:
        es.indices.refresh(index=pattern)
        hits = helpers.scan(es, index=pattern, query={"query": {"match_all": {}}}, _source=False)
        return [hit["_id"] for hit in hits]


def es_env(proxy_url: str, index: str, dead_letter_file: Path) -> dict[str, str]:
    """The ES sink behind the proxy, giving up fast so the consumer loop backs off."""
    return {
        "KLACHTRADAR_ELASTICSEARCH__URL": proxy_url,
        "KLACHTRADAR_ELASTICSEARCH__POSTS_INDEX": index,
        "KLACHTRADAR_ELASTICSEARCH__ALERTS_INDEX": f"{index}-alerts",
        "KLACHTRADAR_ELASTICSEARCH__MAX_RETRIES": "2",
        "KLACHTRADAR_ELASTICSEARCH__BACKOFF_INITIAL_S": "0.2",
        "KLACHTRADAR_ELASTICSEARCH__BACKOFF_MAX_S": "1.0",
        "KLACHTRADAR_ELASTICSEARCH__REQUEST_TIMEOUT_S": "10",
        "KLACHTRADAR_DEADLETTER__PATH": str(dead_letter_file),
    }


def test_index_backs_off_while_elasticsearch_is_unreachable_and_then_indexes_every_post_once(
    tansu: LocalBroker, es_url: str, tmp_path: Path
) -> None:
    from tests.integration.switchable_proxy import SwitchableProxy

    posts = tmp_path / "posts.jsonl"
    expected = generate_posts(posts, ES_POSTS)
    settings = kafka_settings(tansu, unique_prefix("esdown"), batch_size=200, **FAST_GROUPS)
    index_name = settings.topic_prefix.lower()
    pattern = f"{index_name}-*"
    upstream = urlsplit(es_url)
    with SwitchableProxy(upstream.hostname or "127.0.0.1", upstream.port or 9200) as proxy:
        dead_file = tmp_path / "deadletter.jsonl"
        env = process_env(
            settings, tmp_path / "store.db", **es_env(proxy.url, index_name, dead_file)
        )
        procs = Processes(tmp_path, env)
        try:
            process = procs.start("process", "process")
            index = procs.start("index", "index", "--sink", "elasticsearch")
            procs.wait_ready("process", "index")
            listen = replay(procs, "listen", posts, ES_POSTS, ES_REPLAY_S)
            wait_for(lambda: len(es_doc_ids(es_url, pattern)) >= 200, 60, "the first indexed posts")

            proxy.down()
            went_down = time.monotonic()
            indexed_before = len(es_doc_ids(es_url, pattern))
            mid_replay = listen.poll() is None
            wait_for(lambda: events(procs, "index", "batch failed, retrying"), 30, "a retry")
            wait_for(lambda: time.monotonic() - went_down >= ES_OUTAGE_S, 60, "the outage's end")
            assert [p.poll() for p in (process, index)] == [None, None], "nobody crashed"
            refused = proxy.refused
            proxy.up()

            assert listen.wait(timeout=90) == 0
            wait_for(lambda: len(es_doc_ids(es_url, pattern)) >= ES_POSTS, 90, "every post indexed")
            exit_codes = [procs.terminate(p) for p in (process, index)]
        finally:
            procs.stop_all()

    indexed = es_doc_ids(es_url, pattern)
    assert len(indexed) == len(set(indexed)) == ES_POSTS, "each post indexed once"
    assert set(indexed) == set(expected)
    assert exit_codes == [0, 0]
    assert mid_replay and indexed_before < ES_POSTS, "Elasticsearch went away mid-run"
    assert refused > 0, "index kept trying while Elasticsearch was unreachable"

    retries = events(procs, "index", "batch failed, retrying")
    assert all("SinkError" in str(r["error"]) for r in retries), retries[:3]
    assert len(retries) >= 3, "index backed off again and again through the outage"
    delays = [float(str(r["retry_in_s"])) for r in retries]
    assert max(delays) > min(delays), "the backoff grew"
    writer = [e for e in procs.log("index") if str(e["event"]).startswith("elasticsearch: ")]
    assert writer, "the bulk writer reported its own retries"

    assert dead_letters(settings) == [], "nothing dead-lettered to the DLQ topic"
    assert not dead_file.exists() or dead_file.read_text() == "", "nor to the dead-letter file"


# -- 3. poison lines -------------------------------------------------------------------------

POISON_VALID = 2_000
POISON_EVERY = 50  # one poison line after every 49 valid ones: 2 %


def _poison_line(i: int, template: dict[str, Any]) -> tuple[bytes, str]:
    """Poison line ``i`` (cycling through the kinds) and what its error must mention."""
    post = {**template, "post_id": f"poison-{i:03d}"}
    kind = i % 6
    if kind == 0:
        return b'{"source": "x", "post_id": "afgebroken", "text": "halverwe', "Invalid JSON"
    if kind == 1:
        return f"dit is geen json maar tekst {i}".encode(), "Invalid JSON"
    if kind == 2:
        del post["author"]
        return json.dumps(post).encode(), "author: Field required"
    if kind == 3:
        post["author"] = {**post["author"], "followers": "heel veel"}
        return json.dumps(post).encode(), "author.followers"
    if kind == 4:
        return json.dumps({**post, "schema_version": "2.0"}).encode(), "schema_version"
    text = json.dumps({**post, "text": "PLACEHOLDER"}).encode()
    return text.replace(b"PLACEHOLDER", b"caf\xe9 \xff kapot"), "not UTF-8"


def write_poisoned(path: Path, valid: int) -> tuple[list[str], dict[int, tuple[bytes, str]]]:
    """``valid`` generated posts with a poison line after every ``POISON_EVERY - 1``.

    Returns the valid posts' doc ids and, per 1-based line number, each poison
    line's exact bytes and the fragment its error must contain.
    """
    clean = path.with_suffix(".clean")
    doc_ids = generate_posts(clean, valid)
    lines = clean.read_bytes().splitlines()
    template = json.loads(lines[0])
    out: list[bytes] = []
    poison: dict[int, tuple[bytes, str]] = {}
    for line in lines:
        if len(out) % POISON_EVERY == POISON_EVERY - 1:
            poison[len(out) + 1] = bad = _poison_line(len(poison), template)
            out.append(bad[0])
        out.append(line)
    path.write_bytes(b"\n".join(out) + b"\n")
    return doc_ids, poison


@dataclass
class PoisonRun:
    """What a poisoned replay through listen → process → index left behind."""

    expected: list[str]
    poison: dict[int, tuple[bytes, str]]
    stored: list[str]
    letters: list[DeadLetter]
    origin: str


@pytest.fixture(scope="module")
def poison_run(tansu: LocalBroker, tmp_path_factory: pytest.TempPathFactory) -> PoisonRun:
    """One replay of a file with 2 % poison lines, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("poison")
    posts = tmp / "posts.jsonl"
    expected, poison = write_poisoned(posts, POISON_VALID)
    settings = kafka_settings(tansu, unique_prefix("poison"), batch_size=200, **FAST_GROUPS)
    store = tmp / "store.db"
    procs = Processes(tmp, process_env(settings, store))
    try:
        procs.start("process", "process")
        procs.start("index", "index")
        procs.wait_ready("process", "index")
        listen = procs.start("listen", "listen", "--to", "kafka", "--file", str(posts))
        assert listen.wait(timeout=90) == 0
        wait_for(lambda: len(stored_doc_ids(store)) >= POISON_VALID, 90, "every valid post")
        letters = dead_letters(settings)
    finally:
        procs.stop_all()
    return PoisonRun(expected, poison, stored_doc_ids(store), letters, str(posts))


def test_with_two_percent_poison_lines_every_valid_post_is_stored_once(
    poison_run: PoisonRun,
) -> None:
    stored = poison_run.stored
    assert len(poison_run.poison) == POISON_VALID // (POISON_EVERY - 1)
    assert len(stored) == len(set(stored)) == POISON_VALID
    assert set(stored) == set(poison_run.expected)


def test_every_poison_line_is_dead_lettered_once_with_its_reason_and_original_text(
    poison_run: PoisonRun,
) -> None:
    by_line = {letter.position: letter for letter in poison_run.letters}
    assert len(by_line) == len(poison_run.letters), "one letter per poison line"
    assert set(by_line) == {f"line {n}" for n in poison_run.poison}
    for number, (line, fragment) in poison_run.poison.items():
        letter = by_line[f"line {number}"]
        assert letter.origin == poison_run.origin
        assert fragment in letter.error, (number, letter.error)
        assert letter.raw == line.decode("utf-8", errors="replace"), number


def test_an_undecodable_poison_line_keeps_its_exact_bytes_in_raw_base64(
    poison_run: PoisonRun,
) -> None:
    by_line = {letter.position: letter for letter in poison_run.letters}
    poison = poison_run.poison
    undecodable = {n: line for n, (line, reason) in poison.items() if reason == "not UTF-8"}
    assert undecodable
    for number, line in undecodable.items():
        letter = by_line[f"line {number}"]
        assert letter.raw_base64 is not None, f"line {number}: no raw_base64"
        assert base64.b64decode(letter.raw_base64) == line


# -- 4. overload -----------------------------------------------------------------------------

FLOOD_POSTS = 150_000
RSS_BOUND_MB = 600.0
"""The whole ``process --judges 1`` tree (owner, judge worker, helpers), default linear model."""


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (gone ones count 0)."""
    total_kb = 0
    for member in {pid} | descendants(pid):
        try:
            status = (Path("/proc") / str(member) / "status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total_kb += int(found.group(1)) if found else 0
    return total_kb / 1024


def scraped_lag(port: int) -> int | None:
    """The sum of ``klachtradar_consumer_lag`` over partitions, None while unreported."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError):
        return None
    values = re.findall(r"^klachtradar_consumer_lag\{[^}]*\} (\S+)$", text, re.MULTILINE)
    return round(sum(float(v) for v in values)) if values else None


def flood(settings: KafkaSettings, topic: str, values: list[bytes], done: threading.Event) -> None:
    """Produce ``values`` to ``topic`` as fast as kafka-python can, then set ``done``."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**client_config(settings), linger_ms=20, batch_size=256 * 1024, acks=1)
    try:
        for value in values:
            producer.send(topic, value)
        producer.flush(timeout=120)
    finally:
        producer.close(timeout=10)
        done.set()


@dataclass
class Samples:
    """What the overload test saw, every half second: lag (when it changed) and tree RSS."""

    lag: list[int] = field(default_factory=list)
    lag_after_flood: list[int] = field(default_factory=list)  # no new messages any more
    rss_mb: list[float] = field(default_factory=list)

    def add_lag(self, lag: int | None, flooded: bool) -> None:
        """Record a scraped lag if it is new (the gauge is refreshed every 5 s)."""
        if lag is None or (self.lag and lag == self.lag[-1]):
            return
        self.lag.append(lag)
        if flooded:
            self.lag_after_flood.append(lag)

    def lag_fell(self) -> bool:
        """Once nothing more arrives, has the lag dropped below the highest seen?

        Only consumption lowers it then, so a drop means the consumer gains ground.
        """
        return any(lag < max(self.lag) for lag in self.lag_after_flood)


def test_an_overloaded_process_reports_its_lag_stays_within_its_memory_bound_and_stops_cleanly(
    tansu: LocalBroker, tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    generate_posts(posts, FLOOD_POSTS)
    values = posts.read_bytes().splitlines()
    settings = kafka_settings(tansu, unique_prefix("flood"), **FAST_GROUPS)
    port = free_port()
    procs = Processes(tmp_path, process_env(settings, tmp_path / "store.db"))
    samples = Samples()
    produced = threading.Event()
    producer: threading.Thread | None = None
    try:
        process = procs.start("process", "process", "--judges", "1", "--metrics-port", str(port))
        procs.wait_ready("process")
        raw = f"{settings.topic_prefix}.posts.raw"
        producer = threading.Thread(target=flood, args=(settings, raw, values, produced))
        producer.start()

        def sample() -> bool:
            flooded = produced.is_set()  # before the scrape: the lag is then final
            samples.rss_mb.append(tree_rss_mb(process.pid))
            samples.add_lag(scraped_lag(port), flooded)
            assert process.poll() is None, "process died under load"
            return samples.lag_fell()

        wait_for(sample, 90, "the flood produced and the lag falling", poll_s=0.5)
        exit_code = procs.terminate(process, timeout=30)
    finally:
        if producer is not None:
            producer.join(timeout=120)
        procs.stop_all()

    assert exit_code == 0, "SIGTERM under load is still a graceful stop"
    assert max(samples.lag) > 10_000, f"the lag was reported, far behind: {samples.lag}"
    assert samples.lag_fell(), samples.lag
    assert max(samples.rss_mb) < RSS_BOUND_MB, f"peak RSS {max(samples.rss_mb):.0f} MB"
    stopped = events(procs, "process", "process stopped")
    assert stopped and 0 < int(str(stopped[-1]["messages"])) < FLOOD_POSTS, "it was overloaded"
