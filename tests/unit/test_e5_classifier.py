"""The e5 LoRA classifier: train → save → load → predict on a tiny synthetic base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from classify.e5_classifier import (
    ADAPTER_FILE,
    CARD_FILE,
    INT8_LAYERS,
    E5Classifier,
    E5TrainConfig,
    Example,
    fit_temperature,
    train_e5,
)
from classify.e5_format import write_e5
from klachtradar.contract import Cue, Intent, Sentiment
from tests.unit.test_e5_import import tiny_e5

TEXTS = ["de kat is weg", "ziggo storing", "de kat", "storing!", "de ziggo kat", "weg, weg"]


def examples() -> list[Example]:
    return [
        Example(text, sentiment=i % 3, intent=i % 4, cues=[float(i % 2), 0.0, 0.0, 1.0])
        for i, text in enumerate(TEXTS * 4)
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("e5clf")
    source = tmp / "tiny-q4.bin"
    write_e5(source, tiny_e5())
    config = E5TrainConfig(epochs=2, batch_size=8, layers_to_transform=(0, 1), max_length=16)
    model_dir = train_e5(
        examples(),
        examples()[:8],
        cache_dir=tmp / "cache",
        out_dir=tmp / "models",
        version="0.0.1",
        config=config,
        base_source=source,
        progress=lambda _: None,
    )
    return model_dir, tmp / "cache", source


def test_training_writes_a_small_artefact_with_a_model_card(
    trained: tuple[Path, Path, Path],
) -> None:
    model_dir, _, _source = trained
    assert model_dir.name == "0.0.1" and model_dir.parent.name == "e5-lora"
    card = json.loads((model_dir / CARD_FILE).read_text())
    assert card["base"]["source_sha256"]
    assert set(card["temperatures"]) == {"sentiment", "intent", "cues"}
    assert card["dev_history"] and "complaint_f1" in card["dev_metrics_best"]
    assert (model_dir / ADAPTER_FILE).stat().st_size < 10 * 1024 * 1024
    assert not (model_dir / "model.safetensors").exists()  # the base is not copied


def test_a_loaded_model_predicts_calibrated_probabilities(trained: tuple[Path, Path, Path]) -> None:
    model_dir, cache, source = trained
    clf = E5Classifier.load(model_dir, cache_dir=cache, base_source=source)
    assert clf.model_ref.name == "e5-lora" and clf.model_ref.version == "0.0.1"
    predictions = clf.predict_proba(["de kat", "", "x" * 5000, "ziggo storing"])
    assert len(predictions) == 4
    for p in predictions:
        assert set(p.sentiment) == set(Sentiment) and set(p.intent) == set(Intent)
        assert set(p.cues) == set(Cue)
        assert abs(sum(p.intent.values()) - 1) < 1e-5
        assert all(0 <= v <= 1 for v in p.cues.values())
    assert clf.predict_proba([]) == []


def test_int8_loading_quantises_attention_and_ffn_input_and_keeps_the_verdicts_close(
    trained: tuple[Path, Path, Path],
) -> None:
    import torch

    model_dir, cache, source = trained
    full = E5Classifier.load(model_dir, cache_dir=cache, base_source=source)
    small = E5Classifier.load(model_dir, cache_dir=cache, base_source=source, precision="int8")
    quantised = {
        name
        for name, module in small._encoder.named_modules()
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear)
    }
    assert quantised and all(name.endswith(INT8_LAYERS) for name in quantised)
    layers = {name for name, m in full._encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    assert quantised == {name for name in layers if name.endswith(INT8_LAYERS)}
    texts = ["de kat", "ziggo storing al drie dagen", "dank je wel"]
    for a, b in zip(full.predict_proba(texts), small.predict_proba(texts), strict=True):
        assert max(abs(a.intent[k] - b.intent[k]) for k in a.intent) < 0.05


def test_bf16_loading_casts_the_encoder_and_keeps_heads_and_verdicts_in_fp32(
    trained: tuple[Path, Path, Path],
) -> None:
    import torch

    model_dir, cache, source = trained
    full = E5Classifier.load(model_dir, cache_dir=cache, base_source=source)
    half = E5Classifier.load(model_dir, cache_dir=cache, base_source=source, precision="bf16")
    assert half.precision == "bf16" and full.precision == "fp32"
    assert {p.dtype for p in half._encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in half._heads.parameters()} == {torch.float32}
    texts = ["de kat", "ziggo storing al drie dagen", "dank je wel"]
    for a, b in zip(full.predict_proba(texts), half.predict_proba(texts), strict=True):
        assert abs(sum(b.intent.values()) - 1) < 1e-5
        assert max(abs(a.intent[k] - b.intent[k]) for k in a.intent) < 0.05
        assert max(abs(a.sentiment[k] - b.sentiment[k]) for k in a.sentiment) < 0.05


def test_auto_precision_is_bf16_only_where_the_cpu_has_it(
    trained: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import classify.precision as precision

    model_dir, cache, source = trained
    monkeypatch.setattr(precision, "native_bf16", lambda: False)
    assert (
        E5Classifier.load(
            model_dir, cache_dir=cache, base_source=source, precision="auto"
        ).precision
        == "fp32"
    )
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    assert (
        E5Classifier.load(
            model_dir, cache_dir=cache, base_source=source, precision="auto"
        ).precision
        == "bf16"
    )
    with pytest.raises(ValueError, match="unknown precision"):
        precision.resolve("fp16")


def test_loading_rebuilds_the_base_when_the_cache_is_empty(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model_dir, _, source = trained
    clf = E5Classifier.load(model_dir, cache_dir=tmp_path / "empty", base_source=source)
    assert (tmp_path / "empty").is_dir()
    assert len(clf.predict_proba(["de kat"])) == 1


def test_a_model_trained_on_another_base_is_refused(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model_dir, _, _ = trained
    other = tmp_path / "other-q4.bin"
    write_e5(other, tiny_e5(seed=99))
    with pytest.raises(ValueError, match="trained on base"):
        E5Classifier.load(model_dir, cache_dir=tmp_path / "c", base_source=other)


def test_temperature_scaling_softens_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, size=400)
    logits = rng.normal(size=(400, 3))
    logits[np.arange(400), targets] += 1.0
    assert fit_temperature(logits * 6, targets) > 3.0
    assert fit_temperature(logits, targets) == pytest.approx(1.0, rel=0.5)


def test_the_card_records_a_lexicon_weight_fitted_on_dev(trained: tuple[Path, Path, Path]) -> None:
    """The blend weight comes from the grid, with every dev score beside it."""
    from classify.lexicon_blend import WEIGHTS

    model_dir, _, _ = trained
    card = json.loads((model_dir / CARD_FILE).read_text())
    assert card["lexicon_weight"] in WEIGHTS
    assert set(card["lexicon_blend_dev"]) == {str(w) for w in WEIGHTS}
    best = max(card["lexicon_blend_dev"].values())
    assert card["lexicon_blend_dev"][str(card["lexicon_weight"])] == best


def test_the_lexicon_blend_moves_the_verdict_towards_the_lexicon(
    trained: tuple[Path, Path, Path],
) -> None:
    from classify.lexicon import LexiconClassifier

    model_dir, cache, source = trained
    clf = E5Classifier.load(model_dir, cache_dir=cache, base_source=source)
    text = ["@KPN waardeloos, al drie dagen geen internet, ik ben er klaar mee 😡"]
    clf.lexicon_weight = 0.0
    [alone] = clf.predict_proba(text)
    clf.lexicon_weight = 1.0
    [blended] = clf.predict_proba(text)
    [lexicon] = LexiconClassifier().predict_proba(text)
    for label in Sentiment:
        low, high = sorted((alone.sentiment[label], lexicon.sentiment[label]))
        assert low - 0.05 <= blended.sentiment[label] <= high + 0.05
    assert blended.sentiment[Sentiment.NEGATIEF] != pytest.approx(
        alone.sentiment[Sentiment.NEGATIEF]
    )


def test_blend_is_a_renormalised_weighted_geometric_mean() -> None:
    from classify.lexicon_blend import blend, fit_weight

    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    q = np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    assert blend(p, q, 0.0) is p
    mixed = blend(p, q, 0.5)
    assert np.allclose(mixed.sum(axis=1), 1.0)
    expected = (p * q**0.5) ** (1 / 1.5)
    assert np.allclose(mixed, expected / expected.sum(axis=1, keepdims=True), atol=1e-4)
    weight, scores = fit_weight(lambda w: 1.0 - (w - 0.5) ** 2)
    assert weight == 0.5 and len(scores) == 5
    tie, _ = fit_weight(lambda w: 1.0)
    assert tie == 0.0


def test_bf16_training_keeps_fp32_adapters_and_says_so_in_the_card(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    _, cache, source = trained
    config = E5TrainConfig(
        epochs=1, batch_size=8, layers_to_transform=(0, 1), max_length=16, train_precision="bf16"
    )
    model_dir = train_e5(
        examples(),
        examples()[:8],
        cache_dir=cache,
        out_dir=tmp_path,
        version="bf16",
        config=config,
        base_source=source,
        progress=lambda _: None,
    )
    card = json.loads((model_dir / CARD_FILE).read_text())
    assert card["trained_in"] == "bf16"
    tensors = load_file(str(model_dir / ADAPTER_FILE))
    assert {str(t.dtype) for t in tensors.values()} == {"torch.float32"}
    clf = E5Classifier.load(model_dir, cache_dir=cache, base_source=source)
    assert len(clf.predict_proba(["ziggo storing"])) == 1


def test_an_unknown_training_precision_is_refused(
    trained: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, cache, source = trained
    with pytest.raises(ValueError, match="train_precision"):
        train_e5(
            examples(),
            examples()[:8],
            cache_dir=cache,
            out_dir=tmp_path,
            config=E5TrainConfig(epochs=1, train_precision="int8"),
            base_source=source,
            progress=lambda _: None,
        )
