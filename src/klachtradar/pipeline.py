"""The pipeline: the stages composed, ``list[RawPost] -> scored posts + alerts``.

It is the only place that knows the order of the stages::

    tag_languages → classify_batch → score_batch → post_alerts + incidents

and it is transport-agnostic: the embedded runner and the Kafka ``process`` command
call the same :meth:`Pipeline.process`. A stage that raises on a batch is retried
record by record, so one poison post becomes a dead letter and the other posts of
its batch still go through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from classify.base import TextClassifier
from classify.registry import load_classifier
from classify.stage import classify_batch
from enrich.alerts import post_alerts
from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory
from enrich.incidents import IncidentDetector
from enrich.language import tag_languages
from enrich.risk import RiskModel
from enrich.stage import score_batch
from klachtradar.contract import Alert, DeadLetter, RawPost, ScoredPost, utc_now
from klachtradar.settings import Settings


@dataclass
class PipelineOutput:
    """What one batch produced."""

    scored: list[ScoredPost] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class Pipeline:
    """Classify, enrich and alert, batch by batch, with explicit state."""

    settings: Settings
    classifier: TextClassifier
    matcher: BrandMatcher
    risk_model: RiskModel
    history: AuthorHistory
    incidents: IncidentDetector

    @classmethod
    def from_settings(
        cls, settings: Settings, *, classifier: TextClassifier | None = None
    ) -> Pipeline:
        """Build every stage from settings (loads the watchlist and the classifier)."""
        matcher = BrandMatcher.from_file(settings.resolve(settings.watchlist.path))
        brand_terms = {
            spec.name: {spec.name.lower(), *spec.aliases, *spec.ambiguous, *spec.handles}
            for spec in matcher.watchlist.brands
        }
        return cls(
            settings=settings,
            classifier=classifier
            or load_classifier(
                settings.pipeline.classifier,
                models_dir=settings.resolve(settings.classify.models_dir),
                check_seconds=settings.classify.reload_check_seconds,
                int8=settings.classify.transformer_int8,
            ),
            matcher=matcher,
            risk_model=RiskModel(settings.risk, settings.priority),
            history=AuthorHistory(window_days=settings.history.window_days),
            incidents=IncidentDetector(settings.incidents, brand_terms=brand_terms),
        )

    def process(self, posts: Sequence[RawPost], *, now: datetime | None = None) -> PipelineOutput:
        """Run all stages on a batch; failures become dead letters, never exceptions."""
        now = now or utc_now()
        try:
            scored = self._score(posts, now)
        except Exception:  # isolate the poison record(s), keep the rest
            scored, dead = [], []
            for post in posts:
                try:
                    scored.extend(self._score([post], now))
                except Exception as exc:
                    dead.append(_dead_letter(post, exc))
            return self._finish(scored, dead)
        return self._finish(scored, [])

    def _score(self, posts: Sequence[RawPost], now: datetime) -> list[ScoredPost]:
        tagged = tag_languages(posts)
        classified = classify_batch(
            tagged, self.classifier, languages=self.settings.pipeline.supported_languages
        )
        return score_batch(
            classified,
            matcher=self.matcher,
            risk_model=self.risk_model,
            history=self.history,
            now=now,
        )

    def _finish(self, scored: list[ScoredPost], dead: list[DeadLetter]) -> PipelineOutput:
        alerts = post_alerts(scored, min_priority=self.settings.alerts.min_priority)
        alerts.extend(self.incidents.observe(scored))
        return PipelineOutput(scored=scored, alerts=alerts, dead_letters=dead)


def _dead_letter(post: RawPost, exc: Exception) -> DeadLetter:
    return DeadLetter(
        origin=post.source,
        position=post.doc_id,
        stage="pipeline",
        error=f"{type(exc).__name__}: {exc}",
        raw=post.model_dump_json(),
    )
