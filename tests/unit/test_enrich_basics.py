"""Enrichment basics the foundation promises: brands, risk reasons, incidents."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from classify.lexicon import LexiconClassifier
from classify.stage import classify_batch
from enrich.brand_match import BrandMatcher
from enrich.history import AuthorHistory
from enrich.incidents import IncidentDetector
from enrich.risk import RiskModel
from enrich.stage import score_batch
from klachtradar.contract import AlertKind, Priority, ScoredPost
from klachtradar.settings import IncidentSettings, PriorityThresholds, RiskWeights
from tests.conftest import T0, PostFactory

ROOT = Path(__file__).resolve().parents[2]
MATCHER = BrandMatcher.from_file(ROOT / "configs" / "brands.toml")
RISK = RiskModel(RiskWeights(), PriorityThresholds())


def brands(text: str) -> list[str]:
    return [m.brand for m in MATCHER.match_text(text)]


def test_brand_aliases_handles_and_hashtags_match() -> None:
    assert brands("@KPNwebcare help") == ["KPN"]
    assert brands("weer #kpnstoring") == ["KPN"]
    assert brands("gedoe met t-mobile") == ["Odido"]
    assert brands("T Mobile doet raar") == ["Odido"]
    assert brands("Ziggo en KPN allebei plat") == ["Ziggo", "KPN"]


def test_brand_names_inside_other_words_do_not_match() -> None:
    assert brands("lange vergadering vandaag") == []
    assert brands("de jumbo-jet landde") == []
    assert brands("dat is essentieel") == []
    assert brands("naar de Ziggo Dome vanavond") == []


def score(posts: list, history: AuthorHistory | None = None) -> list[ScoredPost]:  # type: ignore[type-arg]
    classified = classify_batch(posts, LexiconClassifier())
    return score_batch(
        classified, matcher=MATCHER, risk_model=RISK, history=history or AuthorHistory(), now=T0
    )


def test_unknown_reach_is_stated_not_guessed(make_post: PostFactory) -> None:
    (scored,) = score([make_post("@KPN al dagen storing, waardeloos", followers=None)])
    assert "bereik onbekend (geen volgersaantal)" in scored.risk.reasons


def test_absurd_counts_are_clamped_and_reported(make_post: PostFactory) -> None:
    (scored,) = score([make_post("@KPN storing", followers=-5, engagement={"reposts": -3})])
    assert any("volgers negatief" in r for r in scored.risk.reasons)
    assert any("reposts negatief" in r for r in scored.risk.reasons)


def test_big_account_praise_is_not_urgent(make_post: PostFactory) -> None:
    (scored,) = score(
        [make_post("Topservice van @Coolblue, bedankt!", followers=900_000, verified=True)]
    )
    assert scored.risk.priority in (Priority.P3, Priority.P4)


def test_a_low_follower_complaint_is_p3_or_p4(make_post: PostFactory) -> None:
    (scored,) = score([make_post("@PostNL pakket niet bezorgd, jammer", followers=40)])
    assert scored.risk.priority in (Priority.P3, Priority.P4)


def test_repeated_unanswered_complaints_raise_risk_and_say_so(make_post: PostFactory) -> None:
    history = AuthorHistory()
    posts = [
        make_post(
            f"@Odido_NL nog steeds geen mobiel internet, dag {i}, belachelijk",
            author_id="youp",
            followers=41_200,
            verified=True,
            created_at=T0 + timedelta(days=7 * i),
        )
        for i in range(4)
    ]
    scored = score(posts, history)
    assert scored[-1].risk.score > scored[0].risk.score
    assert any(r.startswith("4e klacht in 3 weken, geen reactie") for r in scored[-1].risk.reasons)
    assert "41.200 volgers" in scored[-1].risk.reasons
    assert scored[-1].risk.priority is Priority.P1


def test_resolving_a_complaint_ends_the_unanswered_streak(make_post: PostFactory) -> None:
    history = AuthorHistory()
    first = make_post("@KPN storing alweer", author_id="a")
    score([first], history)
    history.mark_resolved(first.doc_id)
    summary = history.summary("a", "KPN", before=T0 + timedelta(days=1))
    assert summary.earlier_complaints == 1 and summary.unanswered == 0


def test_an_outage_storm_opens_one_incident_and_closes_it(make_post: PostFactory) -> None:
    detector = IncidentDetector(IncidentSettings())
    normal = [
        make_post("@Ziggo storing, balen", created_at=T0 - timedelta(hours=h))
        for h in range(24, 0, -3)
    ]
    storm = [
        make_post(
            f"@Ziggo storing internet weg in Utrecht nr {i}, belachelijk",
            created_at=T0 + timedelta(seconds=20 * i),
        )
        for i in range(30)
    ]
    later = [
        make_post("@KPN vraagje over mijn abonnement?", created_at=T0 + timedelta(minutes=m))
        for m in (20, 45, 80)
    ]
    alerts = []
    for batch in (normal, storm, later):
        alerts += detector.observe(score(batch))
    kinds = [(a.kind, a.brand) for a in alerts]
    assert kinds == [(AlertKind.INCIDENT, "Ziggo"), (AlertKind.INCIDENT_OVER, "Ziggo")]
    opened = alerts[0]
    assert "storing" in opened.top_terms
    assert len(opened.examples) == 3
