"""Labelled posts for training and evaluation (the LABELS.md record format).

Only Dutch records train and judge the Dutch models: a record whose ``lang`` is set
and is not ``nl`` is kept apart (:func:`split_by_language`) so it can be reported on
its own instead of silently bending the Dutch numbers.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from klachtradar.contract import Cue, Intent, Sentiment
from klachtradar.errors import ContractError, SourceError

SENTIMENTS: tuple[Sentiment, ...] = tuple(Sentiment)
INTENTS: tuple[Intent, ...] = tuple(Intent)
CUES: tuple[Cue, ...] = tuple(Cue)


@dataclass(frozen=True, slots=True)
class LabelledPost:
    """One gold record: the text and what a human said about it."""

    id: str
    text: str
    sentiment: Sentiment
    intent: Intent
    cues: frozenset[Cue] = field(default_factory=frozenset)
    lang: str | None = None


def read_labelled(path: Path) -> list[LabelledPost]:
    """Read a labelled JSONL file; a bad line raises :class:`ContractError` naming it."""
    if not path.is_file():
        raise SourceError(f"{path}: no such labelled data file")
    records: list[LabelledPost] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                records.append(
                    LabelledPost(
                        id=str(raw.get("id", f"{path.name}:{number}")),
                        text=str(raw["text"]),
                        sentiment=Sentiment(raw["sentiment"]),
                        intent=Intent(raw["intent"]),
                        cues=frozenset(Cue(c) for c in raw.get("cues") or []),
                        lang=raw.get("lang"),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ContractError(f"{path}:{number}: not a labelled record ({exc})") from exc
    return records


def split_by_language(
    records: Sequence[LabelledPost], language: str = "nl"
) -> tuple[list[LabelledPost], list[LabelledPost]]:
    """``(in_language, others)``; records without a ``lang`` count as ``language``."""
    inside = [r for r in records if r.lang in (None, language)]
    others = [r for r in records if r.lang not in (None, language)]
    return inside, others


def file_sha256(path: Path) -> str:
    """Hex digest of a data file, for the model card."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def label_counts(records: Sequence[LabelledPost]) -> dict[str, dict[str, int]]:
    """Counts per task and label, for the model card."""
    return {
        "sentiment": dict(Counter(r.sentiment.value for r in records)),
        "intent": dict(Counter(r.intent.value for r in records)),
        "cues": dict(Counter(c.value for r in records for c in r.cues)),
    }
