"""The trigger-indexed rule matcher answers exactly like the plain regex alternations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from classify import lexicon_nl as lx
from classify.triggered_rules import Trigger, TriggeredRules, trigger_of

ROOT = Path(__file__).resolve().parents[2]

TRICKY = [
    "",
    "🙄",
    "ik ben weg",
    "IK BEN WEG!!",
    "ikbenweg",
    "rtlnieuws belt me",
    "rtl nieuws",
    "al 3 dagen",
    "al3 dagen",
    "voor de 5e keer",
    "de 12e keer",
    "12ekeer",
    "voor de zoveelste keer 🙄 lekker bezig",
    "lekkerbezig",
    "week 3 zonder internet",
    "dak-en thuisloos",
    "dak- en thuisloos",
    "zeg morgen mijn contract op",
    "ad.nl schrijft",
    "mijn oma (92) zit alleen",
    "mijn oma is 92 jaar",
    "https://ad.nl/x overstappen",
    "bye",
    "goed bezig",
    "café opzeggen",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bik ben weg\b", Trigger("ben", whole_word=True)),
        (r"\boverstap\w*", Trigger("overstap", whole_word=False)),
        (r"\brtl ?nieuws\b", Trigger("nieuws", whole_word=False)),
        (r"\bbaby?\b", Trigger("bab", whole_word=False)),
        (r"\bnaar (?:de )?concurrent\w*", Trigger("naar", whole_word=True)),
        (r"\b(?:tweede|derde) keer\b", Trigger("keer", whole_word=True)),
        (r"(?<!\w)lekker\ bezig(?!\w)", Trigger("lekker", whole_word=True)),
        (r"\b(?:a|b)\b", None),
        (r"\bfoo\b|\bbar\b", None),
        (r"[abc]+", None),
    ],
)
def test_trigger_is_a_literal_every_match_contains(pattern: str, expected: Trigger | None) -> None:
    assert trigger_of(pattern) == expected


def _corpus_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "data" / "corpus" / "parts").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                texts.append(record["text"])
    return texts


def test_cue_and_sarcasm_flags_equal_the_plain_alternations_on_every_corpus_post() -> None:
    texts = _corpus_texts() + TRICKY
    assert len(texts) > 1_500
    sarcasm = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(p) for p in lx.SARCASM_MARKERS) + r")(?!\w)"
    )
    cues = {  # the plain alternations, as the lexicon compiled them before the index
        name: re.compile("|".join(f"(?:{p})" for p in patterns))
        for name, patterns in lx.CUE_PATTERNS.items()
    }
    rules = TriggeredRules(
        {
            **lx.CUE_PATTERNS,
            "sarcasm": [r"(?<!\w)" + re.escape(p) + r"(?!\w)" for p in lx.SARCASM_MARKERS],
        }
    )
    seen = 0
    for text in texts:
        clean = text[:2000].lower()
        expected = [cues[name].search(clean) is not None for name in lx.CUE_PATTERNS]
        expected.append(sarcasm.search(clean) is not None)
        assert rules.matches(clean) == expected, text
        seen += sum(expected)
    assert seen > 300  # the corpus really exercises the rules


def test_a_group_without_any_literal_is_always_searched() -> None:
    rules = TriggeredRules({"digits": [r"\b\d{3}\b"], "word": [r"\bstoring\b"]})
    assert rules.matches("code 404 bij de storing") == [True, True]
    assert rules.matches("code 4040") == [False, False]
