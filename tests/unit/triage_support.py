"""Shared helpers for the triage unit tests: real pipeline, real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from klachtradar.contract import Author, Engagement, RawPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings
from sink.store import EmbeddedStore

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def raw_post(
    post_id: str,
    text: str,
    *,
    at: datetime = T0,
    handle: str = "klant",
    author_id: str | None = None,
    followers: int | None = 500,
    url: str | None = None,
    reposts: int | None = None,
) -> RawPost:
    return RawPost(
        source="x",
        post_id=post_id,
        url=url if url is not None else f"https://x.com/{handle}/status/{post_id}",
        text=text,
        created_at=at,
        received_at=at + timedelta(seconds=5),
        author=Author(
            id=author_id or f"id-{handle}", handle=handle, name=handle.title(), followers=followers
        ),
        engagement=Engagement(
            reposts=reposts,
            quotes=0 if reposts is not None else None,
            observed_at=at + timedelta(hours=1) if reposts else None,
        ),
    )


def fill_store(path: Path, posts: list[RawPost]) -> Pipeline:
    """Run the real pipeline over ``posts`` into the store at ``path``.

    The rule classifier is pinned: these tests are about the workflow, and their
    fixtures' priorities must not move when the shipped default model is retrained.
    """
    settings = load_settings()
    settings.pipeline.classifier = "lexicon"
    pipeline = Pipeline.from_settings(settings)
    output = pipeline.process(posts, now=max(p.created_at for p in posts))
    with EmbeddedStore(path) as store:
        store.write_posts(output.scored)
        store.write_alerts(output.alerts)
    return pipeline


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current
