"""Language tagging: non-Dutch posts are recognised and kept; Dutch ones stay Dutch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from enrich import language
from enrich.language import identify, tag_languages, tagger
from klachtradar.contract import Author, RawPost

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = ["nl", "en", "de", "fr", "es", "tr", "pl", "fy"]


def _corpus() -> list[dict[str, str]]:
    return [
        json.loads(line)
        for name in ("train", "dev", "test")
        for line in (ROOT / "data" / "corpus" / f"{name}.jsonl").read_text("utf-8").splitlines()
    ]


def test_langid_tags_the_corpus_non_dutch_posts_better_than_function_words() -> None:
    pytest.importorskip("py3langid")
    langid = tagger("langid", CANDIDATES)
    foreign = [r for r in _corpus() if r["lang"] != "nl"]
    langid_right = sum(langid(r["text"]) == r["lang"] for r in foreign)
    words_right = sum(identify(r["text"]) == r["lang"] for r in foreign)
    assert len(foreign) >= 50
    assert langid_right >= words_right
    assert langid_right / len(foreign) >= 0.95


def test_langid_keeps_dutch_posts_dutch() -> None:
    pytest.importorskip("py3langid")
    langid = tagger("langid", CANDIDATES)
    dutch = [r for r in _corpus() if r["lang"] == "nl"]
    wrong = [r["text"] for r in dutch if (langid(r["text"]) or "nl") != "nl"]
    assert len(wrong) <= len(dutch) // 500, wrong


def test_a_source_language_tag_wins() -> None:
    post = RawPost(
        source="x",
        post_id="1",
        text="the train is late again",
        lang="nl",
        created_at="2026-10-01T10:00:00Z",  # type: ignore[arg-type]
        author=Author(id="1", handle="a"),
    )
    (tagged,) = tag_languages([post], backend="langid", candidates=CANDIDATES)
    assert tagged.lang == "nl"


def test_without_py3langid_the_function_word_tagger_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    monkeypatch.setattr(language, "_TAGGERS", {})
    assert tagger("langid", ["nl", "en"]) is identify
