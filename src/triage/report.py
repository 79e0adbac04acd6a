"""The brand report's numbers, straight from the store (no web or plotting imports).

A *complaint* is a post about the brand whose intent is ``klacht`` and that no agent
marked "not a complaint". *Answered* means resolved; the response time is the
``responded_at`` the agent gave minus the post's ``created_at``. SLA breaches use the
same :class:`~triage.sla.SlaPolicy` as the live queue: answered late, or still
unanswered past the target at the end of the period.

Next to that, what the brand answered *in public* on the platform (whoever answered, in
whatever tool): response rate, first response time and the tone of its replies
(:mod:`triage.public_response`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from klachtradar.contract import Priority, utc_now
from klachtradar.dutch import THEME_STOPWORDS
from klachtradar.errors import KlachtradarError
from klachtradar.settings import TriageSettings
from triage.public_response import (
    ComplaintResponse,
    PublicResponseStats,
    public_response_stats,
)
from triage.sla import SlaPolicy

_PERIOD = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WORD = re.compile(r"[^\W\d_][\w'-]{3,}", re.UNICODE)
_FILLER = frozenset(
    {
        "nieuw",
        "nieuwe",
        "week",
        "weken",
        "heten",
        "heet",
        "dagen",
        "maand",
        "maanden",
        "keer",
        "vandaag",
        "gisteren",
        "morgen",
        "steeds",
        "weer",
        "sinds",
        "paar",
        "heel",
        "jullie",
        "mijn",
        "onze",
        "zijn",
        "wordt",
        "worden",
        "moet",
        "moeten",
        "kunnen",
        "krijg",
        "krijgen",
        "hoor",
        "hoe",
        "waarom",
        "wanneer",
        "iemand",
        "niemand",
        "niks",
        "niets",
        "meer",
        "veel",
        "weet",
        "uur",
        "minuten",
        "tijd",
        "nu",
        "toch",
        "zelfs",
    }
)
"""Words that fill a complaint without saying what it is about (time, pronouns, verbs):
a theme chart of "nieuwe, week, weken" tells a manager nothing."""
_STOP = THEME_STOPWORDS | _FILLER
RESPONSE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 15 min", 15),
    ("15–60 min", 60),
    ("1–4 uur", 240),
    ("4–24 uur", 1440),
    ("1–3 dagen", 4320),
    ("> 3 dagen", float("inf")),
)


def parse_period(
    since: str, until: str | None, *, now: datetime | None = None, zone: tzinfo = UTC
) -> tuple[datetime, datetime]:
    """``since``: '7d', '24h', '6w', '90m' before ``until`` (default now), or a date.

    A date or time without an offset is read in ``zone`` (``[triage] timezone`` from the
    CLI and the app: "2026-11-09" is midnight in Amsterdam); the result is UTC.
    """
    end = _parse_time(until, zone) if until else (now or utc_now())
    match = _PERIOD.match(since.strip().lower())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        return end - timedelta(**{unit: amount}), end
    start = _parse_time(since, zone)
    if start >= end:
        raise KlachtradarError(f"--since {since} is not before the end of the period")
    return start, end


def _parse_time(value: str, zone: tzinfo) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise KlachtradarError(
            f"{value!r}: give a period like 7d, 24h, 6w or a date like 2026-10-01"
        ) from exc
    return (parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ComplaintRow:
    """One complaint as the report sees it."""

    doc_id: str
    handle: str
    author_id: str
    followers: int | None
    created_at: datetime
    priority: Priority
    risk: int
    status: str
    responded_at: datetime | None
    text: str
    url: str | None
    cues: list[str]
    thread_id: str | None = None
    first_response_minutes: float | None = None
    """Minutes to the brand's first public reply (``ScoredPost.response``), if any."""
    answered_not_solved: bool = False

    @property
    def answered(self) -> bool:
        return self.status == "resolved"

    @property
    def response_minutes(self) -> float | None:
        if not self.answered or self.responded_at is None:
            return None
        return (self.responded_at - self.created_at).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class RepeatComplainer:
    """An author with several complaints whose latest is still unanswered."""

    handle: str
    followers: int | None
    complaints: int
    unanswered: int
    first: datetime
    last: datetime


@dataclass(frozen=True, slots=True)
class SlaCounts:
    on_time: int = 0
    late: int = 0
    open_breached: int = 0
    open_within: int = 0
    no_target: int = 0


@dataclass
class BrandReport:
    """Everything the report shows."""

    brand: str
    start: datetime
    end: datetime
    posts: int
    rows: list[ComplaintRow]
    per_day: list[tuple[date, int, int]]
    sla_by_priority: dict[str, SlaCounts]
    top_themes: list[tuple[str, int]]
    cues: dict[str, int]
    repeat_unanswered: list[RepeatComplainer]
    biggest_reach: list[ComplaintRow]
    public: PublicResponseStats
    generated_at: datetime = field(default_factory=utc_now)

    @property
    def complaints(self) -> int:
        return len(self.rows)

    @property
    def answered(self) -> int:
        return sum(r.answered for r in self.rows)

    @property
    def answered_share(self) -> float:
        return self.answered / self.complaints if self.complaints else 0.0

    @property
    def response_minutes(self) -> list[float]:
        return [m for r in self.rows if (m := r.response_minutes) is not None]

    @property
    def median_response_minutes(self) -> float | None:
        values = sorted(self.response_minutes)
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    @property
    def response_buckets(self) -> list[tuple[str, int]]:
        counts = [0] * len(RESPONSE_BUCKETS)
        for minutes in self.response_minutes:
            index = next(i for i, (_, upper) in enumerate(RESPONSE_BUCKETS) if minutes < upper)
            counts[index] += 1
        return [(label, n) for (label, _), n in zip(RESPONSE_BUCKETS, counts, strict=True)]

    @property
    def sla_breaches(self) -> int:
        return sum(c.late + c.open_breached for c in self.sla_by_priority.values())


_SQL = """
SELECT p.doc_id, p.author_handle, p.author_id, p.followers, p.created_at, p.priority, p.risk,
       p.status, t.responded_at, p.doc, p.cues, p.intent
FROM posts p LEFT JOIN triage_state t ON t.doc_id = p.doc_id
WHERE EXISTS (SELECT 1 FROM json_each(p.brands) WHERE value = :brand)
  AND p.created_at >= :start AND p.created_at < :end
"""

_REPLIES_SQL = """
SELECT json_extract(p.doc, '$.reply.tone.tone')
FROM posts p
WHERE p.brand IS NULL AND json_extract(p.doc, '$.reply.brand') = :brand
  AND p.created_at >= :start AND p.created_at < :end
"""
"""The brand's own replies in the period (a brand reply has no brands: not a mention)."""


def known_brands(path: Path | str) -> list[str]:
    """The brands the store has posts about."""
    from triage.database import TriageDatabase

    database = TriageDatabase(path)
    try:
        with database.reading() as db:
            sql = "SELECT DISTINCT j.value FROM posts p, json_each(p.brands) j ORDER BY 1"
            return [str(r[0]) for r in db.execute(sql)]
    finally:
        database.close()


def check_brand(path: Path | str, brand: str) -> None:
    """Refuse a brand the store has no posts about: an empty report with exit 0 looks
    like "no complaints", when it is a typo. Names the known brands and the closest."""
    import difflib

    brands = known_brands(path)
    if brand in brands:
        return
    close = difflib.get_close_matches(brand, brands, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise KlachtradarError(
        f"no posts about brand {brand!r}; {hint}known: {', '.join(brands) or 'none'}"
    )


def busiest_brand(path: Path | str) -> str | None:
    """The brand with the most open complaints (then the most complaints): where a
    manager opening the report should look first."""
    from triage.database import TriageDatabase

    database = TriageDatabase(path)
    try:
        with database.reading() as db:
            row = db.execute(
                "SELECT j.value FROM posts p, json_each(p.brands) j "
                "GROUP BY j.value ORDER BY "
                "sum(p.intent = 'klacht' AND p.status IN ('open', 'claimed', 'snoozed')) DESC, "
                "sum(p.intent = 'klacht') DESC, j.value LIMIT 1"
            ).fetchone()
    finally:
        database.close()
    return str(row[0]) if row else None


def build_report(
    path: Path | str,
    *,
    brand: str,
    start: datetime,
    end: datetime,
    triage: TriageSettings,
    now: datetime | None = None,
) -> BrandReport:
    """Read the store and compute the report for ``brand`` over ``[start, end)``."""
    from triage.database import TriageDatabase

    database = TriageDatabase(path)  # makes sure the triage tables exist
    period = {"brand": brand, "start": start.isoformat(), "end": end.isoformat()}
    try:
        with database.reading() as db:
            db.row_factory = None
            rows = db.execute(_SQL, period).fetchall()
            reply_tones = [tone for (tone,) in db.execute(_REPLIES_SQL, period)]
    except sqlite3.Error as exc:
        raise KlachtradarError(f"{path}: cannot read the store ({exc})") from exc
    finally:
        database.close()
    complaints = [_row(r) for r in rows if r[11] == "klacht" and r[7] != "not_complaint"]
    complaints.sort(key=lambda r: r.created_at)
    zone = ZoneInfo(triage.timezone)
    at = min(end, now or utc_now())
    sla = SlaPolicy.from_settings(triage)
    return BrandReport(
        brand=brand,
        start=start,
        end=end,
        posts=len(rows),
        rows=complaints,
        per_day=_per_day(complaints, start, end, zone),
        sla_by_priority=_sla_counts(complaints, sla, brand, at),
        top_themes=_themes(complaints, brand),
        cues=dict(Counter(c for r in complaints for c in r.cues).most_common()),
        repeat_unanswered=_repeat_unanswered(complaints),
        biggest_reach=_biggest_reach(complaints),
        public=public_response_stats(
            [
                ComplaintResponse(
                    r.doc_id, r.thread_id, r.first_response_minutes, r.answered_not_solved
                )
                for r in complaints
            ],
            reply_tones,
        ),
    )


def _row(r: tuple[object, ...]) -> ComplaintRow:
    doc_id, handle, author_id, followers, created, priority, risk, status, responded, doc, cues = r[
        :11
    ]
    scored = json.loads(str(doc))
    post = scored["post"]
    response = scored.get("response") or {}
    return ComplaintRow(
        doc_id=str(doc_id),
        handle=str(handle),
        author_id=str(author_id),
        followers=followers if isinstance(followers, int) else None,
        created_at=datetime.fromisoformat(str(created)),
        priority=Priority(str(priority)),
        risk=int(str(risk)),
        status=str(status),
        responded_at=datetime.fromisoformat(str(responded)) if responded else None,
        text=str(post.get("text", "")),
        url=post.get("url"),
        cues=list(json.loads(str(cues))),
        thread_id=scored.get("thread_id"),
        first_response_minutes=response.get("first_response_minutes"),
        answered_not_solved=bool(scored.get("answered_not_solved")),
    )


def _biggest_reach(rows: list[ComplaintRow], n: int = 10) -> list[ComplaintRow]:
    """The complaints with the largest audience, one per author (their riskiest):
    the same author ten times is one person, not ten."""
    best: dict[str, ComplaintRow] = {}
    for r in rows:
        kept = best.get(r.author_id)
        if kept is None or (r.risk, r.created_at) > (kept.risk, kept.created_at):
            best[r.author_id] = r
    return sorted(best.values(), key=lambda r: (r.followers or 0, r.risk), reverse=True)[:n]


def _per_day(
    rows: list[ComplaintRow], start: datetime, end: datetime, zone: ZoneInfo
) -> list[tuple[date, int, int]]:
    """(day, complaints, answered) for every day of the period in ``zone``, zeros included."""
    total: Counter[date] = Counter(r.created_at.astimezone(zone).date() for r in rows)
    answered: Counter[date] = Counter(
        r.created_at.astimezone(zone).date() for r in rows if r.answered
    )
    days = []
    day = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    while day <= last:
        days.append((day, total[day], answered[day]))
        day += timedelta(days=1)
    return days


def _sla_counts(
    rows: list[ComplaintRow], sla: SlaPolicy, brand: str, at: datetime
) -> dict[str, SlaCounts]:
    counts: dict[str, dict[str, int]] = {p.value: defaultdict(int) for p in Priority}
    for r in rows:
        bucket = counts[r.priority.value]
        target = sla.target(brand, r.priority)
        if target is None:
            bucket["no_target"] += 1
        elif r.answered:
            late = sla.breached(brand, r.priority, r.created_at, r.responded_at or at, at)
            bucket["late" if late else "on_time"] += 1
        else:
            late = sla.breached(brand, r.priority, r.created_at, None, at)
            bucket["open_breached" if late else "open_within"] += 1
    return {p: SlaCounts(**c) for p, c in counts.items()}


def _themes(rows: list[ComplaintRow], brand: str, n: int = 12) -> list[tuple[str, int]]:
    """Most frequent words across complaints (each counted once per post)."""
    skip = _STOP | {brand.lower()}
    counts: Counter[str] = Counter()
    for r in rows:
        text = re.sub(r"[@#]\w+|https?://\S+", " ", r.text)
        counts.update({w.lower() for w in _WORD.findall(text)} - skip)
    return [(w, c) for w, c in counts.most_common(n) if c > 1]


def _repeat_unanswered(rows: list[ComplaintRow]) -> list[RepeatComplainer]:
    by_author: dict[str, list[ComplaintRow]] = defaultdict(list)
    for r in rows:
        by_author[r.author_id].append(r)
    out = []
    for items in by_author.values():
        items.sort(key=lambda r: r.created_at)
        if len(items) < 2 or items[-1].answered:
            continue
        out.append(
            RepeatComplainer(
                handle=items[-1].handle,
                followers=items[-1].followers,
                complaints=len(items),
                unanswered=sum(not r.answered for r in items),
                first=items[0].created_at,
                last=items[-1].created_at,
            )
        )
    return sorted(out, key=lambda c: (c.unanswered, c.followers or 0), reverse=True)
