"""The model registry on disk: ``models/<name>/<version>/`` plus a promotion pointer.

Layout::

    models/
      linear/
        PROMOTED            ← one line: the version the pipeline uses
        v1/
          card.json         ← machine-readable model card (backend, data hashes, metrics …)
          MODEL_CARD.md     ← the same for people
          labels.json       ← the label map
          model.skops       ← the artefact (or hf/ for the transformer backend)

A version directory is written completely under a temporary name and then renamed,
so a reader never sees half a model. Promotion rewrites ``PROMOTED`` atomically the
same way; :class:`classify.hot_swap.PromotedClassifier` notices and swaps.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classify.base import TextClassifier
from classify.corpus import CUES, INTENTS, SENTIMENTS
from klachtradar.errors import ConfigError, did_you_mean

POINTER = "PROMOTED"
CARD = "card.json"
POST_CLASSIFIER_BACKENDS = frozenset({"linear", "embedding", "transformer", "e5"})
"""The backends :func:`load_version` builds a post classifier from."""
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ModelVersion:
    """One stored version and its card."""

    name: str
    version: str
    path: Path
    card: dict[str, Any]

    @property
    def backend(self) -> str:
        return str(self.card.get("backend", "?"))

    @property
    def is_post_classifier(self) -> bool:
        """Whether it labels posts (sentiment, intent, cues), as :func:`load_version`
        serves; the store also holds other models, e.g. the brand-reply tone model."""
        return self.backend in POST_CLASSIFIER_BACKENDS


class ModelStore:
    """Versions of named models under one root folder (``models/`` by default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def classifier_names(self) -> list[str]:
        """The names whose current version labels posts (see ``is_post_classifier``)."""
        return [n for n in self.names() if self.get(n).is_post_classifier]

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if (p / CARD).is_file()]
        return sorted(found, key=_version_key)

    def get(self, name: str, version: str | None = None) -> ModelVersion:
        """A version (default: the promoted one, else the newest)."""
        _check_name(name)
        versions = self.versions(name)
        if not versions:
            raise self.unknown(name)
        chosen = version or self.promoted(name) or versions[-1]
        if chosen not in versions:
            raise ConfigError(f"model {name!r} has no version {chosen!r} (have: {versions})")
        path = self.root / name / chosen
        card = json.loads((path / CARD).read_text(encoding="utf-8"))
        return ModelVersion(name=name, version=chosen, path=path, card=card)

    def unknown(self, name: str, *, also: tuple[str, ...] = ()) -> ConfigError:
        """The error for a model name this registry lacks: what there is, and the closest.

        ``also`` names models that live outside the registry (``lexicon``), so a typo of
        those is caught too.
        """
        available = [*also, *self.names()]
        return ConfigError(
            f"no model {name!r} under {self.root}{did_you_mean(name, available)}; "
            f"available: {', '.join(available) or 'none'}"
        )

    def promoted(self, name: str) -> str | None:
        pointer = self.root / name / POINTER
        if not pointer.is_file():
            return None
        return pointer.read_text(encoding="utf-8").strip() or None

    def pointer_stamp(self, name: str) -> tuple[int, str | None]:
        """A cheap change detector for the pointer: (mtime in ns, content)."""
        pointer = self.root / name / POINTER
        try:
            return pointer.stat().st_mtime_ns, pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return 0, None

    def promote(self, name: str, version: str) -> ModelVersion:
        """Make ``version`` the one the pipeline uses (atomic pointer swap)."""
        model = self.get(name, version)
        _atomic_write(self.root / name / POINTER, version + "\n")
        return model

    def next_version(self, name: str) -> str:
        numbers = [int(v[1:]) for v in self.versions(name) if re.fullmatch(r"v\d+", v)]
        return f"v{max(numbers, default=0) + 1}"

    def staging_dir(self, name: str, version: str) -> Path:
        """Where a new version is written before :meth:`commit` makes it visible."""
        _check_name(name)
        staging = self.root / name / f".{version}.partial"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        return staging

    def commit(self, staging: Path, name: str, version: str, card: dict[str, Any]) -> ModelVersion:
        """Write the card and label map into ``staging`` and rename it into place."""
        (staging / "labels.json").write_text(json.dumps(label_map(), indent=2) + "\n")
        (staging / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        (staging / "MODEL_CARD.md").write_text(card_markdown(card), encoding="utf-8")
        target = self.root / name / version
        if target.exists():
            raise ConfigError(f"{target} already exists")
        staging.rename(target)
        return self.get(name, version)


def load_version(model: ModelVersion, *, precision: str = "fp32") -> TextClassifier:
    """Instantiate the backend a stored version was trained with.

    ``precision`` (:mod:`classify.precision`: ``fp32``, ``bf16``, ``int8`` or ``auto``)
    applies to the transformer and e5 backends; the other backends ignore it.
    """
    backend = model.backend
    if backend == "linear":
        from classify.linear import LinearClassifier

        return LinearClassifier.load(model.path, name=model.name, version=model.version)
    if backend == "embedding":
        from classify.embedding import EmbeddingClassifier

        return EmbeddingClassifier.load(model.path, name=model.name, version=model.version)
    if backend == "transformer":
        from classify.transformer import TransformerClassifier

        return TransformerClassifier.load(
            model.path, name=model.name, version=model.version, precision=precision
        )
    if backend == "e5":
        from classify.e5_classifier import E5Classifier

        return E5Classifier.load(model.path, cache_dir=e5_cache_dir(), precision=precision)
    raise ConfigError(f"{model.path}: unknown backend {backend!r} in {CARD}")


def e5_cache_dir() -> Path:
    """The converted e5 base (``[classify] e5_cache``, relative to the project root)."""
    from klachtradar.settings import load_settings

    settings = load_settings()
    return settings.resolve(settings.classify.e5_cache)


def label_map() -> dict[str, list[str]]:
    """Label order of every task, as the artefacts index them."""
    return {
        "sentiment": [s.value for s in SENTIMENTS],
        "intent": [i.value for i in INTENTS],
        "cues": [c.value for c in CUES],
    }


def card_markdown(card: dict[str, Any]) -> str:
    """A short human-readable model card."""
    lines = [
        f"# {card.get('name')} {card.get('version')}",
        "",
        f"- backend: `{card.get('backend')}`",
        f"- trained: {card.get('created_at')}",
        f"- language: {card.get('language', 'nl')}",
        "",
        "## Data",
    ]
    for role, info in card.get("data", {}).items():
        lines.append(
            f"- {role}: `{info.get('path')}` sha256 `{info.get('sha256', '')[:16]}…`, "
            f"{info.get('records')} records"
        )
    lines += [
        "",
        "## Label counts (train)",
        "",
        "```",
        json.dumps(card.get("label_counts", {}), indent=2, ensure_ascii=False),
        "```",
        "",
        "## Metrics on dev",
        "",
    ]
    for key, value in card.get("metrics_dev", {}).items():
        lines.append(f"- {key}: {value:.3f}" if isinstance(value, float) else f"- {key}: {value}")
    lines += evaluation_lines(card.get("evaluation"))
    lines += ["", "## Parameters", "", "```", json.dumps(card.get("params", {}), indent=2), "```"]
    return "\n".join(lines) + "\n"


EVALUATION_TITLES = {
    "complaint_f1": "corpus test split: complaint F1",
    "sentiment_macro_f1": "corpus test split: sentiment macro-F1",
    "intent_macro_f1": "corpus test split: intent macro-F1",
    "political_tweets": "real political tweets (198): sentiment macro-F1",
    "bol_reviews": "real bol.com reviews (3,000): polarity accuracy",
    "posts_per_second": "posts/s",
}


EVALUATION_HEADING = "## Evaluation: hand-written test split and real Dutch text"


def evaluation_lines(evaluation: Any) -> list[str]:
    """The suite's row for this model (``klachtradar evaluate --suite --update-cards``)."""
    if not isinstance(evaluation, dict):
        return []
    lines = ["", EVALUATION_HEADING, ""]
    lines.append(f"{evaluation.get('evaluated_at', '')}, on `{evaluation.get('data', '')}`:")
    lines.append("")
    for key, title in EVALUATION_TITLES.items():
        value = evaluation.get(key)
        shown = "skipped" if value is None else f"{value:.3f}" if value <= 100 else f"{value:,.0f}"
        lines.append(f"- {title}: {shown}")
    return lines


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"invalid model name {name!r}: lower-case letters, digits, . _ -")


def _version_key(version: str) -> tuple[int, str]:
    match = re.fullmatch(r"v(\d+)", version)
    return (int(match.group(1)), "") if match else (1 << 30, version)


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
