"""The triage workflow: claim, resolve, snooze, not-a-complaint — and the queue they act on.

Statuses of a post (``posts.status``)::

    open ──claim──▶ claimed ──resolve──▶ resolved
      │  ◀─release─┘   │
      ├──snooze──▶ snoozed  (counts as open again once ``snoozed_until`` has passed)
      └──not_complaint──▶ not_complaint          reopen: any status ──▶ open

Every action is appended to ``triage_actions`` with the user and the time, in the
same transaction as the state change, so the audit log never disagrees with the queue.
Resolving calls ``on_resolved`` (the live :class:`enrich.history.AuthorHistory` when the
pipeline runs in this process); a pipeline started later reads ``status = 'resolved'``
from the store through ``complaint_history()``. Either way an unanswered streak ends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from klachtradar.contract import Alert, Cue, Intent, Priority, ScoredPost, Sentiment
from klachtradar.errors import KlachtradarError
from sink.conversations import RankKey, rank_key
from triage.clock import Clock
from triage.database import TriageDatabase
from triage.rescoring import Rescorer, agent_classification, rescore_conversation, store_labels
from triage.sla import SlaPolicy

Status = Literal["open", "claimed", "snoozed", "resolved", "not_complaint"]
STATUSES: tuple[Status, ...] = ("open", "claimed", "snoozed", "resolved", "not_complaint")
ACTIVE: tuple[Status, ...] = ("open", "claimed")
"""What an agent works on: the default status filter (expired snoozes count as open)."""
STATUS_LABEL: dict[str, str] = {
    "open": "open",
    "claimed": "al opgepakt",
    "snoozed": "gesnoozed",
    "resolved": "al afgehandeld",
    "not_complaint": "als geen klacht gemarkeerd",
}
"""A status as an agent reads it in a message ("deze post is al opgepakt")."""

MAX_SNOOZE = timedelta(days=7)
MAX_OTHERS = 20
"""A conversation card lists at most this many other posts (it counts them all)."""

StatusHook = Callable[[sqlite3.Connection, str, str, datetime], None]
"""Called inside an action's transaction with (connection, doc id, new status, time):
the Elasticsearch write-back queues the status there (:mod:`triage.es_mirror`)."""


class WorkflowError(KlachtradarError):
    """An action that cannot be done: unknown post (``not_found``) or a wrong state."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """The agent's filters; empty means "any"."""

    brand: str | None = None
    priorities: tuple[Priority, ...] = ()
    intent: Intent | None = None
    statuses: tuple[Status, ...] = ACTIVE
    text: str | None = None
    limit: int = 60


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A post with its workflow state."""

    post: ScoredPost
    status: Status
    assignee: str | None
    claimed_at: datetime | None
    snoozed_until: datetime | None
    responded_at: datetime | None
    others: tuple[QueueItem, ...] = ()
    """In the queue: the author's other posts about the brand (newest first)."""
    also_open: int = 0
    """In the queue: how many other posts the conversation has (``others`` may be cut)."""
    conversation_since: datetime | None = None
    """In the queue: when the oldest post of the conversation was written."""


@dataclass(frozen=True, slots=True)
class QueuePage:
    """What the queue shows: the first conversations, and how many match in all."""

    items: list[QueueItem]
    posts: int
    conversations: int


@dataclass(frozen=True, slots=True)
class Action:
    """One line of the audit log."""

    doc_id: str
    action: str
    user: str
    at: datetime
    detail: dict[str, object]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Header numbers: open work per priority and SLA breaches."""

    active_by_priority: dict[str, int]
    claimed: int
    breaches_open: int
    breaches_answered: int
    resolved: int

    @property
    def breaches(self) -> int:
        return self.breaches_open + self.breaches_answered


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """A brand incident that has opened and not closed, with example posts."""

    alert: Alert
    examples: list[ScoredPost] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Escalation:
    """The last rung an unclaimed P1 reached on the alert ladder, and when."""

    step: int
    route: str
    at: datetime


_STATE_COLUMNS = frozenset(
    ["assignee", "claimed_at", "snoozed_until", "responded_at", "resolved_by"]
)

_EFFECTIVE_STATUS = (
    "CASE WHEN p.status = 'snoozed' AND (t.snoozed_until IS NULL OR t.snoozed_until <= :now) "
    "THEN 'open' ELSE p.status END"
)


_Ranked = tuple[bool, RankKey, str, str]
"""A post in a conversation: (not claimed, rank key, created_at, doc id)."""


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class Workflow:
    """Queue queries and workflow actions over the triage database."""

    def __init__(
        self,
        database: TriageDatabase,
        clock: Clock,
        sla: SlaPolicy,
        *,
        on_resolved: Callable[[str], None] | None = None,
        on_status: StatusHook | None = None,
        rescorer: Rescorer | None = None,
        answered_below_unanswered: bool = True,
    ) -> None:
        self.database = database
        self.clock = clock
        self.sla = sla
        self.on_resolved = on_resolved
        self.on_status = on_status
        self.rescorer = rescorer
        self.answered_below_unanswered = answered_below_unanswered
        """``[triage] answered_below_unanswered``: within a priority, complaints the brand
        answered in public rank after the unanswered ones (:mod:`sink.conversations`)."""

    # -- the queue ---------------------------------------------------------------------------

    def queue(self, flt: QueueFilter) -> tuple[list[QueueItem], int]:
        """:meth:`queue_page`'s items and how many *posts* match the filter."""
        page = self.queue_page(flt)
        return page.items, page.posts

    def queue_page(self, flt: QueueFilter) -> QueuePage:
        """One item per author and brand conversation matching the filter, the most
        urgent first (:mod:`sink.conversations`), with the posts and conversations that
        match.

        Each item is the conversation's top post — the one an agent claimed, if any, so
        the card being worked on does not turn into another post under their hands;
        else the most urgent. The conversation ranks by its most urgent post. Its
        ``others`` are the author's other matching posts about that brand, newest first
        (at most ``MAX_OTHERS`` loaded, all of them counted in ``also_open``). With
        ``answered_below_unanswered`` a post the brand answered in public ranks after
        the unanswered posts of its priority.
        """
        where, params = self._where(flt)
        base = f"FROM posts p LEFT JOIN triage_state t ON t.doc_id = p.doc_id WHERE {where}"
        ranking = (
            "SELECT p.doc_id, p.author_id, coalesce(p.brand, ''), p.priority, p.risk, "
            "json_extract(p.doc, '$.risk.features.total'), p.created_at, "
            "p.status = 'claimed', json_extract(p.doc, '$.response') IS NOT NULL " + base
        )
        with self.database.reading() as db:
            rows = db.execute(ranking, params).fetchall()
        groups: dict[tuple[str, str], list[_Ranked]] = {}
        for doc_id, author, brand, priority, risk, raw, created, claimed, answered in rows:
            key = rank_key(
                priority,
                risk,
                raw,
                datetime.fromisoformat(created).timestamp(),
                answered=self.answered_below_unanswered and bool(answered),
            )
            groups.setdefault((author, brand), []).append((not claimed, key, created, doc_id))
        ordered = sorted(groups.values(), key=lambda m: min(r[1] for r in m))[: flt.limit]
        for members in ordered:
            members.sort()  # a claimed post first, then by urgency
        wanted = [m[0][3] for m in ordered]
        for members in ordered:
            newest = sorted(members[1:], key=lambda m: m[2], reverse=True)
            wanted.extend(m[3] for m in newest[:MAX_OTHERS])
        loaded = self._items(wanted)
        items = []
        for members in ordered:
            newest = sorted(members[1:], key=lambda m: m[2], reverse=True)
            others = tuple(loaded[m[3]] for m in newest[:MAX_OTHERS] if m[3] in loaded)
            head = loaded.get(members[0][3])
            if head is not None:
                since = datetime.fromisoformat(min(m[2] for m in members))
                items.append(
                    replace(
                        head, others=others, also_open=len(members) - 1, conversation_since=since
                    )
                )
        return QueuePage(items, posts=len(rows), conversations=len(groups))

    def _items(self, doc_ids: Sequence[str]) -> dict[str, QueueItem]:
        """Full rows for these posts (in chunks: SQLite limits the parameters)."""
        out: dict[str, QueueItem] = {}
        for start in range(0, len(doc_ids), 500):
            chunk = list(doc_ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            sql = (
                "SELECT p.doc, " + _EFFECTIVE_STATUS.replace(":now", "?") + ", t.assignee, "
                "t.claimed_at, t.snoozed_until, t.responded_at "
                "FROM posts p LEFT JOIN triage_state t ON t.doc_id = p.doc_id "
                f"WHERE p.doc_id IN ({marks})"
            )
            with self.database.reading() as db:
                rows = db.execute(sql, [self.clock.now().isoformat(), *chunk]).fetchall()
            for doc, status, assignee, claimed, snoozed, responded in rows:
                post = ScoredPost.model_validate_json(doc)
                out[post.doc_id] = QueueItem(
                    post, status, assignee, _dt(claimed), _dt(snoozed), _dt(responded)
                )
        return out

    def _where(self, flt: QueueFilter) -> tuple[str, dict[str, object]]:
        where = ["p.brand IS NOT NULL"]
        params: dict[str, object] = {"now": self.clock.now().isoformat()}
        if flt.statuses:
            names = [f":s{i}" for i in range(len(flt.statuses))]
            where.append(f"{_EFFECTIVE_STATUS} IN ({', '.join(names)})")
            params.update({f"s{i}": s for i, s in enumerate(flt.statuses)})
        if flt.priorities:
            names = [f":p{i}" for i in range(len(flt.priorities))]
            where.append(f"p.priority IN ({', '.join(names)})")
            params.update({f"p{i}": p.value for i, p in enumerate(flt.priorities)})
        if flt.brand:
            where.append("EXISTS (SELECT 1 FROM json_each(p.brands) WHERE value = :brand)")
            params["brand"] = flt.brand
        if flt.intent is not None:
            where.append("p.intent = :intent")
            params["intent"] = flt.intent.value
        match = _fts_query(flt.text or "")
        if match:
            where.append("p.rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH :match)")
            params["match"] = match
        return " AND ".join(where), params

    def item(self, doc_id: str) -> QueueItem:
        """One post with its state; :class:`WorkflowError` if unknown."""
        sql = (
            "SELECT p.doc, " + _EFFECTIVE_STATUS + ", t.assignee, t.claimed_at, "
            "t.snoozed_until, t.responded_at "
            "FROM posts p LEFT JOIN triage_state t ON t.doc_id = p.doc_id WHERE p.doc_id = :doc"
        )
        with self.database.reading() as db:
            row = db.execute(sql, {"now": self.clock.now().isoformat(), "doc": doc_id}).fetchone()
        if row is None:
            raise WorkflowError(f"onbekende post {doc_id!r}", not_found=True)
        doc, status, assignee, claimed, snoozed, responded = row
        return QueueItem(
            ScoredPost.model_validate_json(doc),
            status,
            assignee,
            _dt(claimed),
            _dt(snoozed),
            _dt(responded),
        )

    def brands(self) -> list[str]:
        """Brands that have posts, for the filter."""
        sql = "SELECT DISTINCT j.value FROM posts p, json_each(p.brands) j ORDER BY 1"
        with self.database.reading() as db:
            return [r[0] for r in db.execute(sql)]

    def stats(self) -> QueueStats:
        """Active posts per priority, resolved count and SLA breaches (open and answered)."""
        now = self.clock.now()
        sql = (
            "SELECT p.brand, p.priority, p.created_at, " + _EFFECTIVE_STATUS + ", t.responded_at, "
            "json_extract(p.doc, '$.response.responded_at') "
            "FROM posts p LEFT JOIN triage_state t ON t.doc_id = p.doc_id "
            "WHERE p.brand IS NOT NULL AND p.status != 'not_complaint'"
        )
        by_priority = {p.value: 0 for p in Priority}
        claimed = resolved = breaches_open = breaches_answered = 0
        with self.database.reading() as db:
            rows = db.execute(sql, {"now": now.isoformat()}).fetchall()
        for brand, priority, created, status, responded, public in rows:
            prio = Priority(priority)
            if status in ACTIVE:  # answered in public: the SLA clock stopped at the reply
                by_priority[priority] += 1
                claimed += status == "claimed"
                breaches_open += self.sla.breached(
                    brand, prio, datetime.fromisoformat(created), _dt(public), now
                )
            elif status == "resolved":
                resolved += 1
                first = min((t for t in (_dt(responded), _dt(public)) if t), default=None)
                breaches_answered += self.sla.breached(
                    brand, prio, datetime.fromisoformat(created), first, now
                )
        return QueueStats(by_priority, claimed, breaches_open, breaches_answered, resolved)

    def escalations(self, doc_ids: list[str]) -> dict[str, Escalation]:
        """The P1s among ``doc_ids`` that nobody claimed in time: the alert ladder
        (:mod:`notify`) escalated them, and their cards say so."""
        if not doc_ids:
            return {}
        marks = ",".join("?" * len(doc_ids))
        with self.database.reading() as db:
            rows = db.execute(
                f"SELECT doc_id, step, route, at FROM escalations WHERE doc_id IN ({marks})",
                doc_ids,
            ).fetchall()
        return {r[0]: Escalation(int(r[1]), str(r[2]), datetime.fromisoformat(r[3])) for r in rows}

    def open_incidents(self) -> list[OpenIncident]:
        """Brands whose latest incident alert has no later incident-over alert."""
        sql = (
            "SELECT doc FROM alerts WHERE kind IN ('incident', 'incident_over') "
            "ORDER BY created_at ASC, rowid ASC"
        )
        latest: dict[str, Alert] = {}
        with self.database.reading() as db:
            for (doc,) in db.execute(sql):
                alert = Alert.model_validate_json(doc)
                latest[alert.brand or ""] = alert
        incidents = []
        for alert in latest.values():
            if alert.kind.value == "incident":
                examples = [self.item(d).post for d in alert.examples if self._exists(d)]
                incidents.append(OpenIncident(alert, examples))
        return sorted(incidents, key=lambda i: i.alert.created_at, reverse=True)

    def _exists(self, doc_id: str) -> bool:
        with self.database.reading() as db:
            return (
                db.execute("SELECT 1 FROM posts WHERE doc_id = ?", (doc_id,)).fetchone() is not None
            )

    def history(self, doc_id: str) -> list[Action]:
        """The audit log of one post, oldest first."""
        sql = (
            "SELECT doc_id, action, user, at, detail FROM triage_actions "
            "WHERE doc_id = ? ORDER BY id"
        )
        with self.database.reading() as db:
            rows = db.execute(sql, (doc_id,)).fetchall()
        return [
            Action(d, a, u, datetime.fromisoformat(at), json.loads(x)) for d, a, u, at, x in rows
        ]

    # -- actions -----------------------------------------------------------------------------

    def claim(self, doc_id: str, user: str) -> QueueItem:
        """Take a post; another agent's claim is taken over (and logged as such)."""
        item = self._require(doc_id, allowed=("open", "claimed", "snoozed"))
        now = self.clock.now()
        detail: dict[str, object] = {}
        if item.status == "claimed" and item.assignee and item.assignee != user:
            detail["took_over_from"] = item.assignee
        self._apply(
            doc_id,
            "claimed",
            "claim",
            user,
            now,
            detail,
            assignee=user,
            claimed_at=now.isoformat(),
            snoozed_until=None,
        )
        return self.item(doc_id)

    def release(self, doc_id: str, user: str) -> QueueItem:
        """Give a claimed post back to the queue."""
        self._require(doc_id, allowed=("claimed",))
        self._apply(
            doc_id, "open", "release", user, self.clock.now(), {}, assignee=None, claimed_at=None
        )
        return self.item(doc_id)

    def resolve(
        self, doc_id: str, user: str, *, responded_at: datetime | None = None, note: str = ""
    ) -> QueueItem:
        """Mark answered at ``responded_at`` (default now); ends the author's unanswered streak."""
        item = self._require(doc_id, allowed=("open", "claimed", "snoozed"))
        now = self.clock.now()
        responded = responded_at or now
        if responded < item.post.post.created_at:
            raise WorkflowError("het reactietijdstip ligt vóór het moment van de post")
        if responded > now + timedelta(minutes=1):
            raise WorkflowError("het reactietijdstip ligt in de toekomst")
        detail: dict[str, object] = {"responded_at": responded.isoformat()}
        if note:
            detail["note"] = note[:2000]
        self._apply(
            doc_id,
            "resolved",
            "resolve",
            user,
            now,
            detail,
            responded_at=responded.isoformat(),
            resolved_by=user,
            snoozed_until=None,
        )
        if self.on_resolved is not None:
            self.on_resolved(doc_id)
        self.rescore(doc_id)
        return self.item(doc_id)

    def snooze(self, doc_id: str, user: str, minutes: float) -> QueueItem:
        """Hide a post until ``minutes`` from now; it comes back as open by itself."""
        self._require(doc_id, allowed=("open", "claimed", "snoozed"))
        if not 0 < minutes <= MAX_SNOOZE.total_seconds() / 60:
            raise WorkflowError("snooze kan van 1 minuut tot 7 dagen")
        now = self.clock.now()
        until = now + timedelta(minutes=minutes)
        self._apply(
            doc_id,
            "snoozed",
            "snooze",
            user,
            now,
            {"until": until.isoformat()},
            snoozed_until=until.isoformat(),
        )
        return self.item(doc_id)

    def not_complaint(self, doc_id: str, user: str) -> QueueItem:
        """Take a post out of the queue and out of the complaint numbers."""
        self._require(doc_id, allowed=("open", "claimed", "snoozed"))
        self._apply(doc_id, "not_complaint", "not_complaint", user, self.clock.now(), {})
        self.rescore(doc_id)
        return self.item(doc_id)

    def reopen(self, doc_id: str, user: str) -> QueueItem:
        """Undo: back to open, whatever the status was."""
        self._require(doc_id, allowed=STATUSES)
        self._apply(
            doc_id,
            "open",
            "reopen",
            user,
            self.clock.now(),
            {},
            assignee=None,
            claimed_at=None,
            snoozed_until=None,
            responded_at=None,
            resolved_by=None,
        )
        self.rescore(doc_id)
        return self.item(doc_id)

    def relabel(
        self,
        doc_id: str,
        user: str,
        *,
        sentiment: Sentiment,
        intent: Intent,
        cues: Sequence[Cue],
    ) -> None:
        """Store an agent's labels in the post and re-score it and its conversation:
        a post relabelled "overig" is no longer a P1 complaint, nor part of a streak."""
        post = self.item(doc_id).post
        labels = agent_classification(
            post.classification, sentiment=sentiment, intent=intent, cues=cues, user=user
        )
        store_labels(self.database, doc_id, labels)
        self.rescore(doc_id, also=(doc_id,))

    def rescore(self, doc_id: str, *, also: Sequence[str] = ()) -> list[str]:
        """Re-score the open posts of ``doc_id``'s conversation (:mod:`triage.rescoring`);
        nothing without a rescorer. Returns the doc ids whose score changed."""
        if self.rescorer is None:
            return []
        return rescore_conversation(
            self.database, self.rescorer, doc_id, now=self.clock.now(), also=also
        )

    def _require(self, doc_id: str, *, allowed: Sequence[Status]) -> QueueItem:
        item = self.item(doc_id)
        if item.status not in allowed:
            raise WorkflowError(f"deze post is {STATUS_LABEL[item.status]}; dat kan nu niet")
        return item

    def _apply(
        self,
        doc_id: str,
        status: Status,
        action: str,
        user: str,
        now: datetime,
        detail: dict[str, object],
        **state: str | None,
    ) -> None:
        """Status, workflow state and the audit line, in one transaction."""
        stamp = now.isoformat()
        with self.database.transaction() as db:
            db.execute("UPDATE posts SET status = ? WHERE doc_id = ?", (status, doc_id))
            db.execute(
                "INSERT INTO triage_state (doc_id, updated_at) VALUES (?, ?) "
                "ON CONFLICT (doc_id) DO UPDATE SET updated_at = excluded.updated_at",
                (doc_id, stamp),
            )
            for column, value in state.items():
                assert column in _STATE_COLUMNS, column  # names come from code, never input
                db.execute(
                    f"UPDATE triage_state SET {column} = ? WHERE doc_id = ?", (value, doc_id)
                )
            db.execute(
                "INSERT INTO triage_actions (doc_id, action, user, at, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                (doc_id, action, user, stamp, json.dumps(detail, ensure_ascii=False)),
            )
            if self.on_status is not None:
                self.on_status(db, doc_id, status, now)


def _fts_query(query: str) -> str:
    """Quote each word so user input is never parsed as FTS syntax."""
    words = [w for w in query.split() if w.strip('"')]
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)
