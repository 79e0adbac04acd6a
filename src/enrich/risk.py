"""Reach and virality risk: a 0–100 score, a priority and the reasons in plain Dutch.

The score is a sum of points, each feature scaled to [0, 1] and weighted from
``[risk]`` in the settings, so every point can be explained::

    complaint     w_c · P(klacht)
    negativity    w_n · P(negatief)
    reach         w_r · L(followers, reach_full_followers)
    verified      w_v  if the account is verified
    amplification w_a · L(reposts + 2·quotes, amplification_full)
    velocity      w_s · min(1, reposts per hour / velocity_full_per_hour)
    virality      w_x · L(expected final reposts + quotes, virality_full_reposts),
                  from virality_min_shares reposts + quotes on
    history       min(history_max, w_h · earlier unanswered complaints, same author+brand)
    waiting       w_w · L(hours since the first unanswered complaint, waiting_full_hours)
    cues          min(cue_max, Σ weight of each cue: media, churn, herhaald, urgent)
    answered      answered_not_solved  if a complaint follows a public brand reply

    L(x, full) = min(1, log10(1 + x) / log10(1 + full))

    score = min(100, total)                          complaint, negative, or a streak ≥ 2
    score = min(100, total · non_complaint_factor)   otherwise (praise from a big account
                                                     is not a webcare emergency)

* Quotes count double: a quote adds the quoter's own audience *and* a comment.
* Velocity is measured between two observations of the same post when there are two
  (an engagement update), else since posting.
* The expected final reposts come from :func:`enrich.virality.expected_final_reposts`
  (SEISMIC-style self-exciting estimate); a supercritical cascade counts in full.
* Waiting runs from the first unanswered complaint of the author's streak (or this
  post) to the moment of observation, so replays score the same as the live stream.
* A public brand reply (``replied``, see :mod:`enrich.replies`) stops the waiting clock
  and the "geen reactie" of the history; a complaint *after* it is "beantwoord, niet
  opgelost" (the UPC lesson: a reply is not a solution) and gets points for it.

The priority comes from thresholds in settings (P1 ≥ 70, P2 ≥ 50, P3 ≥ 30).
Missing follower or engagement counts score zero *and say so* ("bereik onbekend");
negative or absurd counts are clamped and reported, never trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from enrich.history import HistorySummary
from enrich.virality import Observation, expected_final_reposts, log_scale, per_hour
from klachtradar.contract import ClassifiedPost, Cue, PublicResponse, Risk
from klachtradar.settings import PriorityThresholds, RiskWeights

MAX_PLAUSIBLE_FOLLOWERS = 300_000_000
"""More than the biggest account on any platform: a larger count is an error."""
MAX_PLAUSIBLE_COUNT = 50_000_000
"""Ten times the most reposted post ever: a larger count is an error."""

_CUE_REASON = {
    Cue.MEDIA: "dreigt met media/instanties",
    Cue.CHURN: "dreigt over te stappen",
    Cue.HERHAALD: "herhaalde klacht",
    Cue.URGENT: "urgent (veiligheid/geld/kwetsbaar)",
}


def format_count(n: float) -> str:
    """Dutch thousands separator: 41200 → '41.200'."""
    return f"{round(n):,}".replace(",", ".")


def format_duration(hours: float) -> str:
    """'40 min', '3 uur', '5 dagen', '6 weken' — what an agent reads at a glance."""
    if hours < 1:
        return f"{max(1, round(hours * 60))} min"
    if hours < 48:
        return f"{round(hours)} uur"
    days = hours / 24
    if days < 14:
        return f"{round(days)} dagen"
    return f"{round(days / 7)} weken"


def _clamp_count(value: int | None, limit: int, name: str, notes: list[str]) -> int | None:
    if value is None:
        return None
    if value < 0:
        notes.append(f"{name} negatief ({value}), als 0 geteld")
        return 0
    if value > limit:
        notes.append(f"{name} onwaarschijnlijk hoog ({format_count(value)}), begrensd")
        return limit
    return value


@dataclass(slots=True)
class _Scoring:
    """The working state of one assessment: points, reasons, data-quality notes."""

    features: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audit: dict[str, float] = field(default_factory=dict)
    """Values shown with the features for audit, but not part of the sum."""


@dataclass(frozen=True, slots=True)
class RiskModel:
    """Scores classified posts; weights and thresholds come from settings."""

    weights: RiskWeights
    thresholds: PriorityThresholds

    def assess(
        self,
        post: ClassifiedPost,
        history: HistorySummary | None,
        *,
        now: datetime,
        previous: Observation | None = None,
        replied: PublicResponse | None = None,
    ) -> Risk:
        """Score one post.

        ``history`` is the author's past with the post's main brand; ``previous`` the
        last engagement counts seen for this doc id (an engagement update), if any;
        ``replied`` the brand's latest public reply to this author (to this post, or
        before it).
        ``now`` is not used for the score: observation times come from the post, so a
        replay scores as the live stream did.
        """
        w = self.weights
        out = _Scoring()
        cls = post.classification
        complaint = cls.complaint_probability if cls else 0.0
        negativity = cls.negativity if cls else 0.0
        out.features["complaint"] = w.complaint * complaint
        out.features["negativity"] = w.negativity * negativity
        if cls is None:
            out.reasons.append(f"taal {post.lang or 'onbekend'}: niet geclassificeerd")
        elif complaint >= 0.5:
            out.reasons.append(f"klacht ({complaint:.0%})")

        self._reach(post, out)
        observed_at = _observed_at(post, now, out)
        self._engagement(post, observed_at, previous, out)
        self._history(history, replied, out)
        self._waiting(post, history, observed_at, complaint, replied, out)
        self._cues(post, out)
        self._answered(post, replied, complaint, out)

        total = sum(out.features.values())
        streak = history.unanswered if history is not None else 0
        # An author in an unanswered dispute is risky whatever this one post says.
        if complaint < 0.5 and negativity < 0.5 and streak < 2:
            total *= w.non_complaint_factor
        score = max(0, min(100, round(total)))
        out.features["total"] = total
        out.features.update(out.audit)
        return Risk(
            score=score,
            priority=self.thresholds.priority_for(score),
            reasons=out.reasons + out.notes,
            features=out.features,
        )

    def _reach(self, post: ClassifiedPost, out: _Scoring) -> None:
        w = self.weights
        author = post.post.author
        followers = _clamp_count(author.followers, MAX_PLAUSIBLE_FOLLOWERS, "volgers", out.notes)
        if followers is None:
            out.features["reach"] = 0.0
            out.reasons.append("bereik onbekend (geen volgersaantal)")
        else:
            out.features["reach"] = w.reach * log_scale(followers, w.reach_full_followers)
            if followers >= 1_000:
                out.reasons.append(f"{format_count(followers)} volgers")
        out.features["verified"] = w.verified if author.verified else 0.0
        if author.verified:
            out.reasons.append("geverifieerd account")

    def _engagement(
        self,
        post: ClassifiedPost,
        observed_at: datetime,
        previous: Observation | None,
        out: _Scoring,
    ) -> None:
        w = self.weights
        raw = post.post
        eng = raw.engagement
        reposts = _clamp_count(eng.reposts, MAX_PLAUSIBLE_COUNT, "reposts", out.notes)
        quotes = _clamp_count(eng.quotes, MAX_PLAUSIBLE_COUNT, "quotes", out.notes)
        for name, value in (("replies", eng.replies), ("likes", eng.likes)):
            if value is not None and not 0 <= value <= MAX_PLAUSIBLE_COUNT:
                _clamp_count(value, MAX_PLAUSIBLE_COUNT, name, out.notes)  # only to report
        features = out.features
        features["amplification"] = features["velocity"] = features["virality"] = 0.0
        if reposts is None and quotes is None:
            if eng.replies is None and eng.likes is None:
                out.reasons.append("bereik onbekend (geen engagement-tellingen)")
            return
        reposts, quotes = reposts or 0, quotes or 0
        shares = reposts + 2 * quotes
        out.features["amplification"] = w.amplification * log_scale(shares, w.amplification_full)
        if shares >= 10:
            out.reasons.append(f"{_plural(reposts, 'repost')}, {_plural(quotes, 'quote')}")

        rate = None
        if previous is not None and previous.at < observed_at:
            rate = per_hour(reposts - previous.reposts, previous.at, observed_at)
        if rate is None:
            age_hours = (observed_at - raw.created_at).total_seconds() / 3600
            rate = reposts / max(age_hours, 0.25) if age_hours > 0 else None
        if rate is not None and rate > 0:
            out.features["velocity"] = w.velocity * min(1.0, rate / w.velocity_full_per_hour)
            if rate >= 20:
                out.reasons.append(f"reposts +{format_count(rate)}/uur")
        self._virality(post, observed_at, reposts + quotes, out)

    def _virality(
        self, post: ClassifiedPost, observed_at: datetime, shares: int, out: _Scoring
    ) -> None:
        w = self.weights
        if shares < w.virality_min_shares:  # two reposts say nothing about a cascade yet
            return
        estimate = expected_final_reposts(
            followers=max(0, min(post.post.author.followers or 0, MAX_PLAUSIBLE_FOLLOWERS)),
            shares=shares,
            age_minutes=(observed_at - post.post.created_at).total_seconds() / 60,
            reposter_followers=w.reposter_followers,
            gamma=w.virality_gamma,
            explosive_factor=w.virality_explosive_factor,
        )
        if estimate is None:
            return
        out.audit["expected_final_reposts"] = estimate.expected_final
        out.audit["infectiousness"] = estimate.infectiousness
        expected = estimate.expected_final
        out.features["virality"] = w.virality * (
            1.0 if estimate.supercritical else log_scale(expected, w.virality_full_reposts)
        )
        if estimate.supercritical and shares >= 10:
            out.reasons.append(f"gaat viraal: verwacht >{format_count(expected)} reposts")
        elif expected >= 50 and expected >= 1.5 * shares:
            out.reasons.append(f"verwacht ~{format_count(expected)} reposts")

    def _history(
        self, history: HistorySummary | None, replied: PublicResponse | None, out: _Scoring
    ) -> None:
        w = self.weights
        if history is None or history.earlier_complaints == 0:
            out.features["history"] = 0.0
            return
        out.features["history"] = min(w.history_max, w.history_per_complaint * history.unanswered)
        nth = history.earlier_complaints + 1
        span = ""
        if history.first_complaint_at is not None and history.current_at is not None:
            span = " in " + _span(history.first_complaint_at, history.current_at)
        answered = (
            "publiek beantwoord"
            if replied is not None
            else "geen reactie"
            if history.unanswered == history.earlier_complaints
            else f"{history.unanswered} onbeantwoord"
        )
        out.reasons.append(f"{nth}e klacht{span}, {answered}")

    def _waiting(
        self,
        post: ClassifiedPost,
        history: HistorySummary | None,
        observed_at: datetime,
        complaint: float,
        replied: PublicResponse | None,
        out: _Scoring,
    ) -> None:
        """Time an unanswered author has been waiting, up to the observation.

        A public reply ends the wait: for the post it answered, and for every complaint
        before it (a complaint after it waits from its own time).
        """
        w = self.weights
        out.features["waiting"] = 0.0
        created = post.post.created_at
        since = created if complaint >= 0.5 else None
        if history is not None and history.unanswered and history.first_unanswered_at:
            since = history.first_unanswered_at
        if replied is not None and since is not None:
            if replied.responded_at > created:
                return  # this post itself got its answer
            since = max(since, created)
        if since is None:
            return
        hours = (observed_at - since).total_seconds() / 3600
        if hours <= 0:
            return
        out.features["waiting"] = w.waiting * log_scale(hours, w.waiting_full_hours)
        if hours >= 1:
            out.reasons.append(f"wacht al {format_duration(hours)} op antwoord")

    def _cues(self, post: ClassifiedPost, out: _Scoring) -> None:
        w = self.weights
        cls = post.classification
        cues = cls.cues if cls else []
        if not cues:
            out.features["cues"] = 0.0
            return
        weight = {
            Cue.MEDIA: w.cue_media,
            Cue.CHURN: w.cue_churn,
            Cue.HERHAALD: w.cue_herhaald,
            Cue.URGENT: w.cue_urgent,
        }
        out.features["cues"] = min(w.cue_max, sum(weight[c] for c in cues))
        out.reasons.extend(_CUE_REASON[c] for c in cues)

    def _answered(
        self, post: ClassifiedPost, replied: PublicResponse | None, complaint: float, out: _Scoring
    ) -> None:
        """A complaint after a public reply: answered, not solved (the UPC case).

        The post the reply answered says so instead ("publiek beantwoord na 25 min …").
        """
        out.features["answered"] = 0.0
        if replied is None:
            return
        if replied.responded_at > post.post.created_at:
            out.reasons.append(response_line(replied))
            return
        if complaint < 0.5:
            return
        out.features["answered"] = self.weights.answered_not_solved
        out.reasons.append(ANSWERED_NOT_SOLVED)


ANSWERED_NOT_SOLVED = "beantwoord, niet opgelost"
"""The reason of a complaint that came after the brand's public reply."""


def response_line(response: PublicResponse) -> str:
    """'publiek beantwoord na 25 min door @PostNL': the card's and the reasons' words."""
    minutes = response.first_response_minutes
    return f"publiek beantwoord na {format_duration(minutes / 60)} door @{response.by}"


def _observed_at(post: ClassifiedPost, now: datetime, out: _Scoring) -> datetime:
    """When the counts were seen: observed_at, else received_at, else the post's own time.

    Never the processing time: a replay must score as the live stream did (``now`` is
    kept in the signature for callers, not used). A time before the post itself is a
    clock error at the source; it is reported and taken as the post's own time.
    """
    del now
    raw = post.post
    observed = raw.engagement.observed_at or raw.received_at or raw.created_at
    if observed < raw.created_at:
        out.notes.append("meettijd ligt vóór de post, genegeerd")
        return raw.created_at
    return observed


def _plural(n: int, word: str) -> str:
    return f"{format_count(n)} {word}" + ("" if n == 1 else "s")


def _span(first: datetime, last: datetime) -> str:
    days = (last - first).total_seconds() / 86400
    if days < 1:
        return "1 dag"
    if days < 14:
        return f"{math.ceil(days)} dagen"
    return f"{math.ceil(days / 7)} weken"
