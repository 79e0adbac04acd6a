"""The pipeline: the stages composed, ``list[RawPost] -> scored posts + alerts``.

It is the only place that knows the order of the stages::

    tag_languages → classify_batch → (tone of brand replies) → score_batch
        → post_alerts + tone_alerts + incidents

and it is transport-agnostic: the embedded runner and the Kafka ``process`` command
call the same :meth:`Pipeline.process`. A stage that raises on a batch is retried
record by record, so one poison post becomes a dead letter and the other posts of
its batch still go through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from classify.base import TextClassifier
from classify.cascade import Cascade
from classify.registry import configured_cascade, configured_classifier
from classify.stage import Routed, assemble, assemble_routed, classify_batch, predict_routed
from classify.tone import ToneClassifier, configured_tone_classifier, judge_tones
from enrich.alerts import post_alerts, tone_alerts
from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory, HistoryBackend, MemoryHistoryBackend
from enrich.incidents import IncidentDetector
from enrich.language import tag_languages, tagger
from enrich.replies import ThreadTracker, leading_handle
from enrich.risk import RiskModel
from enrich.stage import score_batch
from enrich.virality import EngagementTracker
from klachtradar.contract import (
    BrandMention,
    ClassifiedPost,
    DeadLetter,
    DeletedPost,
    RawPost,
    ScoredPost,
    ToneJudgement,
    utc_now,
)
from klachtradar.errors import KlachtradarError
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.deletes import RecentTombstones
from klachtradar.settings import Settings
from klachtradar.stream_events import StatusChange

if TYPE_CHECKING:
    from klachtradar.runtime.judging import Judgement

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """Classify, enrich and alert, batch by batch, with explicit state."""

    settings: Settings
    classifier: TextClassifier
    matcher: BrandMatcher
    risk_model: RiskModel
    history: AuthorHistory
    incidents: IncidentDetector
    engagement: EngagementTracker = field(default_factory=EngagementTracker)
    cascade: Cascade | None = None
    """The fast model and the lag gate for overload (``None``: always ``classifier``)."""
    tombstones: RecentTombstones = field(default_factory=RecentTombstones)
    detect_incidents: bool = True
    """False where a separate ``incidents`` step sees the whole brand (Kafka scale-out):
    a member that sees some partitions only would count part of a storm."""
    threads: ThreadTracker = field(default_factory=ThreadTracker)
    """Conversations: brand replies linked to the complaints they answer."""
    tone: ToneClassifier | None = None
    """The tone model for brand replies (``None``: their tone is not judged)."""
    _watchlist_checked: float = 0.0

    @classmethod
    def from_settings(
        cls, settings: Settings, *, classifier: TextClassifier | None = None
    ) -> Pipeline:
        """Build every stage from settings (loads the watchlist, models and the classifier).

        Everything slow to load is loaded here, not on the first batch, so the first
        post's alert is as fast as the thousandth.
        """
        tagger(settings.enrich.language_backend, settings.enrich.language_candidates)
        matcher = BrandMatcher.from_file(
            settings.resolve(settings.watchlist.path), backend=settings.enrich.brand_backend
        )
        brand_terms = watchlist_terms(matcher)
        classifier = classifier or configured_classifier(settings)
        return cls(
            settings=settings,
            classifier=classifier,
            cascade=configured_cascade(settings, classifier),
            matcher=matcher,
            risk_model=RiskModel(settings.risk, settings.priority),
            history=AuthorHistory(
                window_days=settings.history.window_days, backend=_history_backend(settings)
            ).open(),
            incidents=IncidentDetector(settings.incidents, brand_terms=brand_terms),
            engagement=EngagementTracker(settings.enrich.engagement_memory),
            threads=ThreadTracker(
                window=timedelta(hours=settings.replies.window_hours),
                max_complaints=settings.replies.max_tracked_complaints,
            ),
            tone=configured_tone_classifier(settings),
        )

    def process(
        self,
        posts: Sequence[RawPost],
        *,
        now: datetime | None = None,
        judged: Judgement | None = None,
        arrived: Sequence[datetime | None] = (),
    ) -> PipelineOutput:
        """Run all stages on a batch; failures become dead letters, never exceptions.

        ``judged`` carries languages and predictions a worker process already made for
        these posts (:mod:`klachtradar.runtime.judging`); then only the stateful stages run here.
        ``arrived``: when each post reached this stream (see :meth:`overloaded`).
        """
        now = now or utc_now()
        self._between_batches()
        quota = self.route(arrived) if judged is None else None
        if judged is not None and not judged.fallback and self.cascade is not None:
            primary = len(posts) if judged.primary_posts is None else judged.primary_posts
            self.cascade.cost.observe(primary, judged.seconds)
        try:
            scored = self._score(posts, now, judged, quota=quota)
        except Exception:  # isolate the poison record(s), keep the rest
            scored, dead = [], []
            for post in posts:
                try:
                    scored.extend(self._score([post], now, quota=quota))
                except Exception as exc:
                    dead.append(_dead_letter(post, exc))
            return self._finish(scored, dead)
        return self._finish(scored, [])

    def overloaded(self, arrived: Sequence[datetime | None], *, queued: int = 0) -> bool:
        """Observe this batch's arrival lag; whether it goes to the fast model.

        ``arrived``: when each post reached the stream this pipeline consumes — the raw
        message's broker timestamp on Kafka, the listener's ``received_at`` for a live
        source in-process; nothing for a file replay, which has no queue to fall behind
        in (its posts' ``received_at`` are months old). The lag is wall-clock time since
        the oldest, whatever clock ``process(now=…)`` scores on. Called once per batch,
        by :meth:`process` or, when a worker judges the batch, by the caller before it
        submits (the worker then uses its fast model). ``queued``: posts of an earlier
        batch still in the judge worker, ahead of this one (the cascade's deadline counts
        their cost too).
        """
        if self.cascade is None:
            return False
        return self.cascade.overloaded(arrived, utc_now(), queued=queued)

    def route(self, arrived: Sequence[datetime | None], *, queued: int = 0) -> int | None:
        """Observe this batch's arrival lag; how many of its posts the configured model
        judges (``None``: all; the fast model takes the rest, see
        :meth:`classify.cascade.Cascade.quota`). Arguments as for :meth:`overloaded`,
        which it replaces in the stream paths: call one of the two once per batch."""
        if self.cascade is None:
            return None
        return self.cascade.quota(arrived, utc_now(), queued=queued)

    def forget(self, deletes: Sequence[DeletedPost]) -> None:
        """Deleted posts leave the author history, and later copies of them are dropped.

        Call it before :meth:`process` of the same batch: deletes are not classified
        (see :mod:`klachtradar.runtime.deletes`); the caller hands them to the sinks.
        """
        docs = [d.doc_id for d in deletes]
        self.tombstones.add(docs)
        self.history.forget(docs)
        self.threads.forget(docs)

    def apply_statuses(self, changes: Sequence[StatusChange]) -> int:
        """Triage status changes that reached the stream: a resolved complaint ends its
        author's unanswered streak (as the embedded backend's sync does); returns how many."""
        return sum(self.history.mark_resolved(c.doc_id) for c in changes if c.status == "resolved")

    def end_of_input(self) -> PipelineOutput:
        """A finite input (a file) has ended: the incident alerts its last complaints
        still owed (they waited for the event-time watermark; see :mod:`enrich.incidents`)."""
        return PipelineOutput(scored=[], alerts=self.incidents.flush(), dead_letters=[])

    def _between_batches(self) -> None:
        """State I/O at the batch edge: watchlist changes, triage resolutions."""
        interval = self.settings.enrich.watchlist_check_seconds
        clock = time.monotonic()
        if clock - self._watchlist_checked >= interval:
            self._watchlist_checked = clock
            self.matcher.reload_if_changed()
        try:
            self.history.sync()
        except KlachtradarError as exc:  # stale resolutions for a batch beat a stopped stream
            log.warning("author history sync failed, retried next batch: %s", exc)

    def _score(
        self,
        posts: Sequence[RawPost],
        now: datetime,
        judged: Judgement | None = None,
        *,
        quota: int | None = None,
    ) -> list[ScoredPost]:
        classified = self._judge(posts, quota) if judged is None else self._judged(posts, judged)
        scored = score_batch(
            classified,
            matcher=self.matcher,
            risk_model=self.risk_model,
            history=self.history,
            now=now,
            engagement=self.engagement,
            brands_found=self._brands_found(judged),
            threads=self.threads,
            tones=self._tones(classified),
        )
        if posts:  # forget complaints that left the history window (event time)
            latest = max(p.created_at for p in posts)
            self.history.prune_if_due(latest)
            self.threads.prune_if_due(latest)
        return scored

    def _tones(self, classified: Sequence[ClassifiedPost]) -> dict[str, ToneJudgement]:
        """The tone of every brand reply in the batch: a post by a brand's own handle that
        answers someone (a platform reply, or it starts with an @handle); a broadcast
        (an advert, a tip) is no reply and gets no tone."""
        if self.tone is None:
            return {}
        replies = [
            c.post
            for c in classified
            if self.matcher.brand_of_handle(c.post.author.handle)
            and (c.post.reply_to is not None or leading_handle(c.post.text) is not None)
        ]
        return judge_tones(replies, self.tone)

    def _judge(self, posts: Sequence[RawPost], quota: int | None = None) -> list[ClassifiedPost]:
        """The pure stages, in-process: language, then classification (``quota``: how
        many posts the configured model judges, the cascade's fast model the rest;
        ``None``: all)."""
        tagged = tag_languages(
            posts,
            backend=self.settings.enrich.language_backend,
            candidates=self.settings.enrich.language_candidates,
        )
        languages = self.settings.pipeline.supported_languages
        cascade = self.cascade
        if cascade is None:
            return classify_batch(tagged, self.classifier, languages=languages)
        routed = predict_routed(
            [p.text for p in tagged],
            [p.lang for p in tagged],
            self.classifier,
            cascade.fast,
            quota,
            languages=languages,
        )
        cascade.cost.observe(routed.primary_posts, routed.seconds)
        return assemble_routed(tagged, routed, self.classifier.model_ref, cascade.fast.model_ref)

    def _brands_found(self, judged: Judgement | None) -> list[list[BrandMention]] | None:
        """A worker's brand mentions, if it matched with the watchlist in use here."""
        if judged is None or judged.brands is None or judged.watchlist != self.matcher.version:
            return None
        mention = self.matcher.mention
        return [[mention(*found) for found in post] for post in judged.brands]  # type: ignore[arg-type]

    @staticmethod
    def _judged(posts: Sequence[RawPost], judged: Judgement) -> list[ClassifiedPost]:
        """The pure stages' results from a worker, attached to the posts."""
        tagged = [
            post if post.lang == lang else post.model_copy(update={"lang": lang})
            for post, lang in zip(posts, judged.langs, strict=True)
        ]
        if judged.fast and judged.fast_model is not None:
            routed = Routed(judged.predictions, judged.fast, 0, 0.0)
            return assemble_routed(tagged, routed, judged.model, judged.fast_model)
        return assemble(tagged, judged.predictions, judged.model, fallback=judged.fallback)

    def _finish(self, scored: list[ScoredPost], dead: list[DeadLetter]) -> PipelineOutput:
        scored = _latest_per_doc(self._without_deleted(scored))
        alerts = post_alerts(scored, min_priority=self.settings.alerts.min_priority)
        alerts.extend(tone_alerts(scored, self.settings.replies))
        if self.detect_incidents:
            alerts.extend(self.incidents.observe(scored))
        return PipelineOutput(scored=scored, alerts=alerts, dead_letters=dead)

    def _without_deleted(self, scored: list[ScoredPost]) -> list[ScoredPost]:
        """Posts deleted before they (re)arrived: out, and out of the history again."""
        if not self.tombstones:
            return scored
        gone = [p.doc_id for p in scored if p.doc_id in self.tombstones]
        if gone:
            self.history.forget(gone)
            scored = [p for p in scored if p.doc_id not in self.tombstones]
        return scored


def watchlist_terms(matcher: BrandMatcher) -> dict[str, set[str]]:
    """Each brand's own words (name, aliases, handles): incidents leave them out of the
    top terms (``#ziggostoring`` says "storing")."""
    return {
        spec.name: {spec.name.lower(), *spec.aliases, *spec.ambiguous, *spec.handles}
        for spec in matcher.watchlist.brands
    }


def _latest_per_doc(scored: list[ScoredPost]) -> list[ScoredPost]:
    """One scored post per doc id, its last version: a complaint answered by a brand reply
    in the same batch leaves it once, answered (the sinks would upsert it anyway)."""
    last = {post.doc_id: number for number, post in enumerate(scored)}
    if len(last) == len(scored):
        return scored
    return [post for number, post in enumerate(scored) if last[post.doc_id] == number]


def _history_backend(settings: Settings) -> HistoryBackend:
    """The author-history backend named in ``[history] backend``."""
    if settings.history.backend == "memory":
        return MemoryHistoryBackend()
    from sink.history_store import SqliteHistoryBackend

    return SqliteHistoryBackend(settings.resolve(settings.store.path))


def _dead_letter(post: RawPost, exc: Exception) -> DeadLetter:
    return DeadLetter(
        origin=post.source,
        position=post.doc_id,
        stage="pipeline",
        error=f"{type(exc).__name__}: {exc}",
        raw=post.model_dump_json(),
    )
