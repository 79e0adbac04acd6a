"""Backend selection by name, as the settings say (``[pipeline] classifier``).

Accepted names:

* ``lexicon`` — the rule backend, no artefact;
* ``NAME`` — the promoted version of ``models/NAME/``, swapped live on promotion;
* ``NAME@VERSION`` — exactly that version, never swapped.

If a learned model cannot run because its optional libraries are missing (a minimal
install), the pipeline falls back to the lexicon and says so in the log, instead of
refusing to start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from classify.base import TextClassifier
from klachtradar.settings import Settings

log = logging.getLogger(__name__)


def load_classifier(
    name: str,
    *,
    models_dir: Path | None = None,
    check_seconds: float = 1.0,
    int8: bool = False,
) -> TextClassifier:
    """The classifier called ``name``; unknown names raise :class:`ConfigError`."""
    if name == "lexicon":
        from classify.lexicon import LexiconClassifier

        return LexiconClassifier()
    from classify.hot_swap import PromotedClassifier
    from classify.model_store import ModelStore, load_version

    store = ModelStore(models_dir or _default_models_dir())
    model_name, _, version = name.partition("@")
    if not store.versions(model_name):
        raise store.unknown(model_name, also=("lexicon",))
    try:
        if version:
            return load_version(store.get(model_name, version), int8=int8)
        return PromotedClassifier(store, model_name, check_seconds=check_seconds, int8=int8)
    except ImportError as exc:
        log.warning(
            "classifier %r needs an optional dependency (%s); falling back to the lexicon "
            "backend. Install klachtradar with its extras to use it.",
            name,
            exc,
        )
        from classify.lexicon import LexiconClassifier

        return LexiconClassifier()


def _default_models_dir() -> Path:
    from klachtradar.settings import project_root

    return project_root() / "models"


def configured_classifier(settings: Settings) -> TextClassifier:
    """The classifier ``[pipeline] classifier`` names, with the ``[classify]`` options."""
    return load_classifier(
        settings.pipeline.classifier,
        models_dir=settings.resolve(settings.classify.models_dir),
        check_seconds=settings.classify.reload_check_seconds,
        int8=settings.classify.transformer_int8,
    )


def served_model(settings: Settings) -> str:
    """``name@version`` of the model the pipeline serves now, without loading it.

    The same resolution as :func:`configured_classifier`: ``lexicon``; ``NAME@VERSION``
    as pinned; ``NAME`` → the version ``models/NAME/PROMOTED`` names (else the newest),
    which is what :class:`~classify.hot_swap.PromotedClassifier` swaps to. Cheap (one
    small file read), so a page can ask on every render. ``NAME@?`` when the registry
    has no such model.
    """
    spec = settings.pipeline.classifier
    if spec == "lexicon":
        from classify.lexicon import LexiconClassifier

        return f"{LexiconClassifier.name}@{LexiconClassifier.version}"
    from classify.model_store import ModelStore

    name, _, pinned = spec.partition("@")
    if pinned:
        return spec
    store = ModelStore(settings.resolve(settings.classify.models_dir))
    versions = store.versions(name)
    return f"{name}@{store.promoted(name) or (versions[-1] if versions else '?')}"
