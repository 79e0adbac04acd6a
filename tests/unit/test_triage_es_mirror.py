"""The Elasticsearch working copy: cursor and pages, local state kept, outbox, the sync loop.

Elasticsearch is a small in-memory fake of the read interface here (the real server is
in tests/integration/test_triage_es.py): it orders by (changed_at, doc id) and answers
"changed since" exactly as the query in :mod:`sink.es.queries` asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from klachtradar.contract import Alert, AlertKind, DeletedPost, Priority, RawPost, ScoredPost
from klachtradar.errors import SinkError
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import TriageSettings, load_settings
from sink.es.queries import ChangedAlert, ChangedPost, ChangedTombstone, ChangeKey
from tests.unit.triage_support import T0, FixedClock, raw_post
from triage import es_mirror
from triage.database import TriageDatabase
from triage.es_mirror import ALERTS, POSTS, EsMirror, MirrorLoop
from triage.sla import SlaPolicy
from triage.workflow import QueueFilter, Workflow

NOW = T0 + timedelta(hours=1)


@dataclass
class _Doc:
    post: ScoredPost
    status: str
    changed_ms: int


class FakeElasticsearch:
    """The mirror's view of Elasticsearch, in memory; ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.docs: dict[str, _Doc] = {}
        self.alerts: dict[str, tuple[Alert, int]] = {}
        self.tombstones: dict[str, tuple[DeletedPost, int]] = {}
        self.clock_ms = 1_000
        self.down = False
        self.refuse = False
        self.reads: list[tuple[int, ChangeKey | None]] = []
        self.status_writes: list[tuple[str, str, datetime | None]] = []

    def _tick(self) -> int:
        self.clock_ms += 1
        return self.clock_ms

    def _check(self) -> None:
        if self.down:
            raise SinkError("Elasticsearch unreachable: ConnectionError", retryable=True)

    def index(self, post: ScoredPost, *, status: str | None = None) -> None:
        """An upsert: new posts open, existing ones keep their status (unless given)."""
        old = self.docs.get(post.doc_id)
        keep = status or (old.status if old else "open")
        self.docs[post.doc_id] = _Doc(post, keep, self._tick())

    def index_alert(self, alert: Alert) -> None:
        self.alerts.setdefault(alert.alert_id, (alert, self._tick()))

    def changed_posts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedPost]:
        self._check()
        self.reads.append((since_ms, after))
        rows = sorted(
            (d.changed_ms, doc_id, d)
            for doc_id, d in self.docs.items()
            if d.changed_ms >= since_ms
            and (created_from is None or d.post.post.created_at >= created_from)
            and (d.post.brands or d.post.reply is not None)  # brand posts and brand replies
        )
        rows = [r for r in rows if after is None or (r[0], r[1]) > after]
        return [ChangedPost(d.post, d.status, (ms, i)) for ms, i, d in rows[:size]]

    def changed_alerts(
        self,
        *,
        since_ms: int,
        after: ChangeKey | None = None,
        created_from: datetime | None = None,
        size: int = 500,
    ) -> list[ChangedAlert]:
        self._check()
        rows = sorted((ms, a.alert_id, a) for a, ms in self.alerts.values() if ms >= since_ms)
        rows = [r for r in rows if after is None or (r[0], r[1]) > after]
        return [ChangedAlert(a, (ms, i)) for ms, i, a in rows[:size]]

    def delete(self, doc_id: str) -> None:
        """What a delete does in Elasticsearch: the post goes, its tombstone stays."""
        self.docs.pop(doc_id, None)
        source, post_id = doc_id.split(":", 1)
        self.tombstones.setdefault(
            doc_id, (DeletedPost(source=source, post_id=post_id), self._tick())
        )

    def changed_tombstones(
        self, *, since_ms: int, after: ChangeKey | None = None, size: int = 500
    ) -> list[ChangedTombstone]:
        self._check()
        rows = sorted((ms, doc, d) for doc, (d, ms) in self.tombstones.items() if ms >= since_ms)
        rows = [r for r in rows if after is None or (r[0], r[1]) > after]
        return [ChangedTombstone(d, (ms, doc)) for ms, doc, d in rows[:size]]

    def set_status(self, doc_id: str, status: str, *, at: datetime | None = None) -> bool:
        self._check()
        if self.refuse:
            raise SinkError("Elasticsearch status update failed: 400", retryable=False)
        self.status_writes.append((doc_id, status, at))
        doc = self.docs.get(doc_id)
        if doc is None:
            return False
        doc.status, doc.changed_ms = status, self._tick()
        return True

    def ping(self) -> None:
        self._check()

    def close(self) -> None:
        pass


def _scored(posts: list[RawPost]) -> list[ScoredPost]:
    settings = load_settings()
    settings.pipeline.classifier = "lexicon"
    settings.history.backend = "memory"
    return Pipeline.from_settings(settings).process(posts, now=NOW).scored


COMPLAINTS = [
    raw_post(
        str(i),
        f"@KPN internet weer weg, storing nummer {i}, waardeloos!",
        handle=f"klant{i}",
        at=T0 + timedelta(minutes=i),
    )
    for i in range(7)
]


@pytest.fixture(scope="module")
def posts() -> list[ScoredPost]:
    scored = _scored(COMPLAINTS)
    assert all(p.brands for p in scored)
    return scored


@pytest.fixture
def es(posts: list[ScoredPost]) -> FakeElasticsearch:
    fake = FakeElasticsearch()
    for post in posts:
        fake.index(post)
    return fake


@pytest.fixture
def database(tmp_path: Path) -> TriageDatabase:
    return TriageDatabase(tmp_path / "copy.db")


class Stopwatch:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 100.0

    def __call__(self) -> float:
        return self.seconds


def _mirror(
    database: TriageDatabase,
    es: FakeElasticsearch,
    stopwatch: Stopwatch | None = None,
    **options: int,
) -> EsMirror:
    return EsMirror(
        database,
        es,
        window_days=options.get("window_days", 30),
        page_size=options.get("page_size", 3),
        overlap_s=0.002,  # 2 ms of the fake's clock
        now=lambda: NOW,
        monotonic=stopwatch or Stopwatch(),
    )


def _workflow(database: TriageDatabase, mirror: EsMirror) -> Workflow:
    return Workflow(
        database,
        FixedClock(NOW),
        SlaPolicy.from_settings(TriageSettings()),
        on_status=mirror.enqueue_status,
    )


def _local_status(database: TriageDatabase, doc_id: str) -> str:
    with database.reading() as db:
        return str(db.execute("SELECT status FROM posts WHERE doc_id = ?", (doc_id,)).fetchone()[0])


# -- pull --------------------------------------------------------------------------------------


def test_first_sync_copies_every_post_in_pages_and_remembers_the_cursor(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es, page_size=3)
    report = mirror.sync()
    assert report.posts_written == 7 and report.pages == 3
    keys = sorted((d.changed_ms, d.post.doc_id) for d in es.docs.values())
    assert [after for _, after in es.reads] == [None, keys[2], keys[5]]  # search_after
    _, total = _workflow(database, mirror).queue(QueueFilter(statuses=()))
    assert total == 7
    last = max(es.docs.values(), key=lambda d: d.changed_ms)
    assert mirror.cursor(POSTS) == (last.changed_ms, last.post.doc_id)


def test_a_restart_continues_from_the_cursor_and_rereads_only_the_overlap(
    database: TriageDatabase, es: FakeElasticsearch
) -> None:
    _mirror(database, es).sync()
    cursor = _mirror(database, es).cursor(POSTS)
    assert cursor is not None
    es.reads.clear()
    again = _mirror(database, es).sync()  # a new process on the same file
    assert es.reads[0] == (cursor[0] - 2, None)
    assert again.posts_written == 0 and not again.changed  # re-read, unchanged: nobody woken


def test_once_the_cursor_has_settled_a_poll_reads_only_what_is_after_it(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    stopwatch = Stopwatch()
    mirror = _mirror(database, es, stopwatch)
    mirror.sync()
    cursor = mirror.cursor(POSTS)
    assert cursor is not None
    es.reads.clear()
    mirror.sync()  # the cursor moved just now: late writes may still appear behind it
    assert es.reads[0] == (cursor[0] - 2, None)
    stopwatch.seconds += 0.003  # longer than the overlap without a new write
    es.reads.clear()
    mirror.sync()
    assert es.reads == [(cursor[0], cursor)]  # strictly after the cursor: nothing re-read
    es.index(posts[0].model_copy(update={"lang": "en"}))
    assert mirror.sync().posts_written == 1  # a new write still arrives


def test_first_sync_only_copies_the_window(database: TriageDatabase, es: FakeElasticsearch) -> None:
    old = _scored([raw_post("old", "@KPN storing, waardeloos!", at=NOW - timedelta(days=40))])[0]
    es.index(old)
    _mirror(database, es, window_days=30).sync()
    with database.reading() as db:
        ids = {r[0] for r in db.execute("SELECT doc_id FROM posts")}
    assert old.doc_id not in ids and len(ids) == 7


def test_a_reindexed_post_is_updated_and_keeps_its_local_claim(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es)
    mirror.sync()
    workflow = _workflow(database, mirror)
    target = posts[0]
    workflow.claim(target.doc_id, "anna")
    mirror.sync()
    rescored = target.model_copy(update={"risk": target.risk.model_copy(update={"score": 3})})
    es.index(rescored, status="open")  # a writer that even reset the status
    report = mirror.sync()
    assert report.posts_written == 1
    item = workflow.item(target.doc_id)
    assert item.post.risk.score == 3  # the new scoring arrived
    assert (item.status, item.assignee) == ("claimed", "anna")  # the claim did not move


def test_a_status_set_elsewhere_is_taken_for_posts_nobody_here_touched(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es)
    mirror.sync()
    _workflow(database, mirror).claim(posts[1].doc_id, "anna")
    mirror.sync()
    es.set_status(posts[0].doc_id, "resolved")  # another triage app
    es.set_status(posts[1].doc_id, "resolved")
    report = mirror.sync()
    assert report.statuses_taken == 1
    assert _local_status(database, posts[0].doc_id) == "resolved"
    assert _local_status(database, posts[1].doc_id) == "claimed"


def test_alerts_are_copied_once(database: TriageDatabase, es: FakeElasticsearch) -> None:
    alert = Alert(
        alert_id="incident:KPN:1",
        kind=AlertKind.INCIDENT,
        created_at=NOW,
        brand="KPN",
        priority=Priority.P1,
        title="Incident bij KPN",
    )
    es.index_alert(alert)
    mirror = _mirror(database, es)
    assert mirror.sync().alerts_new == 1
    assert mirror.sync().alerts_new == 0
    assert mirror.cursor(ALERTS) is not None
    assert [i.alert.alert_id for i in _workflow(database, mirror).open_incidents()] == [
        alert.alert_id
    ]


# -- write-back ----------------------------------------------------------------------------------


def test_every_status_change_is_written_back_with_the_agents_time(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es)
    mirror.sync()
    workflow = _workflow(database, mirror)
    doc = posts[2].doc_id
    for action, status in [
        (workflow.claim, "claimed"),
        (workflow.release, "open"),
        (workflow.not_complaint, "not_complaint"),
        (workflow.reopen, "open"),
        (workflow.resolve, "resolved"),
    ]:
        action(doc, "anna")
        assert mirror.wanted.is_set()  # the loop wakes at once
        mirror.sync()
        assert es.docs[doc].status == status
    workflow.reopen(doc, "anna")
    workflow.snooze(doc, "anna", 30)
    mirror.sync()
    assert es.docs[doc].status == "snoozed"
    assert all(at == NOW for _, _, at in es.status_writes)
    assert mirror.pending() == []


def test_an_action_while_elasticsearch_is_down_waits_in_the_outbox(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es)
    mirror.sync()
    workflow = _workflow(database, mirror)
    doc = posts[3].doc_id
    es.down = True
    workflow.claim(doc, "anna")
    workflow.resolve(doc, "anna")
    assert workflow.item(doc).status == "resolved"  # the action itself never waits
    with pytest.raises(SinkError):
        mirror.sync()
    assert mirror.pending() == [(doc, "resolved", 0)]  # the latest status per post
    es.down = False
    assert mirror.sync().statuses_sent == 1
    assert es.docs[doc].status == "resolved"
    assert mirror.pending() == []


def test_a_refused_status_write_is_retried_then_dropped(
    database: TriageDatabase,
    es: FakeElasticsearch,
    posts: list[ScoredPost],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(es_mirror, "MAX_ATTEMPTS", 3)
    mirror = _mirror(database, es)
    mirror.sync()
    _workflow(database, mirror).claim(posts[4].doc_id, "anna")
    es.refuse = True
    mirror.sync()  # a refusal does not stop the pull
    assert mirror.pending() == [(posts[4].doc_id, "claimed", 1)]
    mirror.sync()
    mirror.sync()
    assert mirror.pending() == []
    assert _local_status(database, posts[4].doc_id) == "claimed"


# -- the loop ------------------------------------------------------------------------------------


def test_the_loop_backs_off_shows_a_notice_and_clears_it_when_elasticsearch_is_back(
    database: TriageDatabase, es: FakeElasticsearch
) -> None:
    changes: list[str] = []
    loop = MirrorLoop(
        _mirror(database, es), poll_s=0.5, max_backoff_s=4, on_change=lambda: changes.append("x")
    )
    assert loop.run_once() == 0.5 and len(changes) == 1 and loop.notice() is None
    es.down = True
    delays = [loop.run_once() for _ in range(4)]
    assert delays == [1.0, 2.0, 4.0, 4.0]
    notice = loop.notice()
    assert notice is not None and notice.startswith("Elasticsearch onbereikbaar sinds")
    assert len(changes) == 2  # told once that it went down, not on every retry
    es.down = False
    assert loop.run_once() == 0.5
    assert loop.notice() is None and len(changes) == 3


def test_a_post_deleted_in_elasticsearch_leaves_the_working_copy_and_stays_out(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    mirror = _mirror(database, es, page_size=3)
    mirror.sync()
    workflow = _workflow(database, mirror)
    gone = posts[0].doc_id
    workflow.claim(gone, "anna")
    es.delete(gone)
    report = mirror.sync()
    assert report.posts_deleted == 1 and report.changed
    queue, total = workflow.queue(QueueFilter(statuses=()))
    assert total == len(posts) - 1 and gone not in {item.post.doc_id for item in queue}
    es.index(posts[0])  # a stale copy indexed again by a lagging writer: stays out
    mirror.sync()
    assert workflow.queue(QueueFilter(statuses=()))[1] == len(posts) - 1


class RecordingStatusSink:
    """A status sink that records, and fails while ``down``."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str]] = []
        self.down = False

    def publish(self, doc_id: str, author_id: str, status: str, at: datetime) -> None:
        if self.down:
            raise SinkError("broker away", retryable=True)
        self.published.append((doc_id, author_id, status))

    def close(self) -> None:
        return None


def test_a_status_written_back_is_also_published_with_its_author_and_kept_until_it_is(
    database: TriageDatabase, es: FakeElasticsearch, posts: list[ScoredPost]
) -> None:
    sink = RecordingStatusSink()
    mirror = _mirror(database, es)
    mirror.status_sink = sink
    mirror.sync()
    workflow = _workflow(database, mirror)
    doc = posts[1].doc_id
    sink.down = True
    workflow.resolve(doc, "anna")
    with pytest.raises(SinkError):
        mirror.sync()
    assert [d for d, _, _ in mirror.pending()] == [doc], "kept for the next sync"
    sink.down = False
    mirror.sync()
    assert sink.published == [(doc, posts[1].post.author.id, "resolved")]
    assert mirror.pending() == []


def test_brand_replies_are_copied_so_the_report_counts_their_tone(
    database: TriageDatabase,
) -> None:
    """A brand reply has no ``brand`` (it is no mention), yet the report counts it by tone:
    the working copy holds it, and the queue still shows only the complaint."""
    from triage.report import build_report

    complaint = raw_post(
        "c1", "@PostNL mijn pakket is nooit aangekomen, echt slechte service!", handle="sanne"
    )
    reply = raw_post(
        "r1",
        "@sanne Hoi Sanne, vervelend! Stuur je ons een DM met je barcode? ^Jeroen",
        at=T0 + timedelta(minutes=25),
        handle="PostNL",
        followers=121_000,
    )
    latest = {p.doc_id: p for p in _scored([complaint, reply])}  # the answered one re-emitted
    assert latest["x:r1"].reply is not None and not latest["x:r1"].brands
    fake = FakeElasticsearch()
    for post in latest.values():
        fake.index(post)
    _mirror(database, fake).sync()
    report = build_report(database.path, brand="PostNL", start=T0, end=NOW, triage=TriageSettings())
    assert report.public.replies == 1
    assert sum(report.public.replies_by_tone.values()) == 1
    assert report.public.answered == 1 and report.public.median_minutes == pytest.approx(25.0)
    queue = _workflow(database, _mirror(database, fake)).queue_page(QueueFilter(statuses=()))
    assert [i.post.doc_id for i in queue.items] == ["x:c1"]
