"""Reach and virality risk: a 0–100 score, a priority and the reasons in plain Dutch.

The score is a sum of points, each feature capped, so every point can be explained::

    complaint     w_c · P(klacht)
    negativity    w_n · P(negatief)
    reach         w_r · min(1, log10(1 + followers) / log10(reach_full_followers))
    verified      w_v  if the account is verified
    amplification w_a · min(1, log10(1 + reposts + 2·quotes) / log10(amplification_full))
    velocity      w_s · min(1, reposts_per_hour / velocity_full_per_hour)
    history       min(history_max, w_h · earlier unanswered complaints, same author+brand)
    cues          min(cue_max, Σ weight of each cue: media, churn, herhaald, urgent)

    score = min(100, total)                      for a complaint or a negative post
    score = min(100, total · non_complaint_factor)   otherwise (praise from a big account
                                                     is not a webcare emergency)

Quotes count double because a quote adds the quoter's own audience *and* a comment.
The priority comes from thresholds in settings (P1 ≥ 70, P2 ≥ 50, P3 ≥ 30).

Missing follower or engagement counts score zero *and say so* ("bereik onbekend");
negative or absurd counts are clamped and reported, never trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from enrich.history import HistorySummary
from klachtradar.contract import ClassifiedPost, Cue, Risk
from klachtradar.settings import PriorityThresholds, RiskWeights

MAX_PLAUSIBLE_FOLLOWERS = 500_000_000
MAX_PLAUSIBLE_COUNT = 1_000_000_000

_CUE_REASON = {
    Cue.MEDIA: "dreigt met media/instanties",
    Cue.CHURN: "dreigt over te stappen",
    Cue.HERHAALD: "herhaalde klacht",
    Cue.URGENT: "urgent (veiligheid/geld/kwetsbaar)",
}


def format_count(n: int) -> str:
    """Dutch thousands separator: 41200 → '41.200'."""
    return f"{n:,}".replace(",", ".")


def _clamp_count(value: int | None, limit: int, name: str, notes: list[str]) -> int | None:
    if value is None:
        return None
    if value < 0:
        notes.append(f"{name} negatief ({value}), als 0 geteld")
        return 0
    if value > limit:
        notes.append(f"{name} onwaarschijnlijk hoog ({value}), begrensd")
        return limit
    return value


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
    ) -> Risk:
        """Score one post; ``history`` is the author's past with the post's main brand."""
        w = self.weights
        notes: list[str] = []
        reasons: list[str] = []
        features: dict[str, float] = {}
        raw = post.post
        cls = post.classification

        complaint = cls.complaint_probability if cls else 0.0
        negativity = cls.negativity if cls else 0.0
        features["complaint"] = w.complaint * complaint
        features["negativity"] = w.negativity * negativity
        if cls is None:
            reasons.append(f"taal {post.lang or 'onbekend'}: niet geclassificeerd")
        elif complaint >= 0.5:
            reasons.append(f"klacht ({complaint:.0%})")

        followers = _clamp_count(raw.author.followers, MAX_PLAUSIBLE_FOLLOWERS, "volgers", notes)
        if followers is None:
            features["reach"] = 0.0
            reasons.append("bereik onbekend (geen volgersaantal)")
        else:
            reach = min(1.0, math.log10(1 + followers) / math.log10(w.reach_full_followers))
            features["reach"] = w.reach * reach
            if followers >= 1_000:
                reasons.append(f"{format_count(followers)} volgers")
        features["verified"] = w.verified if raw.author.verified else 0.0
        if raw.author.verified:
            reasons.append("geverifieerd account")

        self._engagement(post, now, features, reasons, notes)
        self._history(history, raw.created_at, features, reasons)
        self._cues(post, features, reasons)

        total = sum(features.values())
        streak = history.unanswered if history is not None else 0
        # An author in an unanswered dispute is risky whatever this one post says.
        gated = complaint < 0.5 and negativity < 0.5 and streak < 2
        if gated:
            total *= w.non_complaint_factor
        score = max(0, min(100, round(total)))
        features["total"] = total
        return Risk(
            score=score,
            priority=self.thresholds.priority_for(score),
            reasons=reasons + notes,
            features={k: round(v, 3) for k, v in features.items()},
        )

    def _engagement(
        self,
        post: ClassifiedPost,
        now: datetime,
        features: dict[str, float],
        reasons: list[str],
        notes: list[str],
    ) -> None:
        w = self.weights
        eng = post.post.engagement
        reposts = _clamp_count(eng.reposts, MAX_PLAUSIBLE_COUNT, "reposts", notes)
        quotes = _clamp_count(eng.quotes, MAX_PLAUSIBLE_COUNT, "quotes", notes)
        if reposts is None and quotes is None:
            features["amplification"] = 0.0
            features["velocity"] = 0.0
            return
        shares = (reposts or 0) + 2 * (quotes or 0)
        amplification = min(1.0, math.log10(1 + shares) / math.log10(w.amplification_full))
        features["amplification"] = w.amplification * amplification
        if shares >= 10:
            reasons.append(
                f"{format_count(reposts or 0)} reposts, {format_count(quotes or 0)} quotes"
            )
        observed = eng.observed_at or post.post.received_at
        velocity = 0.0
        if observed is not None and reposts:
            hours = max((observed - post.post.created_at).total_seconds() / 3600, 0.25)
            per_hour = reposts / hours
            velocity = min(1.0, per_hour / w.velocity_full_per_hour)
            if per_hour >= 20:
                reasons.append(f"reposts +{format_count(round(per_hour))}/uur")
        features["velocity"] = w.velocity * velocity
        del now  # velocity uses observation time, not processing time (replays stay stable)

    def _history(
        self,
        history: HistorySummary | None,
        posted: datetime,
        features: dict[str, float],
        reasons: list[str],
    ) -> None:
        w = self.weights
        if history is None or history.earlier_complaints == 0:
            features["history"] = 0.0
            return
        features["history"] = min(w.history_max, w.history_per_complaint * history.unanswered)
        nth = history.earlier_complaints + 1
        span = ""
        if history.first_complaint_at is not None:
            days = (posted - history.first_complaint_at).days
            if days >= 7:
                span = f" in {math.ceil(days / 7)} weken"
            else:
                span = " in 1 dag" if days == 0 else f" in {days + 1} dagen"
        answered = (
            "geen reactie"
            if history.unanswered == history.earlier_complaints
            else (f"{history.unanswered} onbeantwoord")
        )
        reasons.append(f"{nth}e klacht{span}, {answered}")

    def _cues(self, post: ClassifiedPost, features: dict[str, float], reasons: list[str]) -> None:
        w = self.weights
        cls = post.classification
        cues = cls.cues if cls else []
        weight = {
            Cue.MEDIA: w.cue_media,
            Cue.CHURN: w.cue_churn,
            Cue.HERHAALD: w.cue_herhaald,
            Cue.URGENT: w.cue_urgent,
        }
        features["cues"] = min(w.cue_max, sum(weight[c] for c in cues))
        reasons.extend(_CUE_REASON[c] for c in cues)
