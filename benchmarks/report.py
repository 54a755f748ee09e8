"""Figures, the machine they were measured on, and how they are printed (rich table or JSON).

A `Figure` is one measured value with its goal: `passed` is True/False when the figure has a goal,
None when it is informational (or could not be measured: then `available` is False and `note`
says why). Benchmarks report figures; nothing here fails a build.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured value, its goal and how it compares."""

    name: str
    value: float | None
    unit: str = ""
    goal: str = ""  # human form, e.g. "≤ 1.00 s"
    ratio: float | None = None  # measured / goal (or the comparison the goal is about)
    ratio_label: str = ""  # what the ratio is, e.g. "ours/minimum"
    passed: bool | None = None
    available: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchResult:
    """Every figure of one benchmark, plus free-form details (call counts, profiles)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "seconds": round(self.seconds, 3),
            "figures": [f.to_dict() for f in self.figures],
            "details": self.details,
            "notes": self.notes,
        }


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        # Shared machines: a load above the core count means wall times include waiting for a CPU.
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def header(argv: list[str], quick: bool) -> dict[str, Any]:
    """Date, machine and command of a run."""
    return {
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "machine": machine(),
        "command": " ".join(["python -m benchmarks", *argv]),
        "python_executable": sys.executable,
        "quick": quick,
    }


def fmt(value: float | None, unit: str = "") -> str:
    """A value for a table cell: integers plainly, small floats with enough digits."""
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) >= 1:
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def fmt_ratio(r: float) -> str:
    """Two decimals, three when two would round a miss into an exact-looking 1.00."""
    return f"{r:.2f}" if abs(r - round(r, 2)) < 1e-9 or abs(r) >= 10 else f"{r:.3f}"


def verdict(f: Figure) -> str:
    """pass / FAIL / info / not available."""
    if not f.available:
        return "not available"
    if f.passed is None:
        return "info"
    return "pass" if f.passed else "FAIL"


def _console() -> Any:
    from rich.console import Console

    return Console(width=160)


def render_header(head: dict[str, Any]) -> None:
    """Print date, machine and command."""
    m = head["machine"]
    _console().print(
        f"[bold]dns-safeguards benchmarks[/bold]  {head['date']}  ·  {m['cores']} cores  ·  "
        f"{m['implementation']} {m['python']}  ·  {m['platform']}  ·  load average {m['load_average']}\n"
        f"command: {head['command']}" + ("  (quick sizes: smoke run, figures not meaningful)" if head["quick"] else "")
    )


def render_result(res: BenchResult) -> None:
    """Print one benchmark's figures as a rich table, then its notes."""
    from rich.table import Table

    console = _console()
    table = Table(title=f"{res.title}  ({res.seconds:.1f} s)", title_justify="left")
    for col, justify in (
        ("figure", "left"),
        ("goal", "left"),
        ("measured", "right"),
        ("ratio", "right"),
        ("result", "left"),
        ("note", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for f in res.figures:
        ratio = (fmt_ratio(f.ratio) + (f" ({f.ratio_label})" if f.ratio_label else "")) if f.ratio is not None else ""
        v = verdict(f)
        style = {"FAIL": "red", "pass": "green"}.get(v)
        table.add_row(f.name, f.goal, fmt(f.value, f.unit), ratio, f"[{style}]{v}[/]" if style else v, f.note)
    console.print(table)
    for note in res.notes:
        console.print(f"  • {note}")
    console.print()


def to_markdown(doc: dict[str, Any]) -> str:
    """A saved JSON report as Markdown: the header, then one table per benchmark and its notes."""
    m = doc["machine"]
    lines = [
        f"Measured {doc['date']} on {m['cores']} cores, {m['implementation']} {m['python']}, {m['platform']} "
        f"(load average at start {m.get('load_average')}); command `{doc['command']}`; "
        f"whole run {doc.get('total_seconds', 0):.0f} s.",
        "",
    ]
    for b in doc["benchmarks"]:
        lines += [
            f"### {b['title']}",
            "",
            "| figure | goal | measured | ratio | result | note |",
            "|---|---|--:|--:|---|---|",
        ]
        for f in b["figures"]:
            fig = Figure(**f)
            ratio = f"{fmt_ratio(fig.ratio)} ({fig.ratio_label})" if fig.ratio is not None else ""
            cells = [fig.name, fig.goal, fmt(fig.value, fig.unit), ratio, verdict(fig), fig.note]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
        lines += [f"- {n}" for n in b["notes"]]
        if b["notes"]:
            lines.append("")
    return "\n".join(lines)
