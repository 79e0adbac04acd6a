"""Backend selection by name, as the settings say (``[pipeline] classifier``)."""

from __future__ import annotations

from classify.base import TextClassifier
from klachtradar.errors import ConfigError


def load_classifier(name: str) -> TextClassifier:
    """The classifier backend called ``name``; unknown names raise :class:`ConfigError`."""
    if name == "lexicon":
        from classify.lexicon import LexiconClassifier

        return LexiconClassifier()
    raise ConfigError(f"unknown classifier backend {name!r} (available: lexicon)")
