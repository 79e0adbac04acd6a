"""The linear backend: fast features equal scikit-learn's, calibrated heads, skops files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from classify.calibration import (
    expected_calibration_error,
    fit_temperature,
    softmax_with_temperature,
)
from classify.corpus import read_labelled, split_by_language
from classify.fast_tfidf import _EQUIVALENT_TOKEN_PATTERNS, FastTfidf, TfidfBlocks
from classify.linear import LinearClassifier
from classify.model_files import load_skops, save_skops
from classify.text_normalise import normalise
from klachtradar.contract import Cue, Intent, Sentiment
from klachtradar.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ODD_TEXTS = [
    "",
    "😡😡😡",
    "https://t.co/abc123",
    "@KPN " + "storing " * 1500,
    "geen\x00internet\x1b[31m al\u200b 3 dagen\r\n",
    "Das Internet ist schon wieder weg, unglaublich.",
    "    ",
]


@pytest.fixture(scope="module")
def small_model() -> LinearClassifier:
    train, _ = split_by_language(read_labelled(ROOT / "data/corpus/train.jsonl"))
    dev, _ = split_by_language(read_labelled(ROOT / "data/corpus/dev.jsonl"))
    return LinearClassifier().fit(train[:240], dev=dev[:80])


def test_fast_tfidf_equals_scikit_learn_transform(small_model: LinearClassifier) -> None:
    texts = [normalise(t) for t in [*ODD_TEXTS, "Al weken geen internet bij @Ziggo!!", "ik"]]
    for vectorizer in (small_model.word_, small_model.char_):
        expected = vectorizer.transform(texts).toarray()
        actual = FastTfidf(vectorizer).transform(texts).toarray()
        np.testing.assert_allclose(actual, expected, atol=1e-12)


def _all_corpus_texts() -> list[str]:
    return (
        [
            r.text
            for split in ("train", "dev", "test")
            for r in read_labelled(ROOT / f"data/corpus/{split}.jsonl")
        ]
        + ODD_TEXTS
        + ["@#kpn !? ..@@ x_y a\u0301b \u0661\u0662", "#", "@", "a@b #c# d"]
    )


def test_the_faster_token_pattern_finds_the_same_tokens_on_every_corpus_post() -> None:
    import re

    for slow, fast in _EQUIVALENT_TOKEN_PATTERNS.items():
        for text in _all_corpus_texts():
            clean = normalise(text)
            assert re.findall(fast, clean) == re.findall(slow, clean), text


def test_one_block_matrix_equals_stacked_scikit_learn_blocks_and_extra_columns(
    small_model: LinearClassifier,
) -> None:
    from scipy.sparse import csr_matrix, hstack

    texts = [normalise(t) for t in _all_corpus_texts()]
    rules = np.zeros((len(texts), 3))
    rules[::7, 0] = 1.0
    rules[::5, 2] = 1.0
    rules[::3, 1] = np.linspace(0.01, 0.99, len(rules[::3, 1]))  # lexicon probabilities
    vectorizers = (small_model.word_, small_model.char_)
    expected = hstack(
        [v.transform(texts) for v in vectorizers] + [csr_matrix(rules * 0.5)], format="csr"
    )
    actual = TfidfBlocks(vectorizers, extra_columns=3).transform(texts, rules, extra_weight=0.5)
    assert actual.has_canonical_format
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.toarray(), expected.toarray(), atol=1e-12)


def test_probabilities_cover_every_label_and_sum_to_one(small_model: LinearClassifier) -> None:
    [p] = small_model.predict_proba(["@KPN al drie dagen geen internet, belachelijk"])
    assert set(p.sentiment) == set(Sentiment)
    assert set(p.intent) == set(Intent)
    assert set(p.cues) == set(Cue)
    assert sum(p.sentiment.values()) == pytest.approx(1.0)
    assert sum(p.intent.values()) == pytest.approx(1.0)


def test_a_clear_outage_complaint_is_a_negative_complaint(small_model: LinearClassifier) -> None:
    [p] = small_model.predict_proba(["Al 3 dagen geen internet @Ziggo, belachelijk slecht"])
    assert max(p.intent, key=p.intent.__getitem__) is Intent.KLACHT
    assert max(p.sentiment, key=p.sentiment.__getitem__) is Sentiment.NEGATIEF


def test_odd_input_gets_a_valid_prediction_not_an_exception(
    small_model: LinearClassifier,
) -> None:
    predictions = small_model.predict_proba(ODD_TEXTS)
    assert len(predictions) == len(ODD_TEXTS)
    for p in predictions:
        assert sum(p.intent.values()) == pytest.approx(1.0)
        assert all(0.0 <= v <= 1.0 for v in p.cues.values())


def test_an_empty_batch_gives_no_predictions(small_model: LinearClassifier) -> None:
    assert small_model.predict_proba([]) == []


def test_saved_model_predicts_the_same_after_loading(
    small_model: LinearClassifier, tmp_path: Path
) -> None:
    small_model.save(tmp_path)
    loaded = LinearClassifier.load(tmp_path, name="linear", version="v9")
    texts = ["Top service weer 🙄 pakket kwijt", "Bedankt voor de snelle hulp!", *ODD_TEXTS]
    before = small_model.predict_proba(texts)
    after = loaded.predict_proba(texts)
    for a, b in zip(before, after, strict=True):
        assert a.intent == pytest.approx(b.intent)
        assert a.cues == pytest.approx(b.cues)
    assert loaded.model_ref.version == "v9"


def test_the_artefact_is_a_skops_zip_not_a_pickle(
    small_model: LinearClassifier, tmp_path: Path
) -> None:
    path = small_model.save(tmp_path)
    assert zipfile.is_zipfile(path)
    assert "schema.json" in zipfile.ZipFile(path).namelist()


def test_loading_refuses_types_outside_the_allow_list(tmp_path: Path) -> None:
    path = save_skops({"evil": Path("/etc/passwd")}, tmp_path / "model.skops")
    with pytest.raises(ConfigError, match="untrusted"):
        load_skops(path)


def test_temperature_scaling_recovers_an_overconfident_model() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    proba = softmax_with_temperature(true_logits, 1.0)
    labels = np.array([rng.choice(3, p=row) for row in proba])
    overconfident = true_logits * 3
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.15)
    before = expected_calibration_error(softmax_with_temperature(overconfident, 1.0), labels)
    after = expected_calibration_error(softmax_with_temperature(overconfident, temperature), labels)
    assert after < before / 2


def test_normalise_masks_urls_handles_numbers_and_control_characters() -> None:
    assert normalise("@KPN al 3 dagen\x00 STORING https://t.co/x") == "@user al 0 dagen storing url"
    assert len(normalise("x" * 50_000)) <= 1_000


@pytest.mark.parametrize("ngrams", [(1, 1), (1, 2), (2, 2), (1, 3)])
def test_fast_tfidf_equals_scikit_learn_for_other_word_ngram_ranges(
    ngrams: tuple[int, int],
) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [normalise(t) for t in _all_corpus_texts()]
    vectorizer = TfidfVectorizer(
        analyzer="word",
        ngram_range=ngrams,
        token_pattern=r"(?u)[@#]?\b\w+\b|[!?]|[^\w\s]",
        sublinear_tf=True,
        lowercase=False,
        max_features=3_000,  # pruned: some bigrams keep tokens that are no unigram
    ).fit(texts[:900])
    expected = vectorizer.transform(texts).toarray()
    np.testing.assert_allclose(
        FastTfidf(vectorizer).transform(texts).toarray(), expected, atol=1e-12
    )


def test_the_default_stacks_the_lexicon_into_every_head_and_explains_with_it() -> None:
    from classify.linear import LEXICON_FEATURES

    train, _ = split_by_language(read_labelled(ROOT / "data/corpus/train.jsonl"))
    model = LinearClassifier().fit(train[:150])
    assert model.params.stack == "lexicon" and model.params.augment_plain
    x_task, x_cues, _ = model._features(["Slecht boek, zonde van het geld."])
    assert x_cues.shape[1] == x_task.shape[1] + 6, "the rule columns feed only the cue heads"
    assert model.heads_ is not None
    task_rows = model.heads_.stacked()[0].shape[0]
    assert task_rows == x_task.shape[1], "sentiment and intent read the lexicon columns too"
    [p] = model.predict_proba(["Wat een ontzettend slecht en saai boek, echt waardeloos"])
    assert any(e.startswith("-") for e in p.evidence), "the lexicon's words are evidence"
    assert len(LEXICON_FEATURES) == 7


def test_plain_copies_teach_the_words_without_emoji_handles_or_hashtags() -> None:
    from classify.augment import plain_text, with_plain_copies
    from classify.corpus import LabelledPost

    assert plain_text("@KPN al 3 dagen geen internet!!! 😡 #storing") == "al 3 dagen geen internet!"
    post = LabelledPost("a", "Top service @bol 👍", Sentiment.POSITIEF, Intent.COMPLIMENT)
    same = LabelledPost("b", "gewoon een zin", Sentiment.NEUTRAAL, Intent.OVERIG)
    out = with_plain_copies([post, same])
    assert [r.id for r in out] == ["a", "b", "a~plain"]
    assert out[2].text == "top service" and out[2].sentiment == Sentiment.POSITIEF
