"""The triage header names the model the pipeline serves, read as the pipeline reads it.

``[pipeline] classifier`` plus the registry's ``PROMOTED`` pointer: after ``models
promote`` the next page load shows the new version (the running pipeline swaps to it
between batches, :mod:`classify.hot_swap`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from classify.model_store import ModelStore
from classify.registry import served_model
from klachtradar.settings import Settings, TriageSettings, load_settings
from tests.unit.triage_support import T0, FixedClock, fill_store, raw_post
from triage.app import TriageApp, create_app
from triage.database import TriageDatabase
from triage.feedback import FeedbackStore
from triage.live import ChangeFeed
from triage.sla import SlaPolicy
from triage.workflow import Workflow


def _registry(root: Path) -> ModelStore:
    """Two versions of ``linear`` (cards only: nothing here loads a model)."""
    for version in ("v1", "v2"):
        (root / "linear" / version).mkdir(parents=True)
        card = {"name": "linear", "version": version, "backend": "linear"}
        (root / "linear" / version / "card.json").write_text(json.dumps(card))
    return ModelStore(root)


def _settings(classifier: str, models: Path) -> Settings:
    return load_settings(pipeline={"classifier": classifier}, classify={"models_dir": str(models)})


def test_served_model_follows_the_pipeline_setting_and_the_promotion_pointer(
    tmp_path: Path,
) -> None:
    store = _registry(tmp_path)
    assert served_model(_settings("linear", tmp_path)) == "linear@v2", "newest, none promoted"
    store.promote("linear", "v1")
    assert served_model(_settings("linear", tmp_path)) == "linear@v1"
    assert served_model(_settings("linear@v2", tmp_path)) == "linear@v2", "pinned"
    assert served_model(_settings("lexicon", tmp_path)).startswith("lexicon@")
    assert served_model(_settings("e5", tmp_path)) == "e5@?"


@pytest.fixture
def client_and_store(tmp_path: Path) -> tuple[TestClient, ModelStore]:
    path = tmp_path / "kr.db"
    fill_store(path, [raw_post("1", "@KPN internet alweer weg, belachelijk!")])
    store = _registry(tmp_path / "models")
    store.promote("linear", "v1")
    settings = _settings("linear", tmp_path / "models")
    triage, clock, database = TriageSettings(), FixedClock(T0), TriageDatabase(path)
    app = TriageApp(
        triage,
        Workflow(database, clock, SlaPolicy.from_settings(triage)),
        FeedbackStore(database, clock),
        ChangeFeed(path),
        clock,
        served_model=lambda: served_model(settings),
    )
    return TestClient(create_app(app)), store


def test_the_triage_header_shows_the_serving_model_and_a_promotion_on_reload(
    client_and_store: tuple[TestClient, ModelStore],
) -> None:
    client, store = client_and_store
    with client:
        page = client.get("/").text
        header = page[page.index('<header class="topbar">') : page.index("</header>")]
        assert 'id="served-model"' in header and "model linear@v1" in header
        store.promote("linear", "v2")
        assert "model linear@v2" in client.get("/").text
