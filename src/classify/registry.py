"""Backend selection by name, as the settings say (``[pipeline] classifier``).

Accepted names:

* ``lexicon`` — the rule backend, no artefact;
* ``NAME`` — the promoted version of ``models/NAME/``, swapped live on promotion;
* ``NAME@VERSION`` — exactly that version, never swapped.

If a learned model cannot run because its optional libraries are missing (a minimal
install), the pipeline falls back to ``[classify] fallback_model`` (the fast linear
model; the lexicon when that is empty or cannot load either) and says so in the log,
instead of refusing to start. The same fast model takes over under overload
(:func:`configured_cascade`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from classify.base import TextClassifier
from klachtradar.settings import Settings

if TYPE_CHECKING:
    from classify.cascade import Cascade

log = logging.getLogger(__name__)


def load_classifier(
    name: str,
    *,
    models_dir: Path | None = None,
    check_seconds: float = 1.0,
    precision: str = "fp32",
    fallback: str = "",
) -> TextClassifier:
    """The classifier called ``name``; unknown names raise :class:`ConfigError`.

    ``precision``: what the transformer backends compute in (:mod:`classify.precision`).
    ``fallback``: the model to serve instead when ``name`` needs a library that is not
    installed (else, and when that fails too, the lexicon).
    """
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
            return load_version(store.get(model_name, version), precision=precision)
        return PromotedClassifier(
            store, model_name, check_seconds=check_seconds, precision=precision
        )
    except ImportError as exc:
        instead = fallback if fallback and fallback != name else "lexicon"
        log.warning(
            "classifier %r needs an optional dependency (%s); serving %r instead. "
            "Install klachtradar with its extras to use it.",
            name,
            exc,
            instead,
        )
        return load_classifier(instead, models_dir=models_dir, check_seconds=check_seconds)


def _default_models_dir() -> Path:
    from klachtradar.settings import project_root

    return project_root() / "models"


def configured_classifier(settings: Settings) -> TextClassifier:
    """The classifier ``[pipeline] classifier`` names, with the ``[classify]`` options."""
    return load_classifier(
        settings.pipeline.classifier,
        models_dir=settings.resolve(settings.classify.models_dir),
        check_seconds=settings.classify.reload_check_seconds,
        precision=settings.classify.effective_precision,
        fallback=settings.classify.fallback_model,
    )


def cascade_fallback(settings: Settings) -> str | None:
    """The fast model's name when the overload cascade applies, else ``None``.

    It applies when a fallback is configured and differs from the served model (a
    stream served by the linear model has nothing faster to fall back to).
    """
    fast = settings.classify.fallback_model
    served = settings.pipeline.classifier.partition("@")[0]
    if not fast or fast.partition("@")[0] == served or served == "lexicon":
        return None
    return fast


def configured_cascade(settings: Settings, primary: TextClassifier) -> Cascade | None:
    """The overload cascade around ``primary`` (see :mod:`classify.cascade`), if it applies."""
    from classify.cascade import Cascade, LagGate, OverloadPolicy

    fast = cascade_fallback(settings)
    if fast is None:
        return None
    policy = OverloadPolicy(
        settings.classify.overload_lag_seconds, settings.classify.resume_lag_seconds
    )
    return Cascade(
        primary, fast_classifier(settings), LagGate(policy), split=settings.classify.overload_split
    )


def fast_classifier(settings: Settings) -> TextClassifier:
    """The fast fallback model, loaded as the registry loads any model."""
    return load_classifier(
        settings.classify.fallback_model or "lexicon",
        models_dir=settings.resolve(settings.classify.models_dir),
        check_seconds=settings.classify.reload_check_seconds,
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
