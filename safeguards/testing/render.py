"""Printing a race replay (`safeguards.testing.scenario.Report`) with rich: a timeline of who
did what with every endpoint's content after each step, violations in red, and a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .invariants import INVARIANTS

if TYPE_CHECKING:
    from .scenario import Report

_TITLES = {
    "naive": "the naive enactor (2025): check once, UPSERT, clean up by age",
    "guarded": "the guarded applier: fenced compare-and-set, never-empty guard, safe clean-up",
}


def render_report(console: Console, report: Report) -> None:
    """Print `report`: the timeline table, then its violations and a one-line verdict."""
    short = [e.split(".", 1)[0] for e in report.endpoints]
    table = Table(
        title=f"Replay of the 2025 race with {_TITLES.get(report.kind, report.kind)}",
        title_justify="left",
        show_lines=False,
        expand=False,
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("actor", style="bold")
    table.add_column("action")
    for name in short:
        table.add_column(name, justify="center")
    previous: dict[str, str] = {}
    for step in report.steps:
        cells = []
        for e in report.endpoints:
            label = step.labels.get(e, "?")
            style = "bold red" if label == "EMPTY" else "bold yellow" if previous.get(e) not in (None, label) else ""
            cells.append(f"[{style}]{escape(label)}[/]" if style else escape(label))
        previous = dict(step.labels)
        action = escape(_clip(step.action, 110))
        if step.violations:
            action = f"{action}\n[red]" + "\n".join(f"✗ {escape(v)}" for v in step.violations) + "[/]"
        table.add_row(str(step.index), escape(step.actor), action, *cells)
    console.print(table)
    final = ", ".join(
        f"{name}={'[bold red]EMPTY[/]' if not vals else escape(' '.join(vals))}"
        for name, vals in zip(short, (report.final[e] for e in report.endpoints), strict=True)
    )
    console.print(f"final: {final}")
    console.print(verdict(report))
    console.print()


def verdict(report: Report) -> str:
    """The one-line verdict of a replay, with rich markup."""
    outcomes = "; ".join(f"{a}: {escape(_clip(o or '', 70))}" for a, o in report.outcomes.items() if a != "P")
    if report.violations:
        broken = ", ".join(f"{i} {INVARIANTS.get(i, '')}" for i in report.broken)
        empty = [e.split(".", 1)[0] for e, v in report.final.items() if not v]
        tail = f"; {', '.join(empty)} ended EMPTY" if empty else ""
        return f"[bold red]{report.kind}: {len(report.violations)} violations ({broken}){tail}[/]"
    return f"[bold green]{report.kind}: I1-I5 held; g{report.live} live on every endpoint[/] [dim]({outcomes})[/]"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
