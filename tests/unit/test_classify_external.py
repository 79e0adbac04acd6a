"""The real-text sets: each scored with the metric its labels allow, skipped when absent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from classify.base import Prediction
from classify.external import EXTERNAL_SETS, evaluate_external, headline
from klachtradar.contract import Cue, Intent, ModelRef, Sentiment


class Says:
    """A stub classifier: P(positief) high when the text contains "goed"."""

    model_ref = ModelRef(name="stub", version="1")

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        out = []
        for text in texts:
            pos = 0.7 if "goed" in text else 0.1
            out.append(
                Prediction(
                    {
                        Sentiment.NEGATIEF: 0.2,
                        Sentiment.NEUTRAAL: 0.8 - pos,
                        Sentiment.POSITIEF: pos,
                    },
                    dict.fromkeys(Intent, 0.25),
                    dict.fromkeys(Cue, 0.0),
                )
            )
        return out


def _write(folder: Path, name: str, rows: list[tuple[str, str]]) -> None:
    lines = [json.dumps({"id": str(i), "text": t, "sentiment": s}) for i, (t, s) in enumerate(rows)]
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_reviews_are_scored_on_polarity_ignoring_neutral_and_tweets_on_three_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reviews = [("goed boek", "positief"), ("slecht boek", "negatief"), ("matig", "positief")]
    _write(tmp_path, "nl_bol_book_reviews_polarity.jsonl", reviews)
    tweets = [("goed plan", "positief"), ("een motie", "neutraal")]
    _write(tmp_path, "nl_political_tweets_polarity_test.jsonl", tweets)
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(tmp_path))
    results = evaluate_external(Says())
    bol = results["bol_reviews"]
    # "slecht boek": P(pos) 0.1 < P(neg) 0.2 → negative, right; "matig" the same, wrong.
    assert bol["polarity_accuracy"] == pytest.approx(2 / 3)
    assert bol["n"] == 3 and bol["predicted_positive_share"] == pytest.approx(1 / 3)
    tweets = results["political_tweets"]
    assert tweets["sentiment_accuracy"] == 1.0
    spec = {s.name: s for s in EXTERNAL_SETS}
    assert headline(bol, spec["bol_reviews"]) == pytest.approx(2 / 3)


def test_an_absent_set_is_skipped_with_a_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "nl_political_tweets_polarity_test.jsonl", [("goed", "positief")])
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(tmp_path))
    results = evaluate_external(Says())
    assert "nl_bol_book_reviews_polarity.jsonl not found" in results["bol_reviews"]["skipped"]
    assert headline(results["bol_reviews"], EXTERNAL_SETS[1]) is None
    assert "skipped" not in results["political_tweets"]


def test_no_training_code_reads_the_real_text_sets() -> None:
    """They judge models; a model fitted or tuned on them would be judged by itself."""
    src = Path(__file__).resolve().parents[2] / "src"
    readers = sorted(
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if "classify.external" in path.read_text(encoding="utf-8")
        or "data/external" in path.read_text(encoding="utf-8")
    )
    assert readers == ["classify/commands.py", "classify/evaluation_html.py",
                       "classify/evaluation_view.py", "classify/external.py",
                       "classify/suite.py"]  # fmt: skip


def test_writing_the_suite_into_a_card_keeps_what_people_wrote_and_replaces_the_old_row() -> None:
    from classify.suite import with_evaluation_section

    card = {"evaluation": {"data": "t.jsonl", "complaint_f1": 0.9, "political_tweets": 0.5}}
    hand = "# m v1\n\n## Metrics on dev\n\n- x: 1\n\n## Parameters\n\n{}\n\n## Notes\n\nmine\n"
    once = with_evaluation_section(hand, card)
    assert once.index("## Evaluation") < once.index("## Parameters")
    assert once.endswith("## Notes\n\nmine\n")
    assert "real political tweets (198): sentiment macro-F1: 0.500" in once
    card["evaluation"]["political_tweets"] = 0.7
    twice = with_evaluation_section(once, card)
    assert twice.count("## Evaluation") == 1 and "macro-F1: 0.700" in twice
    assert with_evaluation_section(twice, card) == twice


def test_a_label_absent_from_gold_and_predictions_is_left_out_of_macro_f1() -> None:
    import numpy as np

    from classify.evaluation import task_report

    gold = [0, 1, 1, 0]
    proba = np.array([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    report = task_report(gold, proba, ["a", "b", "c"])
    assert report.macro_f1 == 1.0, "perfect on the labels that occur"
    assert report.macro_excluded == ["c"]
    proba[0] = [0.1, 0.1, 0.8]  # now "c" is predicted once (wrongly): it counts
    wrong = task_report(gold, proba, ["a", "b", "c"])
    assert wrong.macro_excluded == [] and wrong.macro_f1 < 0.7


def test_mcnemar_exact_is_a_two_sided_binomial_test() -> None:
    from classify.comparison import mcnemar_exact

    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)  # all six discordant posts one way
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
