"""The HTML evaluation report: metrics, plots and the worst errors in one file.

Plots (confusion matrices, reliability diagrams, precision-recall curves for
"complaint" and "negative") are drawn with matplotlib and embedded as base64 PNGs,
so the report is one self-contained file a data scientist can attach to a ticket.
Without matplotlib the report is written anyway, with the tables and a note.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classify.comparison import Comparison
from classify.evaluation import EvaluationReport, TaskReport
from classify.external import EXTERNAL_SETS, headline


def write_html_report(
    reports: Sequence[EvaluationReport],
    path: Path,
    *,
    externals: Sequence[dict[str, Any]] = (),
    comparison: Comparison | None = None,
) -> Path:
    """Write the report for one model, or several side by side; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>",
        f"<title>klachtradar evaluatie — {html.escape(' vs '.join(r.model for r in reports))}"
        "</title><style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;"
        "padding:.25rem .5rem;text-align:right}td:first-child,th:first-child{text-align:left}"
        ".plots{display:flex;flex-wrap:wrap;gap:1rem}.err td{text-align:left}</style></head><body>",
        f"<h1>Evaluatie: {html.escape(' vs '.join(r.model for r in reports))}</h1>",
        f"<p>Data: <code>{html.escape(reports[0].data)}</code>, "
        f"{reports[0].n} Nederlandse posts.</p>",
        _summary_table(reports, externals),
        _comparison_section(comparison) if comparison is not None else "",
    ]
    plotting = _matplotlib()
    for report in reports:
        parts.append(f"<h2>{html.escape(report.model)}</h2>")
        for name, task in (("sentiment", report.sentiment), ("intent", report.intent)):
            parts.append(f"<h3>{name}</h3>{_task_table(task)}")
        if plotting is None:
            parts.append(
                "<p><em>matplotlib is not installed: no plots "
                "(pip install 'klachtradar[eval]').</em></p>"
            )
        else:
            parts.append("<div class='plots'>")
            for png in _plots(report):
                parts.append(f"<img alt='plot' src='data:image/png;base64,{png}'>")
            parts.append("</div>")
        parts.append(_errors_table(report))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _matplotlib() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _comparison_section(paired: Comparison) -> str:
    """Deltas with 95 % intervals, McNemar, and the flipped posts (both ways)."""
    rows = "".join(
        f"<tr><td>{html.escape(d.title)}</td><td>{_fmt(d.first)}</td><td>{_fmt(d.second)}</td>"
        f"<td>{d.difference:+.3f}</td><td>[{d.low:+.3f}, {d.high:+.3f}]</td></tr>"
        for d in paired.deltas
    )
    flipped = "".join(
        f"<h3>{html.escape(title)} ({len(posts)})</h3><table class='err'>"
        + "".join(
            f"<tr><td>{html.escape(p.id)}</td><td>{html.escape(p.text)}</td></tr>" for p in posts
        )
        + "</table>"
        for title, posts in (
            (f"Nu een klacht volgens {paired.second}", paired.became_complaint),
            (f"Geen klacht meer volgens {paired.second}", paired.stopped_being_complaint),
        )
    )
    first, second = html.escape(paired.first), html.escape(paired.second)
    return (
        f"<section id='comparison'><h2>{second} − {first}</h2>"
        f"<table class='deltas'><tr><th>metric</th><th>{first}</th>"
        f"<th>{second}</th><th>verschil</th><th>95%-interval (bootstrap)</th></tr>{rows}"
        f"</table><p>Klachtoordelen, McNemar (exact): alleen {first} goed bij "
        f"{paired.only_first_right} posts, alleen {second} goed bij "
        f"{paired.only_second_right}; p = {paired.mcnemar_p:.3f}.</p>"
        f"<div id='flipped'>{flipped}</div></section>"
    )


def _summary_table(reports: Sequence[EvaluationReport], externals: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(r.model)}</th>" for r in reports)
    rows = []
    keys = list(reports[0].summary())
    for key in keys:
        cells = "".join(f"<td>{_fmt(r.summary()[key])}</td>" for r in reports)
        rows.append(f"<tr><td>{key}</td>{cells}</tr>")
    for cue in reports[0].cues:
        cells = "".join(f"<td>{_fmt(r.cues[cue]['f1'])}</td>" for r in reports)
        rows.append(f"<tr><td>cue {cue} F1</td>{cells}</tr>")
    for spec in EXTERNAL_SETS if externals else ():
        values = [headline(e.get(spec.name, {}), spec) for e in externals]
        cells = "".join(f"<td>{'overgeslagen' if v is None else _fmt(v)}</td>" for v in values)
        rows.append(f"<tr><td>{html.escape(spec.title)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _task_table(task: TaskReport) -> str:
    rows = "".join(
        f"<tr><td>{label}</td><td>{_fmt(task.precision[i])}</td><td>{_fmt(task.recall[i])}</td>"
        f"<td>{_fmt(task.f1[i])}</td><td>{task.support[i]}</td></tr>"
        for i, label in enumerate(task.labels)
    )
    return (
        "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th>"
        f"</tr>{rows}<tr><td>macro</td><td></td><td></td><td>{_fmt(task.macro_f1)}</td>"
        f"<td>{sum(task.support)}</td></tr></table><p>ECE {_fmt(task.ece)}</p>"
    )


def _errors_table(report: EvaluationReport) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(e.task)}</td><td>{html.escape(e.gold)}</td>"
        f"<td>{html.escape(e.predicted)}</td><td>{e.confidence:.2f}</td>"
        f"<td>{html.escape(e.text)}</td></tr>"
        for e in report.worst_errors
    )
    return (
        "<h3>Ergste fouten (zeker en fout)</h3><table class='err'><tr><th>taak</th><th>gold</th>"
        f"<th>voorspeld</th><th>zekerheid</th><th>tekst</th></tr>{rows}</table>"
    )


def _plots(report: EvaluationReport) -> list[str]:
    plt = _matplotlib()
    pngs = []
    for name, task in (("sentiment", report.sentiment), ("intent", report.intent)):
        fig, ax = plt.subplots(figsize=(4, 3.5))
        matrix = np.asarray(task.confusion)
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(task.labels)), task.labels, rotation=45, ha="right")
        ax.set_yticks(range(len(task.labels)), task.labels)
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title(f"confusion: {name}")
        ax.set_xlabel("voorspeld")
        ax.set_ylabel("gold")
        pngs.append(_png(fig, plt))
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.plot([0, 1], [0, 1], "k:", label="perfect")
    for name, task in (("sentiment", report.sentiment), ("intent", report.intent)):
        if task.reliability:
            conf, acc, _ = zip(*task.reliability, strict=True)
            ax.plot(conf, acc, "o-", label=f"{name} (ECE {task.ece:.3f})")
    ax.set_xlabel("zekerheid")
    ax.set_ylabel("juist")
    ax.set_title("reliability")
    ax.legend(fontsize=7)
    pngs.append(_png(fig, plt))
    fig, ax = plt.subplots(figsize=(4, 3.5))
    for label, scores, gold in (
        ("klacht", report.curves.get("complaint_scores"), report.curves.get("complaint_gold")),
        ("negatief", report.curves.get("negative_scores"), report.curves.get("negative_gold")),
    ):
        if scores:
            recall, precision = _pr_curve(np.asarray(scores), np.asarray(gold, dtype=bool))
            ax.plot(recall, precision, label=label)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall")
    ax.legend(fontsize=7)
    pngs.append(_png(fig, plt))
    return pngs


def _pr_curve(scores: np.ndarray, gold: np.ndarray) -> tuple[list[float], list[float]]:
    order = np.argsort(-scores)
    hits = gold[order].astype(float)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    recall = tp / max(hits.sum(), 1.0)
    return recall.tolist(), precision.tolist()


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value > 100 else f"{value:.3f}"
    return html.escape(str(value))
