"""Brand incidents: one alert per storm, closed when it subsides, updates not recounted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from klachtradar.contract import Alert, AlertKind, RawPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings

T0 = datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
TEXTS = [
    "Ziggo ligt eruit, geen internet en geen tv in Amsterdam. Storing?",
    "alweer storing bij Ziggo, internet weg in Utrecht",
    "@ZiggoWebcare internet plat in Amsterdam-West, wanneer is dit opgelost??",
    "#ziggostoring geen internet, niks doet het",
]


def _pipeline() -> Pipeline:
    settings = load_settings()
    settings.history.backend = "memory"
    return Pipeline.from_settings(settings)


def _storm(start: datetime, n: int, tag: str, *, every_s: int = 30) -> list[RawPost]:
    return [
        RawPost.model_validate(
            {
                "source": "x",
                "post_id": f"{tag}{i}",
                "text": TEXTS[i % len(TEXTS)],
                "created_at": (start + timedelta(seconds=every_s * i)).isoformat(),
                "author": {"id": f"{tag}a{i}", "handle": f"user{tag}{i}", "followers": 120},
                "engagement": {"reposts": 0, "quotes": 0},
            }
        )
        for i in range(n)
    ]


def _kinds(alerts: list[Alert]) -> list[tuple[str, str | None]]:
    return [(a.kind.value, a.brand) for a in alerts if a.kind is not AlertKind.POST]


def test_a_storm_raises_one_incident_not_one_per_post() -> None:
    alerts = _pipeline().process(_storm(T0, 30, "s"), now=T0).alerts
    assert _kinds(alerts) == [("incident", "Ziggo")]
    (incident,) = [a for a in alerts if a.kind is AlertKind.INCIDENT]
    assert {"storing", "internet"} <= set(incident.top_terms)
    assert len(incident.examples) == 3


def test_the_incident_closes_after_the_cooldown_dated_when_it_ended() -> None:
    pipeline = _pipeline()
    storm = _storm(T0, 30, "s")
    later = _storm(T0 + timedelta(hours=5), 1, "late")
    alerts = pipeline.process(storm, now=T0).alerts + pipeline.process(later, now=T0).alerts
    assert _kinds(alerts) == [("incident", "Ziggo"), ("incident_over", "Ziggo")]
    over = alerts[-1]
    settings = pipeline.settings.incidents
    last = storm[-1].created_at
    assert (
        last
        < over.created_at
        <= last + timedelta(minutes=settings.window_minutes + settings.cooldown_minutes)
    )
    assert over.post_count is not None and over.post_count >= 20


def test_two_storms_in_one_batch_are_two_incidents() -> None:
    posts = _storm(T0, 20, "a") + _storm(T0 + timedelta(hours=3), 20, "b")
    alerts = _pipeline().process(posts, now=T0).alerts
    assert _kinds(alerts) == [
        ("incident", "Ziggo"),
        ("incident_over", "Ziggo"),
        ("incident", "Ziggo"),
    ]


def test_engagement_updates_of_the_same_posts_do_not_make_a_storm() -> None:
    pipeline = _pipeline()
    posts = _storm(T0, 5, "u")
    alerts: list[Alert] = []
    for reposts in range(6):
        updated = [
            p.model_copy(
                update={"engagement": p.engagement.model_copy(update={"reposts": reposts})}
            )
            for p in posts
        ]
        alerts += pipeline.process(updated, now=T0).alerts
    assert _kinds(alerts) == []
