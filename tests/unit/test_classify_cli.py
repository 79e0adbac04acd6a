"""``klachtradar train | evaluate | classify | models`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klachtradar.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
pytestmark = pytest.mark.slow  # trains two models in the module fixture


def _subset(source: Path, target: Path, n: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("cli")
    paths = {
        "train": _subset(ROOT / "data/corpus/train.jsonl", base / "train.jsonl", 200),
        "dev": _subset(ROOT / "data/corpus/dev.jsonl", base / "dev.jsonl", 60),
        "test": _subset(ROOT / "data/corpus/test.jsonl", base / "test.jsonl", 60),
        "models": base / "models",
    }
    for _ in range(2):
        result = runner.invoke(
            app,
            [
                "train",
                "--backend",
                "linear",
                "--data",
                str(paths["train"]),
                "--dev",
                str(paths["dev"]),
                "--models-dir",
                str(paths["models"]),
            ],
        )
        assert result.exit_code == 0, result.output
    return paths


def test_train_writes_numbered_versions_with_data_hashes(workspace: dict[str, Path]) -> None:
    card = json.loads((workspace["models"] / "linear" / "v2" / "card.json").read_text())
    assert card["backend"] == "linear"
    assert len(card["data"]["train"]["sha256"]) == 64
    assert card["label_counts"]["intent"]["klacht"] > 0
    assert 0.0 <= card["metrics_dev"]["complaint_f1"] <= 1.0


def test_models_list_show_and_promote(workspace: dict[str, Path]) -> None:
    models = ["--models-dir", str(workspace["models"])]
    promoted = runner.invoke(app, ["models", "promote", "linear", "v1", *models])
    assert promoted.exit_code == 0 and "promoted linear v1" in promoted.output
    listed = runner.invoke(app, ["models", "list", *models])
    assert "v1" in listed.output and "v2" in listed.output
    shown = json.loads(runner.invoke(app, ["models", "show", "linear", *models]).output)
    assert shown["version"] == "v1" and shown["promoted"] is True


def test_promoting_a_missing_version_is_a_clear_error(workspace: dict[str, Path]) -> None:
    result = runner.invoke(
        app, ["models", "promote", "linear", "v99", "--models-dir", str(workspace["models"])]
    )
    assert result.exit_code != 0


def test_evaluate_json_has_per_class_metrics_confusion_and_ece(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            "linear@v2",
            "--data",
            str(workspace["test"]),
            "--json",
            "--no-external",
            "--report",
            str(report),
            "--models-dir",
            str(workspace["models"]),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.splitlines()[0])
    assert set(metrics["intent"]["per_class"]) == {"klacht", "vraag", "compliment", "overig"}
    assert len(metrics["sentiment"]["confusion"]["matrix"]) == 3
    assert 0.0 <= metrics["intent"]["ece"] <= 1.0
    assert "complaint_f1" in metrics["summary"]
    assert report.is_file() and "<table>" in report.read_text()


def test_evaluate_compare_puts_two_models_side_by_side(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            "linear@v1",
            "--compare",
            "lexicon",
            "--data",
            str(workspace["test"]),
            "--json",
            "--no-external",
            "--report",
            str(tmp_path / "r.html"),
            "--models-dir",
            str(workspace["models"]),
        ],
    )
    assert result.exit_code == 0, result.output
    both = json.loads(result.stdout.splitlines()[0])
    assert [m["model"] for m in both["models"]] == ["linear@v1", "lexicon@1.1.0"]
    paired = both["comparison"]
    for delta in paired["deltas"]:
        low, high = delta["ci95"]
        assert low <= delta["difference"] <= high, delta
    assert delta["difference"] == pytest.approx(delta["second"] - delta["first"])
    mcnemar = paired["complaint_mcnemar"]
    assert 0.0 <= mcnemar["p_value"] <= 1.0
    flipped = paired["flipped"]
    assert len(flipped["became_complaint"]) + len(flipped["stopped_being_complaint"]) == (
        mcnemar["only_first_right"] + mcnemar["only_second_right"]
    ), "a verdict flips exactly where one model alone is right"
    html_report = (tmp_path / "r.html").read_text()
    assert "95%-interval (bootstrap)" in html_report and "McNemar" in html_report


def test_evaluate_skips_external_data_with_a_clear_message_when_absent(
    workspace: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(tmp_path / "nowhere.jsonl"))
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            "lexicon",
            "--data",
            str(workspace["test"]),
            "--json",
            "--report",
            str(tmp_path / "r.html"),
            "--models-dir",
            str(workspace["models"]),
        ],
    )
    payload = json.loads(result.stdout.splitlines()[0])
    assert set(payload["external"]) == {"political_tweets", "bol_reviews"}
    assert all("not found" in s["skipped"] for s in payload["external"].values())


def _real_text_folder(folder: Path) -> Path:
    """Tiny stand-ins for the shared real-text sets, in their exact formats."""
    folder.mkdir(parents=True, exist_ok=True)
    tweets = [
        ("Wat een prachtige dag, dank aan alle vrijwilligers!", "positief"),
        ("Dit kabinet laat de boeren keihard vallen. Schandalig.", "negatief"),
        ("Morgen debat over de begroting om 10.00 uur.", "neutraal"),
    ]
    reviews = [
        ("Prachtig boek, in één ruk uitgelezen. Aanrader!", "positief"),
        ("Saai en langdradig, na 50 bladzijden weggelegd. Zonde van het geld.", "negatief"),
    ]
    for name, rows in (
        ("nl_political_tweets_polarity_test.jsonl", tweets),
        ("nl_bol_book_reviews_polarity.jsonl", reviews),
    ):
        lines = [
            json.dumps({"id": str(i), "text": t, "sentiment": s}) for i, (t, s) in enumerate(rows)
        ]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_the_suite_scores_every_model_on_the_test_split_and_each_real_text_set_and_fills_the_cards(
    workspace: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(_real_text_folder(tmp_path / "ext")))
    models = ["--models-dir", str(workspace["models"])]
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--suite",
            "--update-cards",
            "--json",
            "--data",
            str(workspace["test"]),
            *models,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["model"].split("@")[0] for r in rows] == ["lexicon", "linear"]
    for row in rows:
        assert 0.0 <= row["political_tweets"] <= 1.0
        assert row["bol_reviews"] in (0.0, 0.5, 1.0), "accuracy over two reviews"
        assert row["skipped"] == {}
    promoted = runner.invoke(app, ["models", "show", "linear", *models]).output
    card = json.loads(
        (workspace["models"] / "linear" / json.loads(promoted)["version"] / "card.json").read_text()
    )
    assert card["evaluation"]["political_tweets"] == rows[1]["political_tweets"]
    listed = runner.invoke(app, ["models", "list", *models], env={"COLUMNS": "250"})
    assert "real tweets sent. F1" in listed.output
    assert f"{rows[1]['political_tweets']:.3f}" in listed.output


def test_the_suite_with_a_model_scores_only_that_version_and_fills_its_card(
    workspace: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new version is scored before it is promoted: ``--suite --model NAME@VERSION``."""
    monkeypatch.setenv("KLACHTRADAR_EXTERNAL_DATA", str(_real_text_folder(tmp_path / "ext")))
    models = ["--models-dir", str(workspace["models"])]
    version = json.loads(runner.invoke(app, ["models", "show", "linear", *models]).output)[
        "version"
    ]
    result = runner.invoke(
        app,
        ["evaluate", "--suite", "--model", f"linear@{version}", "--update-cards", "--json",
         "--data", str(workspace["test"]), *models],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["model"] for r in rows] == [f"linear@{version}"]
    card = json.loads((workspace["models"] / "linear" / version / "card.json").read_text())
    assert card["evaluation"]["political_tweets"] == rows[0]["political_tweets"]


def test_classify_writes_one_json_line_per_post_and_reports_bad_lines(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        '{"id": "1", "text": "Al weken geen internet @Ziggo, ik stap over!"}\n'
        "not json\n"
        '{"id": "2", "text": ""}\n'
        '{"post_id": "3", "text": "https://t.co/x", "source": "x"}\n'
        '{"id": "4"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "classify",
            str(posts),
            "--model",
            "linear@v2",
            "--models-dir",
            str(workspace["models"]),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["id"] for line in lines] == ["1", "2", "3"]
    first = lines[0]
    assert first["model"] == "linear" and first["version"] == "v2"
    assert set(first) >= {"sentiment", "intent", "cues", "intent_proba", "sentiment_proba"}
    assert "posts.jsonl:2: skipped" in result.stderr
    assert "posts.jsonl:5: skipped" in result.stderr


def test_classify_explain_names_the_ngrams_that_decided(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    posts = tmp_path / "posts.jsonl"
    posts.write_text('{"id": "1", "text": "Al weken geen internet, belachelijk"}\n')
    result = runner.invoke(
        app,
        [
            "classify",
            str(posts),
            "--explain",
            "--model",
            "linear@v2",
            "--models-dir",
            str(workspace["models"]),
        ],
    )
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert any(e.startswith(line["intent"] + ": ") for e in line["evidence"])


def test_train_takes_several_files_and_a_later_label_of_the_same_post_wins(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    from classify.training import read_training_files

    first = _subset(ROOT / "data/corpus/train.jsonl", tmp_path / "a.jsonl", 120)
    original = json.loads(first.read_text(encoding="utf-8").splitlines()[0])
    relabel = {**original, "intent": "overig", "sentiment": "neutraal"}
    fresh = {"id": "x1", "text": "Geachte heer, mevrouw, mijn pakket is nooit bezorgd.",
             "sentiment": "negatief", "intent": "klacht", "cues": []}  # fmt: skip
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps(relabel) + "\n" + json.dumps(fresh) + "\n", encoding="utf-8")
    records, replaced = read_training_files([first, second])
    assert replaced == 1 and len(records) == 121
    kept = next(r for r in records if r.id == original["id"])
    assert kept.intent.value == "overig", "the later file's label wins"
    models = tmp_path / "models"
    result = runner.invoke(
        app,
        ["train", "--data", str(first), "--data", str(second), "--dev", str(workspace["dev"]),
         "--models-dir", str(models)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads((models / "linear" / "v1" / "card.json").read_text())
    assert [f["path"] for f in card["data"]["train"]["files"]] == [str(first), str(second)]
    assert card["data"]["train"]["relabelled"] == 1 and len(card["data"]["train"]["sha256"]) == 64


def test_evaluating_a_model_on_its_own_training_data_warns_with_the_count_and_strict_refuses(
    workspace: dict[str, Path], tmp_path: Path
) -> None:
    models = ["--models-dir", str(workspace["models"])]
    base = ["evaluate", "--model", "linear@v1", "--no-external", "--json",
            "--report", str(tmp_path / "r.html"), *models]  # fmt: skip
    own = runner.invoke(app, [*base, "--data", str(workspace["train"])])
    assert own.exit_code == 0, own.output
    payload = json.loads(own.stdout.splitlines()[0])
    overlap = payload["training_overlap"]
    assert overlap["posts"] == overlap["of"] > 0
    assert f"WARNING: {overlap['posts']} of {overlap['of']} evaluation posts" in own.stderr
    clean = runner.invoke(app, [*base, "--data", str(workspace["test"])])
    assert "WARNING" not in clean.stderr
    assert json.loads(clean.stdout.splitlines()[0])["training_overlap"]["posts"] == 0
    refused = runner.invoke(app, [*base, "--data", str(workspace["train"]), "--strict"])
    assert refused.exit_code == 2 and "refused by --strict" in refused.stderr
