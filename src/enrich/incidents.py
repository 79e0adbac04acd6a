"""Brand incidents: a burst of complaints about one brand, against its own baseline.

Per brand we keep the complaints of the last ``window_minutes`` and an
exponentially-decayed rate of the complaints *before* that window (so the burst
itself does not raise the bar it must clear). With ``expected = max(rate, floor) ·
window`` an incident opens when

    count ≥ min_volume   and   (count − expected) / √expected ≥ z_threshold

(a Poisson z-score). One alert opens it, however many posts follow; it closes with an
"incident over" alert once the window count has stayed below half of ``min_volume``
for ``cooldown_minutes``, dated at that moment (not when the next post happened to
arrive) and carrying the whole incident's count, top terms and riskiest posts. An
engagement update of a known post (same doc id) is not counted again.

**Event time, and a watermark.** Time is the posts' ``created_at``, never the wall
clock, and the detector is deterministic: the same posts in the same order give the
same alerts, whatever the batch sizes and the arrival pace (a paced replay, an
unpaced backlog, the live stream). Complaints wait in a small reorder buffer until
the *watermark* — the latest event time seen minus ``allowed_lateness_seconds`` —
passes them; then they are taken in event-time order (ties by doc id), so posts that
arrive out of order by less than the lateness give exactly the alerts of sorted
input. Windows and cool-downs close when the watermark passes their end. A complaint
later than the watermark is counted at the watermark (the detector's time never
runs backwards) and tallied in :attr:`IncidentDetector.late`. At the end of a finite
input, :meth:`IncidentDetector.flush` releases what the buffer still holds.

Each post is taken in on its own, after the one before, so where one batch ends and
the next begins cannot change an alert; an alert opened by a complaint is emitted
once the watermark passes that complaint — ``allowed_lateness_seconds`` of event time
after it, at the latest when the input ends.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from klachtradar.contract import Alert, AlertKind, Priority, ScoredPost
from klachtradar.dutch import THEME_STOPWORDS
from klachtradar.settings import IncidentSettings

_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_STOP = THEME_STOPWORDS


@dataclass(slots=True)
class _Event:
    at: datetime
    doc_id: str
    text: str
    risk: int


@dataclass(order=True, frozen=True, slots=True)
class _Pending:
    """A complaint waiting for the watermark; ordered by event time, then doc id."""

    at: datetime
    doc_id: str
    brands: tuple[str, ...] = field(compare=False)
    text: str = field(compare=False)
    risk: int = field(compare=False)


@dataclass(slots=True)
class _BrandState:
    window: deque[_Event] = field(default_factory=deque)
    decayed: float = 0.0
    decayed_at: datetime | None = None
    open_since: datetime | None = None
    peak: int = 0
    recent: deque[datetime] = field(default_factory=deque)
    """Times of the last few complaints: when the quiet period started follows from them."""
    incident: list[_Event] = field(default_factory=list)
    """Every complaint since the incident opened, for the closing summary."""


@dataclass
class IncidentDetector:
    """Per-brand spike detection in event time, deterministic for a given input order."""

    settings: IncidentSettings
    brand_terms: dict[str, set[str]] = field(default_factory=dict)
    _brands: dict[str, _BrandState] = field(default_factory=dict)
    _counted: OrderedDict[str, None] = field(default_factory=OrderedDict)
    """Doc ids already counted: an engagement update of a post is not a new complaint."""
    memory: int = 100_000
    late: int = 0
    """Complaints that arrived after the watermark had passed them (counted at it)."""
    _pending: list[_Pending] = field(default_factory=list)
    _latest: datetime | None = None
    """The latest event time seen: the watermark follows it at the allowed lateness."""
    _clock: datetime | None = None
    """The detector's own time: the watermark as far as it has been applied."""

    @property
    def _lateness(self) -> timedelta:
        return timedelta(seconds=self.settings.allowed_lateness_seconds)

    @property
    def watermark(self) -> datetime | None:
        """Event time up to which every complaint is taken to have arrived."""
        return None if self._latest is None else self._latest - self._lateness

    @property
    def _window(self) -> timedelta:
        return timedelta(minutes=self.settings.window_minutes)

    @property
    def _tau_hours(self) -> float:
        return self.settings.baseline_halflife_hours / math.log(2)

    @property
    def _quiet_below(self) -> int:
        """An open incident is quiet while its window holds fewer complaints than this."""
        return max(1, self.settings.min_volume // 2)

    @property
    def waiting(self) -> int:
        """Complaints taken in that the watermark has not passed yet."""
        return len(self._pending)

    def open_incidents(self) -> dict[str, datetime]:
        """Brands with an open incident, and since when."""
        return {b: s.open_since for b, s in self._brands.items() if s.open_since is not None}

    def observe(self, posts: Sequence[ScoredPost]) -> list[Alert]:
        """Take in a batch; return incident (and incident-over) alerts it caused.

        Posts are taken one by one in arrival order (so batch boundaries do not
        matter); each moves the watermark, and the complaints it passes are counted
        in event-time order. Before each complaint, incidents that went quiet earlier
        are closed, so a storm that ends and a new one that starts inside one batch
        give two incidents, each closed at the right moment.
        """
        alerts: list[Alert] = []
        for post in posts:
            at = post.post.created_at
            if counts_as_complaint(post):
                self.take(at, post.doc_id, post.brand_names, post.post.text, post.risk.score)
            alerts.extend(self.advance_to(at))
        return alerts

    def take(self, at: datetime, doc_id: str, brands: Sequence[str], text: str, risk: int) -> None:
        """Take in one complaint (counted once the watermark passes it); a doc id
        counted before is ignored — a redelivered or re-scored post is not a new one."""
        if not self._seen(doc_id):
            heapq.heappush(self._pending, _Pending(at, doc_id, tuple(brands), text, risk))

    def advance_to(self, latest: datetime) -> list[Alert]:
        """The stream has reached event time ``latest``: release what the watermark passed.

        In one process that is each post's time; the ``incidents`` step passes the
        minimum over the raw partitions (none of them will still bring earlier posts,
        up to the lateness).
        """
        if self._latest is None or latest > self._latest:
            self._latest = latest
        watermark = self.watermark
        return [] if watermark is None else self._release(watermark)

    def to_state(self, *, counted: int = 2_000) -> dict[str, Any]:
        """Everything this detector knows, as JSON-able data (for a changelog).

        Of the counted doc ids only the last ``counted`` are kept: a redelivered
        complaint is a recent one (the batches in flight), and the full set grows
        with the stream.
        """
        return {
            "brands": {b: _brand_state_json(st) for b, st in self._brands.items()},
            "counted": list(self._counted)[-counted:],
            "late": self.late,
            "pending": [
                [p.at.isoformat(), p.doc_id, list(p.brands), p.text, p.risk] for p in self._pending
            ],
            "latest": self._latest.isoformat() if self._latest else None,
            "clock": self._clock.isoformat() if self._clock else None,
        }

    def load_state(self, data: dict[str, Any]) -> IncidentDetector:
        """Replace this detector's state with one :meth:`to_state` made; returns ``self``."""
        self._brands = {b: _brand_state_from(st) for b, st in data["brands"].items()}
        self._counted = OrderedDict.fromkeys(data["counted"])
        self.late = int(data["late"])
        self._pending = [
            _Pending(datetime.fromisoformat(at), doc, tuple(brands), text, risk)
            for at, doc, brands, text, risk in data["pending"]
        ]
        heapq.heapify(self._pending)
        self._latest = _when(data["latest"])
        self._clock = _when(data["clock"])
        return self

    def flush(self) -> list[Alert]:
        """The input has ended: count every complaint still waiting, close what went quiet
        by the latest event time. (A stream that goes on needs no flush.)"""
        if self._latest is None:
            return []
        return self._release(self._latest)

    def _release(self, until: datetime) -> list[Alert]:
        """Count the waiting complaints up to ``until`` in order, then move the clock there."""
        alerts: list[Alert] = []
        while self._pending and self._pending[0].at <= until:
            alerts.extend(self._count(heapq.heappop(self._pending)))
        if self._clock is None or until > self._clock:
            self._clock = until
            alerts.extend(self.advance_clock(until))
        return alerts

    def _count(self, pending: _Pending) -> list[Alert]:
        """One complaint into every brand it names; the alerts it opens or closes."""
        at = pending.at
        if self._clock is not None and at < self._clock:
            self.late += 1
            at = self._clock
        alerts: list[Alert] = []
        for brand in pending.brands:
            state = self._brands.setdefault(brand, _BrandState())
            closed = self._close_if_quiet(brand, state, at)
            if closed is not None:
                alerts.append(closed)
            self._advance(state, at)
            event = _Event(at, pending.doc_id, pending.text, pending.risk)
            state.window.append(event)
            state.recent.append(at)
            while len(state.recent) > self._quiet_below:
                state.recent.popleft()
            if state.open_since is not None:
                state.incident.append(event)
            alert = self._check_open(brand, state, at, pending.doc_id)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _seen(self, doc_id: str) -> bool:
        """True when ``doc_id`` was counted before; remembers it otherwise (bounded)."""
        if doc_id in self._counted:
            return True
        self._counted[doc_id] = None
        if len(self._counted) > self.memory:
            self._counted.popitem(last=False)
        return False

    def advance_clock(self, now: datetime) -> list[Alert]:
        """Close incidents that have gone quiet by event time ``now`` (the watermark)."""
        alerts: list[Alert] = []
        for brand, state in self._brands.items():
            closed = self._close_if_quiet(brand, state, now)
            if closed is not None:
                alerts.append(closed)
            self._advance(state, now)
        return alerts

    def quiet_since(self, brand: str) -> datetime | None:
        """When an open incident's window count fell below the quiet level, if it has."""
        state = self._brands.get(brand)
        if state is None or state.open_since is None:
            return None
        return self._quiet_start(state)

    def _quiet_start(self, state: _BrandState) -> datetime:
        """The moment the window dropped below the quiet level: the oldest of the last
        ``quiet_below`` complaints leaving the window."""
        if len(state.recent) < self._quiet_below:
            return state.recent[0] if state.recent else state.open_since or datetime.min
        return state.recent[0] + self._window

    def _close_if_quiet(self, brand: str, state: _BrandState, now: datetime) -> Alert | None:
        """The "incident over" alert, dated when the cool-down ended, if it has by ``now``."""
        if state.open_since is None:
            return None
        over_at = self._quiet_start(state) + timedelta(minutes=self.settings.cooldown_minutes)
        if now < over_at:
            return None
        alert = self._closed(brand, state, over_at)
        state.open_since = None
        state.peak = 0
        state.incident = []
        return alert

    def _advance(self, state: _BrandState, now: datetime) -> None:
        """Move events that left the window into the decayed baseline."""
        cutoff = now - self._window
        while state.window and state.window[0].at < cutoff:
            event = state.window.popleft()
            self._decay_to(state, event.at)
            state.decayed += 1.0
        self._decay_to(state, now)

    def _decay_to(self, state: _BrandState, now: datetime) -> None:
        if state.decayed_at is None:
            state.decayed_at = now
            return
        hours = (now - state.decayed_at).total_seconds() / 3600
        if hours > 0:
            state.decayed *= math.exp(-hours / self._tau_hours)
            state.decayed_at = now

    def expected_in_window(self, brand: str) -> float:
        """Complaints a normal window holds for this brand (at least the floor)."""
        state = self._brands.get(brand)
        rate = state.decayed / self._tau_hours if state else 0.0
        rate = max(rate, self.settings.baseline_floor_per_hour)
        return rate * self.settings.window_minutes / 60

    def _check_open(
        self, brand: str, state: _BrandState, at: datetime, doc_id: str
    ) -> Alert | None:
        count = len(state.window)
        state.peak = max(state.peak, count)
        if state.open_since is not None or count < self.settings.min_volume:
            return None
        expected = self.expected_in_window(brand)
        z = (count - expected) / math.sqrt(expected)
        if z < self.settings.z_threshold:
            return None
        state.open_since = at
        state.incident = list(state.window)
        minutes = round(self.settings.window_minutes)
        priority = Priority.P1 if count >= 3 * self.settings.min_volume else Priority.P2
        return Alert(
            alert_id=f"incident:{brand}:{at:%Y%m%dT%H%M%S}",
            kind=AlertKind.INCIDENT,
            created_at=at,
            brand=brand,
            priority=priority,
            doc_id=doc_id,
            title=f"Incident bij {brand}: {count} klachten in {minutes} min",
            reasons=[
                f"{count} klachten in {minutes} min, normaal {expected:.1f}".replace(".", ","),
                f"z-score {z:.1f}".replace(".", ","),
            ],
            examples=_examples(state.window),
            top_terms=self._top_terms(brand, state.window),
            post_count=count,
        )

    def _closed(self, brand: str, state: _BrandState, over_at: datetime) -> Alert:
        opened = state.open_since or over_at
        quiet = over_at - timedelta(minutes=self.settings.cooldown_minutes)
        minutes = max(1, round((quiet - opened).total_seconds() / 60))
        window = round(self.settings.window_minutes)
        return Alert(
            alert_id=f"incident_over:{brand}:{opened:%Y%m%dT%H%M%S}",
            kind=AlertKind.INCIDENT_OVER,
            created_at=over_at,
            brand=brand,
            priority=Priority.P4,
            title=f"Incident bij {brand} voorbij: {len(state.incident)} klachten in {minutes} min",
            reasons=[
                f"piek {state.peak} klachten per {window} min",
                f"{round(self.settings.cooldown_minutes)} min rustig",
            ],
            examples=_examples(state.incident),
            top_terms=self._top_terms(brand, state.incident),
            post_count=len(state.incident),
        )

    def _top_terms(self, brand: str, events: Iterable[_Event], n: int = 5) -> list[str]:
        """The words most posts of the burst share; a brand-prefixed hashtag counts as
        its remainder (#ziggostoring → storing)."""
        brand_words = {t.lower() for t in self.brand_terms.get(brand, {brand})}
        prefixes = tuple(sorted(brand_words, key=len, reverse=True))
        counts: Counter[str] = Counter()
        for event in events:
            words = set()
            for word in _WORD.findall(event.text.lower()):
                if prefixes and word.startswith(prefixes) and word not in brand_words:
                    word = word[len(next(p for p in prefixes if word.startswith(p))) :]
                if len(word) >= 4 and word not in _STOP and word not in brand_words:
                    words.add(word)
            counts.update(words)
        return [w for w, _ in counts.most_common(n)]


def counts_as_complaint(post: ScoredPost) -> bool:
    """Whether a post is a complaint incident detection counts: classified so, naming a brand."""
    cls = post.classification
    return cls is not None and cls.complaint_probability >= 0.5 and bool(post.brand_names)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _event_json(event: _Event) -> list[Any]:
    return [event.at.isoformat(), event.doc_id, event.text, event.risk]


def _event_from(data: list[Any]) -> _Event:
    return _Event(datetime.fromisoformat(data[0]), data[1], data[2], data[3])


def _brand_state_json(state: _BrandState) -> dict[str, Any]:
    return {
        "window": [_event_json(e) for e in state.window],
        "decayed": state.decayed,
        "decayed_at": state.decayed_at.isoformat() if state.decayed_at else None,
        "open_since": state.open_since.isoformat() if state.open_since else None,
        "peak": state.peak,
        "recent": [t.isoformat() for t in state.recent],
        "incident": [_event_json(e) for e in state.incident],
    }


def _brand_state_from(data: dict[str, Any]) -> _BrandState:
    return _BrandState(
        window=deque(_event_from(e) for e in data["window"]),
        decayed=float(data["decayed"]),
        decayed_at=_when(data["decayed_at"]),
        open_since=_when(data["open_since"]),
        peak=int(data["peak"]),
        recent=deque(datetime.fromisoformat(t) for t in data["recent"]),
        incident=[_event_from(e) for e in data["incident"]],
    )


def _examples(events: Iterable[_Event], n: int = 3) -> list[str]:
    """The riskiest posts of the burst, as doc ids."""
    return [e.doc_id for e in sorted(events, key=lambda e: e.risk, reverse=True)[:n]]
