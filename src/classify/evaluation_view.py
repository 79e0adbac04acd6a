"""Terminal rendering of evaluation reports (rich tables), side by side when compared."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from classify.comparison import Comparison
from classify.evaluation import EvaluationReport, TaskReport
from classify.external import EXTERNAL_SETS, headline


def print_reports(
    reports: Sequence[EvaluationReport],
    externals: Sequence[dict[str, Any]] = (),
    *,
    excluded: int = 0,
    console: Console | None = None,
) -> None:
    """Headline table for all models, then per-task details for each."""
    console = console or Console()
    head = Table(
        title=f"{reports[0].data} — {reports[0].n} Dutch posts"
        + (f" ({excluded} other-language records excluded)" if excluded else "")
    )
    head.add_column("metric")
    for report in reports:
        head.add_column(report.model, justify="right")
    rows: list[tuple[str, Callable[[EvaluationReport], float]]] = [
        ("complaint F1 (klacht vs rest)", lambda r: r.complaint["f1"]),
        ("sentiment macro-F1", lambda r: r.sentiment.macro_f1),
        ("intent macro-F1", lambda r: r.intent.macro_f1),
        ("sentiment ECE", lambda r: r.sentiment.ece),
        ("intent ECE", lambda r: r.intent.ece),
        ("posts/s", lambda r: r.posts_per_second),
    ]
    for label, get in rows:
        head.add_row(label, *(_fmt(get(r)) for r in reports))
    for cue in reports[0].cues:
        head.add_row(f"cue {cue} F1", *(_fmt(r.cues[cue]["f1"]) for r in reports))
    for spec in EXTERNAL_SETS if externals else ():
        head.add_row(spec.title, *(_fmt(headline(e.get(spec.name, {}), spec)) for e in externals))
    console.print(head)
    for spec in EXTERNAL_SETS if externals else ():
        skipped = externals[0].get(spec.name, {}).get("skipped")
        if skipped:
            console.print(f"[yellow]real-text set {spec.name} skipped:[/yellow] {skipped}")
    for report in reports:
        for name, task in (("sentiment", report.sentiment), ("intent", report.intent)):
            console.print(_task_table(f"{report.model} — {name}", task))
            console.print(_confusion_table(task))


def _task_table(title: str, task: TaskReport) -> Table:
    table = Table(title=title)
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for i, label in enumerate(task.labels):
        table.add_row(
            label,
            _fmt(task.precision[i]),
            _fmt(task.recall[i]),
            _fmt(task.f1[i]),
            str(task.support[i]),
        )
    table.add_row("macro", "", "", _fmt(task.macro_f1), str(sum(task.support)))
    if task.macro_excluded:
        table.caption = (
            f"macro-F1 leaves out {', '.join(task.macro_excluded)}: "
            "not in the gold labels and never predicted"
        )
    return table


def _confusion_table(task: TaskReport) -> Table:
    table = Table(title="confusion (rows gold, columns predicted)")
    table.add_column("gold \\ pred")
    for label in task.labels:
        table.add_column(label, justify="right")
    for label, row in zip(task.labels, task.confusion, strict=True):
        table.add_row(label, *(str(v) for v in row))
    return table


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value > 100 else f"{value:.3f}"
    return "—" if value is None else str(value)


def print_comparison(
    paired: Comparison, *, console: Console | None = None, shown: int = 10
) -> None:
    """Deltas with intervals, McNemar on complaint verdicts, and the flipped posts."""
    console = console or Console()
    table = Table(title=f"{paired.second} − {paired.first} (paired bootstrap, 95 % interval)")
    for column in ("metric", paired.first, paired.second, "difference", "95 % interval"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for d in paired.deltas:
        table.add_row(
            d.title, _fmt(d.first), _fmt(d.second), f"{d.difference:+.3f}",
            f"[{d.low:+.3f}, {d.high:+.3f}]",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"complaint verdicts, McNemar exact test: only {paired.first} right on "
        f"{paired.only_first_right} posts, only {paired.second} right on "
        f"{paired.only_second_right}; p = {paired.mcnemar_p:.3f}"
    )
    for title, posts in (
        (f"now a complaint for {paired.second}", paired.became_complaint),
        (f"no longer a complaint for {paired.second}", paired.stopped_being_complaint),
    ):
        console.print(f"{title}: {len(posts)}")
        for post in posts[:shown]:
            console.print(f"  {post.id}: {post.text[:100]}", markup=False, highlight=False)
