"""Does the evaluation data overlap what a model was trained on?

A model scored on posts it was trained on looks better than it is (a reshuffled split
once made v1 "score" 0.957 against v2's 0.895). Every learned model's card names its
training files (:mod:`classify.training`); this module reads them back and counts the
evaluation posts that are in them, by post id or by normalised text, so ``evaluate``
can warn loudly (or, with ``--strict``, refuse).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classify.corpus import LabelledPost, read_labelled
from klachtradar.errors import KlachtradarError


@dataclass(frozen=True)
class Overlap:
    """Evaluation posts also found in the training data."""

    posts: int
    of: int
    unreadable: list[str] = field(default_factory=list)
    """Training files named by the card that could not be read (so not checked)."""

    @property
    def share(self) -> float:
        return self.posts / self.of if self.of else 0.0


def text_key(text: str) -> str:
    """A post's text as compared: lower case, white space folded."""
    return " ".join(text.lower().split())


def training_files(card: dict[str, Any], root: Path) -> list[Path]:
    """The training files a model card names, relative paths against ``root``."""
    train = card.get("data", {}).get("train", {})
    entries = train.get("files") or ([{"path": train["path"]}] if "path" in train else [])
    paths = [Path(str(e["path"])) for e in entries if e.get("path")]
    return [p if p.is_absolute() else root / p for p in paths]


def training_overlap(card: dict[str, Any], records: Sequence[LabelledPost], root: Path) -> Overlap:
    """How many of ``records`` the model of ``card`` was trained on."""
    ids: set[str] = set()
    texts: set[str] = set()
    unreadable: list[str] = []
    for path in training_files(card, root):
        try:
            trained = read_labelled(path)
        except KlachtradarError:
            unreadable.append(str(path))
            continue
        ids.update(r.id for r in trained)
        texts.update(text_key(r.text) for r in trained)
    seen = sum(1 for r in records if r.id in ids or text_key(r.text) in texts)
    return Overlap(posts=seen, of=len(records), unreadable=unreadable)
