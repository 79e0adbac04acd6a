"""The linear model's serving arrays: the same verdicts as the full model, numpy alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classify.corpus import read_labelled, split_by_language
from classify.linear import LinearClassifier
from classify.linear_arrays import ARRAYS, FittedTfidf, LinearArrays, load_arrays, save_arrays
from klachtradar.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "@KPN al 3 dagen geen internet!! 😡",
    "Bedankt @Ziggo, snel opgelost 👍",
    "Kan ik mijn abonnement online verlengen?",
    "",
    "geen\x00internet\x1b[31m al\u200b 3 dagen\r\n",
]


@pytest.fixture(scope="module")
def fitted() -> LinearClassifier:
    train, _ = split_by_language(read_labelled(ROOT / "data/corpus/train.jsonl"))
    dev, _ = split_by_language(read_labelled(ROOT / "data/corpus/dev.jsonl"))
    return LinearClassifier().fit(train[:200], dev=dev[:60])


def _as_rows(model: LinearClassifier, texts: list[str]) -> list[tuple[object, ...]]:
    return [(p.sentiment, p.intent, p.cues, p.evidence) for p in model.predict_proba(texts)]


def test_a_model_saved_and_loaded_from_its_arrays_predicts_exactly_like_the_full_state(
    fitted: LinearClassifier, tmp_path: Path
) -> None:
    fitted.save(tmp_path)
    assert (tmp_path / ARRAYS).is_file() and (tmp_path / "model.skops").is_file()
    served = LinearClassifier.load(tmp_path, name="linear", version="t")
    full = LinearClassifier.load_full(tmp_path, name="linear", version="t")
    assert isinstance(served.word_, FittedTfidf)
    assert _as_rows(served, TEXTS) == _as_rows(full, TEXTS) == _as_rows(fitted, TEXTS)
    assert served.explain(TEXTS[0]) == full.explain(TEXTS[0])


def test_terms_with_any_character_survive_the_round_trip(tmp_path: Path) -> None:
    odd = ["a\nb", "😡", "", "x y", "é"]
    vectoriser = FittedTfidf(
        "word",
        (1, 2),
        r"\w+",
        {t: i for i, t in enumerate(odd)},
        np.arange(len(odd), dtype=np.float64),
    )
    empty = FittedTfidf("char_wb", (1, 4), r"\w+", {}, np.zeros(0))
    stacked = tuple(np.ones((2, 2)) * i for i in range(4))
    arrays = LinearArrays(vectoriser, empty, stacked, {"intent": 1.5}, "rules", 0.5)
    loaded = load_arrays(save_arrays(arrays, tmp_path / ARRAYS))
    assert loaded.word.terms() == odd
    assert loaded.char.vocabulary_ == {}
    np.testing.assert_array_equal(loaded.word.idf_, vectoriser.idf_)
    assert loaded.temperatures == {"intent": 1.5} and loaded.lexicon_weight == 0.5
    assert all(np.array_equal(a, b) for a, b in zip(loaded.stacked, stacked, strict=True))


def test_a_damaged_arrays_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / ARRAYS
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ConfigError, match=ARRAYS):
        load_arrays(bad)


def test_serving_the_shipped_linear_model_imports_neither_scikit_learn_nor_torch() -> None:
    """The start-up cost this format exists to avoid (4.4 s and torch, through skops)."""
    probe = (
        "import sys, pathlib\n"
        "from classify.registry import load_classifier\n"
        f"c = load_classifier('linear', models_dir=pathlib.Path({str(ROOT / 'models')!r}))\n"
        "c.predict_proba(['@KPN al weken geen internet'])\n"
        "print(sorted(m for m in ('sklearn', 'torch', 'skops') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
