"""From alerts to delivered messages: routing, no floods, no losses, and escalation.

:meth:`AlertDispatch.enqueue` decides, per alert and per route, what is queued in the
outbox (one transaction per batch):

1. **routing** — a route takes the kinds, brands and post priorities it lists;
2. **dedup** — per route, doc id and kind: a redelivered alert adds nothing; a post
   re-scored to a *higher* priority queues one update, threaded under the first
   message; a lower or equal one nothing;
3. **threads** — an incident opens a thread; the posts of its brand from its window
   on, while it is open, and its "incident over" are replies in it (not counted
   against the rate limit: they add to one thread, they do not flood the channel);
4. **quiet hours** — below P1, posts are held for the digest and incidents wait for
   the end of the quiet hours; P1 breaks through;
5. **rate limit** — past ``rate_limit`` messages per window, posts below P1 are only
   counted; one digest per brand and priority ("Nog 14 P3-meldingen over KPN") goes
   out when the window has passed.

:meth:`AlertDispatch.deliver` sends what is due, in order per route; a failure that may
pass is retried with :class:`~klachtradar.backoff.Backoff` (or the server's
``Retry-After``) and holds that route's later messages back, so threads and order
survive an outage; a permanent failure, or ``max_attempts`` reached, becomes a
:class:`~klachtradar.contract.DeadLetter` with the reason. :meth:`AlertDispatch.escalate`
walks the ladder of unclaimed P1 posts. Time is an injected clock, so tests run hours
in microseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from klachtradar.backoff import Backoff
from klachtradar.contract import Alert, AlertKind, DeadLetter, Priority, ScoredPost
from klachtradar.settings import AlertRoute, AlertSettings, TriageSettings
from notify.channels import Channel, DeliveryError
from notify.message import alert_message, digest_message, escalation_message
from notify.outbox import Digest, Outbox, OutboxRow

log = logging.getLogger("klachtradar.notify")

Clock = Callable[[], datetime]
ClaimCheck = Callable[[str], bool]
"""True when the post with this doc id was claimed (or otherwise handled) in triage."""
Escalated = Callable[[str, str, int, datetime], None]
"""Told ``(doc id, route, step, when)`` each time a P1 climbs one rung of the ladder."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class DeliveryStats:
    """What one :meth:`AlertDispatch.deliver` pass did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def quiet_window(route: AlertRoute) -> tuple[time, time] | None:
    if not route.quiet_hours:
        return None
    start, end = route.quiet_hours.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def quiet_until(route: AlertRoute, now: datetime) -> datetime | None:
    """When the route's quiet hours end, if ``now`` is inside them (else None)."""
    window = quiet_window(route)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(ZoneInfo(route.timezone))
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    ends = datetime.combine(end_day, end, tzinfo=local.tzinfo)
    return ends.astimezone(UTC)


_BATCH_ORDER = {AlertKind.INCIDENT: 0, AlertKind.POST: 1, AlertKind.INCIDENT_OVER: 2}
"""Within one batch: an incident opens its thread before the storm's posts (its alert
waits for the watermark, so it often arrives in the batch that holds them), and
closes it after them."""


def _thread_of_incident_over(alert_id: str) -> str:
    return "incident:" + alert_id.removeprefix("incident_over:")


def _send(channel: Channel, row: OutboxRow, thread: str | None) -> str | None:
    """``channel.send``, with any other exception (a bug, a malformed URL) turned into a
    retryable :class:`DeliveryError`: the message is neither lost nor allowed to stop
    the others, and ends in the dead letters after ``max_attempts``. Only the exception's
    type is kept: its text may hold the URL, which is a secret."""
    try:
        return channel.send(row.message, delivery_id=row.delivery_id, thread=thread)
    except DeliveryError:
        raise
    except Exception as exc:
        raise DeliveryError(
            f"route {row.route}: {type(exc).__name__} in the channel", retryable=True
        ) from None


class AlertDispatch:
    """Routes alerts into the outbox and delivers them (see the module docstring)."""

    def __init__(
        self,
        settings: AlertSettings,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        *,
        triage: TriageSettings | None = None,
        clock: Clock = utc_now,
        on_dead: Callable[[DeadLetter], None] | None = None,
        on_escalated: Escalated | None = None,
        incident_window: timedelta = timedelta(minutes=10),
    ) -> None:
        """``incident_window``: ``[incidents] window_minutes``; a post's alert is a reply in
        its brand's open incident when the post was written at most this long before the
        incident opened (the complaints that opened it), or after."""
        self.settings = settings
        self.outbox = outbox
        self.channels = dict(channels)
        self.triage = triage or TriageSettings()
        self.clock = clock
        self.on_dead = on_dead
        self.on_escalated = on_escalated
        self.incident_window = incident_window
        self._posts: dict[str, ScoredPost | None] = {}
        """The P1 posts on the ladder, for the facts of their escalation message (in
        ``notify`` on Kafka only the alert is known: its title and reasons then)."""
        self.backoff = Backoff(
            initial_s=settings.retry_initial_s, maximum_s=settings.retry_max_s, jitter=0.0
        )

    # -- into the outbox ---------------------------------------------------------------------

    def enqueue(
        self, alerts: Sequence[Alert], posts: Mapping[str, ScoredPost] | None = None
    ) -> int:
        """Queue the messages for a batch of alerts, atomically; returns how many."""
        posts = posts or {}
        now = self.clock()
        queued = 0
        with self.outbox.transaction():
            for alert in sorted(alerts, key=lambda a: _BATCH_ORDER.get(a.kind, 1)):
                post = posts.get(alert.doc_id or "")
                for name, route in self.settings.routes.items():
                    if self._takes(route, alert):
                        queued += self._route(name, route, alert, post, now)
                if alert.kind is AlertKind.POST and alert.priority is Priority.P1 and alert.doc_id:
                    self._start_ladder(alert, post, now)
        return queued

    def _takes(self, route: AlertRoute, alert: Alert) -> bool:
        if alert.kind not in route.kinds:
            return False
        if route.brands and alert.brand not in route.brands:
            return False
        return alert.kind is not AlertKind.POST or alert.priority.rank <= route.min_priority.rank

    def _route(
        self, name: str, route: AlertRoute, alert: Alert, post: ScoredPost | None, now: datetime
    ) -> int:
        if alert.kind is AlertKind.POST:
            return self._route_post(name, route, alert, post, now)
        key = alert.alert_id
        if self.outbox.seen(name, key) is not None:
            return 0
        self.outbox.remember(name, key, alert.priority.value, now)
        brand = alert.brand or ""
        thread: str | None = None
        opens, reply_to = False, ""
        if alert.kind is AlertKind.INCIDENT:
            thread, opens = alert.alert_id, True
            self.outbox.open_incident(name, brand, thread, alert.created_at - self.incident_window)
        elif alert.kind is AlertKind.INCIDENT_OVER:
            thread = _thread_of_incident_over(alert.alert_id)
            reply_to = self.outbox.thread_headline(name, thread)
            self.outbox.close_incident(name, brand, thread)
        message = alert_message(
            alert, post, now=now, triage_url=self.settings.triage_url, reply_to=reply_to
        )
        held = None if alert.priority is Priority.P1 else quiet_until(route, now)
        return int(
            self.outbox.add(
                delivery_id=f"{name}:{key}",
                route=name,
                kind=alert.kind.value,
                alert_id=alert.alert_id,
                message=message,
                at=now,
                thread_key=thread,
                opens_thread=opens,
                counted=False,
                not_before=held,
            )
        )

    def _route_post(
        self, name: str, route: AlertRoute, alert: Alert, post: ScoredPost | None, now: datetime
    ) -> int:
        key = f"post:{alert.doc_id}"
        before = self.outbox.seen(name, key)
        if before is not None and Priority(before).rank <= alert.priority.rank:
            return 0  # the same alert again, or a lower priority: nothing new to say
        self.outbox.remember(name, key, alert.priority.value, now)
        brand = alert.brand or ""
        incident = self.outbox.incident_thread(name, brand, alert.created_at) if brand else None
        in_incident = before is None and incident is not None
        if before is not None:
            thread, opens = key, False
        elif incident is not None:
            thread, opens = incident, False
        else:
            thread, opens = key, True
        if alert.priority is not Priority.P1:
            reason = self._holding_reason(name, route, now, limited=not in_incident)
            if reason:
                self.outbox.hold(name, brand or "onbekend merk", alert.priority.value, now, reason)
                return 0
        reply_to = "" if opens else self.outbox.thread_headline(name, thread)
        message = alert_message(
            alert,
            post,
            now=now,
            triage_url=self.settings.triage_url,
            raised_from=before or "",
            reply_to=reply_to,
        )
        return int(
            self.outbox.add(
                delivery_id=f"{name}:{key}:{alert.priority.value}",
                route=name,
                kind=alert.kind.value,
                alert_id=alert.alert_id,
                message=message,
                at=now,
                thread_key=thread,
                opens_thread=opens,
                counted=alert.priority is not Priority.P1 and not in_incident,
            )
        )

    def _holding_reason(self, name: str, route: AlertRoute, now: datetime, *, limited: bool) -> str:
        """Why a post below P1 is held for the digest now ('' : it is not); replies in an
        incident's thread are not ``limited`` (they add to one thread, not the channel)."""
        if quiet_until(route, now) is not None:
            return f"stille uren ({route.quiet_hours})"
        if not limited:
            return ""
        window = timedelta(minutes=route.rate_window_minutes)
        if self.outbox.counted_since(name, now - window) >= route.rate_limit:
            return (
                f"limiet van {route.rate_limit} meldingen per "
                f"{route.rate_window_minutes:g} min bereikt"
            )
        return ""

    def flush_digests(self, *, force: bool = False) -> int:
        """Queue the digests whose window has passed (``force``: all of them, at the end
        of a finite run); a route in its quiet hours keeps its digest until they end."""
        now = self.clock()
        if not self._due_digests(now, force):
            return 0  # the common case: no transaction, no fsync
        with self.outbox.transaction():  # read again inside: counts are exact
            return sum(self._queue_digest(d, now) for d in self._due_digests(now, force))

    def _due_digests(self, now: datetime, force: bool) -> list[Digest]:
        return [
            digest
            for digest in self.outbox.digests()
            if (route := self.settings.routes.get(digest.route)) is not None
            and self._digest_due(route, digest, now, force)
        ]

    def _digest_due(self, route: AlertRoute, digest: Digest, now: datetime, force: bool) -> bool:
        if force:
            return True
        if quiet_until(route, now) is not None:
            return False
        return now - digest.first_at >= timedelta(minutes=route.rate_window_minutes)

    def _queue_digest(self, digest: Digest, now: datetime) -> int:
        message = digest_message(
            digest.brand,
            digest.priority,
            digest.count,
            reason=digest.reason,
            triage_url=self.settings.triage_url,
        )
        self.outbox.drop_digest(digest)
        stamp = digest.first_at.strftime("%Y%m%dT%H%M%S%f")
        return int(
            self.outbox.add(
                delivery_id=f"{digest.route}:digest:{digest.brand}:{digest.priority}:{stamp}",
                route=digest.route,
                kind="digest",
                message=message,
                at=now,
                counted=False,
            )
        )

    # -- out of the outbox -------------------------------------------------------------------

    def deliver(self) -> DeliveryStats:
        """Send every due message once, in order per route (see the module docstring).

        A message waiting for its retry holds back the later messages of its route (so
        threads and order survive an outage); one merely deferred to the end of the
        quiet hours does not (a P1 must break through).
        """
        self.flush_digests()
        stats = DeliveryStats()
        now = self.clock()
        failed: set[str] = set()
        for row in self._sendable(self.outbox.pending(), now):
            if row.route in failed or row.next_at > now:
                continue
            if not self._deliver_one(row, stats):
                failed.add(row.route)
        return stats

    def _sendable(self, rows: list[OutboxRow], now: datetime) -> Iterator[OutboxRow]:
        """Pending rows in order, except those behind a row of their route that waits
        for its retry (that row itself is included: its time counts)."""
        retrying: set[str] = set()
        for row in rows:
            if row.route in retrying:
                continue
            if row.attempts > 0 and row.next_at > now:
                retrying.add(row.route)
            yield row

    def _deliver_one(self, row: OutboxRow, stats: DeliveryStats) -> bool:
        channel = self.channels.get(row.route)
        if channel is None:
            self._dead(row, f"route {row.route} is no longer configured", stats)
            return True
        thread = None
        if row.thread_key and not row.opens_thread:
            thread = self.outbox.thread_ref(row.route, row.thread_key)
        try:
            ref = _send(channel, row, thread)
        except DeliveryError as exc:
            if not exc.retryable or row.attempts + 1 >= self.settings.max_attempts:
                self._dead(row, f"{exc} (after {row.attempts + 1} attempts)", stats)
                return not exc.retryable  # a route that is down keeps its order
            wait = max(exc.retry_after_s or 0.0, self.backoff.wait_for(row.attempts))
            self.outbox.mark_retry(row, self.clock() + timedelta(seconds=wait), str(exc))
            stats.retried += 1
            log.warning(
                "delivery failed, retrying",
                extra={
                    "fields": {
                        "route": row.route,
                        "delivery": row.delivery_id,
                        "error": str(exc),
                        "retry_in_s": round(wait, 2),
                    }
                },
            )
            return False
        self.outbox.mark_sent(row, self.clock(), ref)
        stats.sent += 1
        return True

    def _dead(self, row: OutboxRow, reason: str, stats: DeliveryStats) -> None:
        self.outbox.mark_dead(row, reason)
        stats.dead += 1
        log.error(
            "delivery failed for good",
            extra={"fields": {"route": row.route, "delivery": row.delivery_id, "error": reason}},
        )
        if self.on_dead is not None:
            self.on_dead(
                DeadLetter(
                    origin=f"notify:{row.route}",
                    position=row.delivery_id,
                    stage="notify",
                    error=reason,
                    raw=row.message.plain(),
                    failed_at=self.clock(),
                )
            )

    def next_due_in(self) -> float | None:
        """Seconds until the next message can be sent (None: nothing pending)."""
        times = [row.next_at for row in self._sendable(self.outbox.pending(), self.clock())]
        if not times:
            return None
        return max(0.0, (min(times) - self.clock()).total_seconds())

    # -- the escalation ladder ---------------------------------------------------------------

    def _start_ladder(self, alert: Alert, post: ScoredPost | None, now: datetime) -> None:
        if self.settings.escalation and alert.doc_id:
            self.outbox.start_escalation(alert.doc_id, alert.brand, alert.model_dump_json(), now)
            self._posts[alert.doc_id] = post

    def minutes_per_step(self, brand: str | None) -> float:
        per_brand = self.triage.brand_escalate_after_minutes
        return per_brand.get(brand or "", self.triage.escalate_after_minutes)

    def escalate(self, is_claimed: ClaimCheck) -> int:
        """Climb one rung for every unclaimed P1 whose time on the current rung is up;
        a claimed post leaves the ladder for good. Returns the rungs climbed."""
        ladder = self.settings.escalation
        now = self.clock()
        climbed = 0
        for item in self.outbox.running_escalations():
            if is_claimed(item.doc_id):
                self.outbox.set_escalation(item.doc_id, step=item.step, state="claimed")
                self._posts.pop(item.doc_id, None)
                continue
            minutes = self.minutes_per_step(item.brand)
            if now < item.started_at + timedelta(minutes=minutes * (item.step + 1)):
                continue
            step = item.step + 1
            route = ladder[item.step]
            alert = Alert.model_validate_json(item.alert_json)
            message = escalation_message(
                alert,
                self._posts.get(item.doc_id),
                step=step,
                minutes=minutes * step,
                now=now,
                triage_url=self.settings.triage_url,
            )
            with self.outbox.transaction():
                self.outbox.add(
                    delivery_id=f"{route}:escalation:{item.doc_id}:{step}",
                    route=route,
                    kind="escalation",
                    alert_id=alert.alert_id,
                    message=message,
                    at=now,
                    counted=False,
                )
                state = "done" if step >= len(ladder) else "running"
                self.outbox.set_escalation(item.doc_id, step=step, state=state)
            if state == "done":
                self._posts.pop(item.doc_id, None)
            climbed += 1
            if self.on_escalated is not None:
                self.on_escalated(item.doc_id, route, step, now)
        return climbed
