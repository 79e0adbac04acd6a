"""The model registry: versions, cards, promotion, and live swap in a running pipeline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from classify.base import Prediction
from classify.hot_swap import PromotedClassifier
from classify.model_store import ModelStore, ModelVersion
from classify.registry import load_classifier
from klachtradar.contract import Cue, Intent, ModelRef, Sentiment
from klachtradar.errors import ConfigError


class FixedClassifier:
    """Says the same thing about every text; stands in for a trained backend."""

    def __init__(self, version: str) -> None:
        self.version = version

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name="fake", version=self.version)

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        return [
            Prediction(
                sentiment={s: 1 / 3 for s in Sentiment},
                intent={i: 0.25 for i in Intent},
                cues={c: 0.0 for c in Cue},
            )
            for _ in texts
        ]


def _store_with_versions(root: Path, *versions: str) -> ModelStore:
    store = ModelStore(root)
    for version in versions:
        staging = store.staging_dir("fake", version)
        store.commit(
            staging,
            "fake",
            version,
            {"name": "fake", "version": version, "backend": "fake", "metrics_dev": {}},
        )
    return store


@pytest.fixture
def fake_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(model: ModelVersion, *, precision: str = "fp32") -> FixedClassifier:
        if model.card.get("broken"):
            raise ConfigError("broken artefact")
        return FixedClassifier(model.version)

    monkeypatch.setattr("classify.hot_swap.load_version", load)


def test_a_committed_version_has_card_label_map_and_readable_card(tmp_path: Path) -> None:
    store = _store_with_versions(tmp_path, "v1")
    folder = tmp_path / "fake" / "v1"
    assert json.loads((folder / "labels.json").read_text())["intent"][0] == "klacht"
    assert "# fake v1" in (folder / "MODEL_CARD.md").read_text()
    assert store.versions("fake") == ["v1"]
    assert store.next_version("fake") == "v2"


def test_without_promotion_the_newest_version_is_served(tmp_path: Path) -> None:
    store = _store_with_versions(tmp_path, "v1", "v2", "v10")
    assert store.get("fake").version == "v10"


def test_promotion_picks_the_version_and_unknown_versions_are_refused(tmp_path: Path) -> None:
    store = _store_with_versions(tmp_path, "v1", "v2")
    store.promote("fake", "v1")
    assert store.get("fake").version == "v1"
    with pytest.raises(ConfigError, match="no version"):
        store.promote("fake", "v7")


def test_running_classifier_swaps_to_a_promoted_version_between_batches(
    tmp_path: Path, fake_loader: None
) -> None:
    store = _store_with_versions(tmp_path, "v1", "v2")
    store.promote("fake", "v1")
    clf = PromotedClassifier(store, "fake", check_seconds=0)
    clf.predict_proba(["a"])
    assert clf.model_ref.version == "v1"
    store.promote("fake", "v2")
    clf.predict_proba(["b"])
    assert clf.model_ref.version == "v2"


def test_a_broken_promotion_keeps_the_old_model_serving(tmp_path: Path, fake_loader: None) -> None:
    store = _store_with_versions(tmp_path, "v1")
    staging = store.staging_dir("fake", "v2")
    store.commit(
        staging, "fake", "v2", {"name": "fake", "version": "v2", "backend": "fake", "broken": True}
    )
    store.promote("fake", "v1")
    clf = PromotedClassifier(store, "fake", check_seconds=0)
    store.promote("fake", "v2")
    assert clf.predict_proba(["x"])[0].intent
    assert clf.model_ref.version == "v1"


def test_unknown_classifier_names_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="available: lexicon"):
        load_classifier("nope", models_dir=tmp_path)


def test_missing_optional_library_falls_back_to_the_lexicon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _store_with_versions(tmp_path, "v1")

    def missing(*args: object, **kwargs: object) -> None:
        raise ImportError("No module named 'sklearn'")

    monkeypatch.setattr("classify.hot_swap.PromotedClassifier", missing)
    clf = load_classifier("fake", models_dir=tmp_path)
    assert clf.model_ref.name == "lexicon"
    assert "serving 'lexicon' instead" in caplog.text


def test_missing_optional_library_serves_the_fallback_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where torch is missing, the fast linear model serves, not the lexicon."""
    from classify import hot_swap

    _store_with_versions(tmp_path, "v1")
    shutil.copytree(Path(__file__).resolve().parents[2] / "models" / "linear", tmp_path / "linear")
    real = hot_swap.PromotedClassifier

    def needs_torch(store: object, name: str, **kwargs: object) -> object:
        if name == "fake":
            raise ImportError("No module named 'torch'")
        return real(store, name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("classify.hot_swap.PromotedClassifier", needs_torch)
    clf = load_classifier("fake", models_dir=tmp_path, fallback="linear")
    assert clf.model_ref.name == "linear"
    assert "serving 'linear' instead" in caplog.text


def test_the_shipped_default_model_loads_and_classifies() -> None:
    root = Path(__file__).resolve().parents[2] / "models"
    clf = load_classifier("linear", models_dir=root)
    [p] = clf.predict_proba(["@NS alweer vertraging, derde keer deze week 🙄"])
    assert max(p.intent, key=p.intent.__getitem__) is Intent.KLACHT
    assert clf.model_ref.name == "linear"


def test_every_shipped_model_file_fits_in_git() -> None:
    root = Path(__file__).resolve().parents[2] / "models"
    sizes = {p: p.stat().st_size for p in root.rglob("*") if p.is_file()}
    assert sizes and all(size < 20 * 1024 * 1024 for size in sizes.values())


def test_the_shipped_store_lists_only_post_classifiers_as_classifiers() -> None:
    """The brand-reply tone model lives beside the classifiers; evaluate --suite and the
    benchmark walk ``classifier_names`` and would fail on it with ``names``."""
    store = ModelStore(Path(__file__).resolve().parents[2] / "models")
    assert "tone" in store.names()
    assert "tone" not in store.classifier_names()
    assert {"linear", "e5"} <= set(store.classifier_names())
