"""The evaluation suite: every served model on the corpus test split *and* on real text.

One table answers the question a data scientist and a webcare lead both ask — which
model holds on real Dutch? — with, per model: complaint F1 and sentiment / intent
macro-F1 on the hand-written test split, then the headline metric of each real-text
set (:mod:`classify.external`), then speed. ``klachtradar evaluate --suite`` prints it;
``--update-cards`` writes each model's row into its card (``card.json`` key
``evaluation``, and a section of ``MODEL_CARD.md``), where ``models list`` shows it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classify.base import TextClassifier
from classify.corpus import LabelledPost
from classify.evaluation import evaluate
from classify.external import EXTERNAL_SETS, evaluate_external, headline
from classify.model_store import (
    CARD,
    EVALUATION_HEADING,
    ModelStore,
    card_markdown,
    evaluation_lines,
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("complaint_f1", "corpus complaint F1"),
    ("sentiment_macro_f1", "corpus sentiment F1"),
    ("intent_macro_f1", "corpus intent F1"),
    *((spec.name, spec.title) for spec in EXTERNAL_SETS),
    ("posts_per_second", "posts/s"),
)
"""The suite's columns: key in a row, header people read."""


@dataclass
class SuiteRow:
    """One model's numbers; ``None`` where a set was skipped."""

    model: str
    values: dict[str, float | None]
    skipped: dict[str, str] = field(default_factory=dict)
    data: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.values,
            "skipped": self.skipped,
        }


def suite_row(classifier: TextClassifier, records: Sequence[LabelledPost], data: str) -> SuiteRow:
    """Score one classifier on the test split and every real-text set present."""
    report = evaluate(classifier, records, data_name=data)
    external = evaluate_external(classifier)
    values: dict[str, float | None] = {
        "complaint_f1": report.complaint["f1"],
        "sentiment_macro_f1": report.sentiment.macro_f1,
        "intent_macro_f1": report.intent.macro_f1,
        "posts_per_second": report.posts_per_second,
    }
    skipped: dict[str, str] = {}
    for spec in EXTERNAL_SETS:
        values[spec.name] = headline(external[spec.name], spec)
        if "skipped" in external[spec.name]:
            skipped[spec.name] = str(external[spec.name]["skipped"])
    return SuiteRow(report.model, values, skipped, data)


def markdown_table(rows: Sequence[SuiteRow]) -> str:
    """The suite as a Markdown table (README, model cards)."""
    head = "| model | " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|---" * (len(COLUMNS) + 1) + "|"
    body = [
        f"| {row.model} | " + " | ".join(_cell(row.values.get(key)) for key, _ in COLUMNS) + " |"
        for row in rows
    ]
    return "\n".join([head, rule, *body])


def write_to_card(store: ModelStore, name: str, version: str, row: SuiteRow) -> Path:
    """Put ``row`` into the card of ``name``/``version`` (JSON and Markdown)."""
    model = store.get(name, version)
    card = dict(model.card)
    card["evaluation"] = row.as_dict()
    (model.path / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    people = model.path / "MODEL_CARD.md"
    old = people.read_text(encoding="utf-8") if people.is_file() else card_markdown(card)
    people.write_text(with_evaluation_section(old, card), encoding="utf-8")
    return model.path / CARD


def with_evaluation_section(markdown: str, card: dict[str, Any]) -> str:
    """``markdown`` with its evaluation section replaced (or added before Parameters).

    Everything else in the card is kept as it is: people add notes and comparisons.
    """
    section = "\n".join(evaluation_lines(card.get("evaluation"))).strip("\n") + "\n"
    lines = markdown.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith(EVALUATION_HEADING)), None)
    if start is not None:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        return "".join(lines[:start]) + section + "\n" + "".join(lines[end:])
    at = next((i for i, line in enumerate(lines) if line.startswith("## Parameters")), len(lines))
    return "".join(lines[:at]) + section + "\n" + "".join(lines[at:])


def _cell(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value > 100 else f"{value:.3f}"
