"""The live alert stream on the console, and the end-of-run summary (rich).

Agents read this at a glance: priority colour first, then brand, risk, author and the
reasons on one line. Incidents get a panel of their own because they concern many posts.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from klachtradar.contract import Alert, AlertKind, Priority, ScoredPost

PRIORITY_STYLE = {
    Priority.P1: "bold white on red",
    Priority.P2: "bold black on dark_orange",
    Priority.P3: "black on yellow",
    Priority.P4: "white on grey30",
}


class ConsoleAlerts:
    """Prints alerts as they arrive."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.shown = 0

    def write(self, alerts: Sequence[Alert]) -> None:
        """Print each alert: a line for a post, a panel for an incident."""
        for alert in alerts:
            self.shown += 1
            if alert.kind is AlertKind.POST:
                self.console.print(render_post_alert(alert))
            else:
                self.console.print(render_incident(alert))


def render_post_alert(alert: Alert) -> Text:
    """``P1 Odido 82 @handle: text`` with the reasons underneath."""
    line = Text()
    line.append(f" {alert.priority.value} ", style=PRIORITY_STYLE[alert.priority])
    line.append(f" {alert.created_at:%d-%m %H:%M} ", style="dim")
    line.append(f"{alert.brand or '-'} ", style="bold cyan")
    line.append(f"risico {alert.risk} ", style="bold")
    line.append(alert.title)
    if alert.reasons:
        line.append("\n      ↳ " + " · ".join(alert.reasons), style="italic")
    return line


def render_incident(alert: Alert) -> Panel:
    """A red panel for an incident, a green one when it is over."""
    body = Text(" · ".join(alert.reasons))
    if alert.top_terms:
        body.append("\ntermen: " + ", ".join(alert.top_terms), style="bold")
    if alert.examples:
        body.append("\nvoorbeelden: " + ", ".join(alert.examples), style="dim")
    over = alert.kind is AlertKind.INCIDENT_OVER
    return Panel(body, title=alert.title, border_style="green" if over else "bold red")


def top_table(posts: Sequence[ScoredPost], title: str = "Top op risico") -> Table:
    """The highest-risk posts with their reasons."""
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("prio", no_wrap=True)
    table.add_column("risico", justify="right")
    table.add_column("merk")
    table.add_column("auteur")
    table.add_column("tekst", ratio=3)
    table.add_column("redenen", ratio=2)
    for post in posts:
        table.add_row(
            Text(post.risk.priority.value, style=PRIORITY_STYLE[post.risk.priority]),
            str(post.risk.score),
            ", ".join(post.brand_names),
            f"@{post.post.author.handle}",
            post.post.text,
            "\n".join(post.risk.reasons),
        )
    return table
