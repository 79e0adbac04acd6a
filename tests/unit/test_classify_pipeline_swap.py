"""The running pipeline serves a newly promoted model from the next batch, no restart."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classify.hot_swap import PromotedClassifier
from classify.model_store import ModelStore
from klachtradar.contract import Author, RawPost
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def _post(n: int) -> RawPost:
    return RawPost(
        source="x",
        post_id=str(n),
        text="@KPN al drie dagen geen internet, belachelijk",
        created_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        author=Author(id=f"a{n}", handle=f"klant{n}"),
    )


def _two_versions(root: Path) -> ModelStore:
    """A registry with the shipped linear model copied as v1 and v2."""
    shipped = ModelStore(ROOT / "models").get("linear")
    for version in ("v1", "v2"):
        target = root / "linear" / version
        shutil.copytree(shipped.path, target)
        card = json.loads((target / "card.json").read_text())
        (target / "card.json").write_text(json.dumps(card | {"version": version}))
    return ModelStore(root)


def test_promotion_reaches_a_running_pipeline_between_batches(tmp_path: Path) -> None:
    store = _two_versions(tmp_path)
    store.promote("linear", "v1")
    settings = load_settings(
        pipeline={"classifier": "linear"},
        classify={"models_dir": str(tmp_path), "reload_check_seconds": 0},
    )
    pipeline = Pipeline.from_settings(settings)

    first = pipeline.process([_post(1)])
    store.promote("linear", "v2")
    second = pipeline.process([_post(2)])

    [before] = first.scored
    [after] = second.scored
    assert before.classification is not None and after.classification is not None
    assert before.classification.model.version == "v1"
    assert after.classification.model.version == "v2"
    assert after.classification.intent.value == "klacht"


def test_a_hot_swap_logs_one_info_line_naming_old_and_new_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _two_versions(tmp_path)
    store.promote("linear", "v1")
    classifier = PromotedClassifier(store, "linear", check_seconds=0)
    caplog.set_level(logging.DEBUG)
    assert not classifier.refresh(force=True), "pointer unchanged: no swap"
    store.promote("linear", "v2")
    assert classifier.refresh(force=True)
    assert not classifier.refresh(force=True)
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert info == ["hot swap: linear@v1 → linear@v2"]
    assert classifier.model_ref.version == "v2"
