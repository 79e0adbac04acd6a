"""The transformer backend, end to end on a tiny random BERT the test writes itself.

Nothing is downloaded: the test writes a WordPiece vocabulary and a two-layer BERT
config, saves a random model, and runs ``klachtradar train --backend transformer``
→ the registry → load → predict through the real code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner

from classify.model_store import ModelStore, load_version
from classify.tiny_bert import corpus_texts, write_tiny_bert
from classify.transformer import TransformerClassifier
from klachtradar.cli import app
from klachtradar.contract import Intent

ROOT = Path(__file__).resolve().parents[2]


def _subset(source: Path, target: Path, n: int) -> Path:
    lines = [ln for ln in source.read_text(encoding="utf-8").splitlines() if '"lang": "nl"' in ln]
    target.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelStore, str]:
    base = tmp_path_factory.mktemp("transformer")
    train = _subset(ROOT / "data/corpus/train.jsonl", base / "train.jsonl", 96)
    dev = _subset(ROOT / "data/corpus/dev.jsonl", base / "dev.jsonl", 32)
    bert = write_tiny_bert(
        base / "tiny-bert", corpus_texts(train), vocab_size=600, hidden_size=32, max_positions=64
    )
    models = base / "models"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--backend",
            "transformer",
            "--base-model",
            str(bert),
            "--data",
            str(train),
            "--dev",
            str(dev),
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--max-length",
            "48",
            "--models-dir",
            str(models),
            "--promote",
        ],
    )
    assert result.exit_code == 0, result.output
    return ModelStore(models), result.output


@pytest.mark.slow
def test_train_writes_a_versioned_model_with_card_and_weights(
    trained: tuple[ModelStore, str],
) -> None:
    store, output = trained
    model = store.get("transformer")
    assert model.version == "v1" and store.promoted("transformer") == "v1"
    assert (model.path / "hf" / "model.safetensors").is_file()
    assert (model.path / "hf" / "config.json").is_file()
    assert model.card["backend"] == "transformer"
    assert model.card["data"]["train"]["records"] == 96
    assert "intent_macro_f1" in model.card["metrics_dev"]
    assert "wrote" in output


@pytest.mark.slow
def test_loaded_model_predicts_in_input_order_for_mixed_lengths(
    trained: tuple[ModelStore, str],
) -> None:
    store, _ = trained
    clf = load_version(store.get("transformer"))
    assert isinstance(clf, TransformerClassifier)
    texts = ["kort", "Al 3 dagen geen internet en niemand reageert " * 8, "", "😡", "ok dank"]
    batched = clf.predict_proba(texts)
    one_by_one = [clf.predict_proba([t])[0] for t in texts]
    for a, b in zip(batched, one_by_one, strict=True):
        assert a.intent == pytest.approx(b.intent, abs=1e-4)
        assert sum(a.intent.values()) == pytest.approx(1.0)
    assert clf.model_ref.name == "transformer"


@pytest.mark.slow
def test_int8_quantised_model_still_gives_valid_probabilities(
    trained: tuple[ModelStore, str],
) -> None:
    store, _ = trained
    clf = load_version(store.get("transformer"), precision="int8")
    [p] = clf.predict_proba(["@KPN storing alweer"])
    assert set(p.intent) == set(Intent)
    assert sum(p.intent.values()) == pytest.approx(1.0)
