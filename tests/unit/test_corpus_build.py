"""``make corpus`` (scripts/build_corpus.py): a post keeps its split forever.

The shipped models were trained on ``train.jsonl`` and scored on ``test.jsonl``; a
rebuild that moved a test post into train would make every later score a score on
training data (issue 22). These tests rebuild a copy of the corpus in a temp folder.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("data/corpus/train.jsonl", "data/corpus/dev.jsonl", "data/corpus/test.jsonl")
DEMO = "data/demo/stream.jsonl"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "scripts/build_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy(tmp_path: Path) -> Path:
    """A project folder holding a copy of the corpus and the demo stream."""
    (tmp_path / "data").mkdir(parents=True)
    shutil.copytree(ROOT / "data" / "corpus", tmp_path / "data" / "corpus")
    shutil.copytree(ROOT / "data" / "demo", tmp_path / "data" / "demo")
    return tmp_path


def _splits(root: Path) -> dict[str, dict[str, str]]:
    """``{split: {id: text}}`` of a build."""
    result: dict[str, dict[str, str]] = {}
    for name in ("train", "dev", "test"):
        lines = (root / "data" / "corpus" / f"{name}.jsonl").read_text(encoding="utf-8")
        rows = [json.loads(line) for line in lines.splitlines()]
        result[name] = {row["id"]: row["text"] for row in rows}
    return result


def _new_part(existing: dict[str, dict[str, str]], count: int) -> list[dict[str, object]]:
    """``count`` new posts, plus relabelled copies of one test and one dev post."""
    records: list[dict[str, object]] = [
        {
            "text": f"@KPN dag {n}: al weer geen internet in Utrecht-{n}, wanneer is dit opgelost?",
            "sentiment": "negatief",
            "intent": "klacht" if n % 3 else "vraag",
            "cues": [],
            "brand": "KPN",
        }
        for n in range(count)
    ]
    for split in ("test", "dev"):
        text = next(iter(existing[split].values()))
        records.append(
            {"text": text, "sentiment": "neutraal", "intent": "overig", "cues": [], "brand": None}
        )
    return records


def test_an_unchanged_checkout_rebuilds_byte_identical(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _script().main(["--root", str(root)])
    for name in (*GENERATED, DEMO):
        assert (root / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_a_new_parts_file_moves_no_existing_post_and_leaves_the_demo_alone(
    tmp_path: Path,
) -> None:
    root = _copy(tmp_path)
    before = _splits(root)
    part = _new_part(before, 400)
    (root / "data/corpus/parts/65_mine.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8"
    )

    _script().main(["--root", str(root)])
    after = _splits(root)

    for name in ("train", "dev", "test"):
        assert before[name].keys() <= after[name].keys(), f"a {name} post left {name}"
    new_in_train = after["train"].keys() - before["train"].keys()
    old_eval_texts = {
        " ".join(t.lower().split()) for s in ("dev", "test") for t in before[s].values()
    }
    assert not {
        i for i in new_in_train if " ".join(after["train"][i].lower().split()) in old_eval_texts
    }
    # the relabelled copies of a test and a dev post follow their original by text
    test_copy, dev_copy = part[-2]["text"], part[-1]["text"]
    assert sum(t == test_copy for t in after["test"].values()) == 2
    assert sum(t == dev_copy for t in after["dev"].values()) == 2
    added = {n: len(after[n]) - len(before[n]) for n in after}
    assert sum(added.values()) == 402
    assert 0.08 < added["test"] / 402 < 0.22 and 0.08 < added["dev"] / 402 < 0.22
    assert (root / DEMO).read_bytes() == (ROOT / DEMO).read_bytes()


def test_new_posts_are_split_by_their_id_whatever_else_is_added(tmp_path: Path) -> None:
    one, two = _copy(tmp_path / "one"), _copy(tmp_path / "two")
    part = _new_part(_splits(one), 60)
    (one / "data/corpus/parts/65_mine.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part[:60]), encoding="utf-8"
    )
    (two / "data/corpus/parts/64_other.jsonl").write_text(
        json.dumps(
            {
                "id": "extra-1",
                "text": "NS weer te laat",
                "sentiment": "negatief",
                "intent": "klacht",
                "cues": [],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    (two / "data/corpus/parts/65_mine.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reversed(part[:60])),
        encoding="utf-8",
    )
    script = _script()
    script.main(["--root", str(one)])
    script.main(["--root", str(two)])
    first, second = _splits(one), _splits(two)
    for name in ("train", "dev", "test"):
        assert first[name].keys() <= second[name].keys()
    script.main(["--root", str(one)])  # a second build of the same parts changes nothing
    assert _splits(one) == first


def test_a_partial_previous_split_stops_the_build(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "data/corpus/dev.jsonl").unlink()
    with pytest.raises(SystemExit, match=r"dev\.jsonl missing"):
        _script().main(["--root", str(root)])
    assert (root / "data/corpus/test.jsonl").read_bytes() == (ROOT / GENERATED[2]).read_bytes()


def test_a_bad_parts_line_is_refused_naming_file_line_and_field(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    good = {"text": "NS weer te laat", "sentiment": "negatief", "intent": "klacht", "cues": []}
    bad = {"text": "KPN kapot", "sentiment": "negatief", "cues": []}
    (root / "data/corpus/parts/80_mine.jsonl").write_text(
        json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8"
    )
    with pytest.raises(SystemExit, match=r"80_mine\.jsonl:2: .*'intent'"):
        _script().main(["--root", str(root)])
    for name in (*GENERATED, DEMO):
        assert (root / name).read_bytes() == (ROOT / name).read_bytes(), "nothing written"
