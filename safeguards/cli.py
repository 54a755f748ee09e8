"""The `dns-safeguards` command line: plan, apply, status, rollback, repair, cleanup, reset, demo.

Readable, colored output for people; `--json` for programs. Exit codes: 0 applied or nothing
to do; 2 invalid input; 3 refused by a guard; 4 stale; 5 verification failed and rolled back;
6 circuit open; 1 anything else. Errors are one line (plus one line per problem), never a
traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import logs
from .errors import InvalidInput, SafeguardsError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Safe automated DNS changes for Route 53: fenced, compare-and-set, never empty.",
)
# soft_wrap: an error stays one line however narrow the terminal (or a pipe) is.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class BackendKind(StrEnum):
    embedded = "embedded"
    aws = "aws"


@dataclass
class Settings:
    state: Path
    backend: BackendKind
    endpoint_url: str | None
    region: str
    plan_table: str | None
    lease_table: str
    enactor_id: str


_settings: Settings | None = None


@app.callback()
def _global(
    state: Annotated[
        Path, typer.Option(envvar="DNS_SAFEGUARDS_STATE", help="State directory of the embedded default.")
    ] = Path(".dns-safeguards"),
    backend: Annotated[
        BackendKind, typer.Option(help="embedded: local strict Route 53 model; aws: boto3 (AWS or --endpoint-url).")
    ] = BackendKind.embedded,
    endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="DNS_SAFEGUARDS_ENDPOINT_URL", help="Route 53/DynamoDB endpoint (LocalStack, moto)."),
    ] = None,
    region: Annotated[str, typer.Option(envvar="AWS_DEFAULT_REGION")] = "us-east-1",
    plan_table: Annotated[
        str | None, typer.Option(help="DynamoDB plan table (default: SQLite plan store in the state directory).")
    ] = None,
    lease_table: Annotated[str, typer.Option(help="DynamoDB lease table.")] = "dns-safeguards-leases",
    enactor_id: Annotated[str | None, typer.Option(help="This enactor's id (default host:pid).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every decision to stderr.")] = False,
    log_json: Annotated[bool, typer.Option(help="Log decisions as JSON lines to stderr.")] = False,
) -> None:
    global _settings
    logs.configure(verbose=verbose, json_lines=log_json)
    if endpoint_url and backend is BackendKind.embedded:
        backend = BackendKind.aws
    _settings = Settings(
        state=state,
        backend=backend,
        endpoint_url=endpoint_url,
        region=region,
        plan_table=plan_table,
        lease_table=lease_table,
        enactor_id=enactor_id or f"{os.uname().nodename}:{os.getpid()}",
    )


def _wiring(*, checkpoint: Any = None) -> Any:
    from .wiring import build_applier

    assert _settings is not None
    return build_applier(_settings, checkpoint=checkpoint)


def handle_errors(json_flag: str = "as_json") -> Callable[[F], F]:
    """Turn library errors into one-line messages and the documented exit codes."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            as_json = bool(kwargs.get(json_flag))
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except SafeguardsError as exc:
                _fail(exc.message, exc.problems, exc.exit_code, as_json, kind=type(exc).__name__)
            except KeyboardInterrupt:
                _fail("interrupted", (), 130, as_json, kind="Interrupted")
            except Exception as exc:  # the last line of defence: a message, never a traceback
                _fail(f"unexpected error: {type(exc).__name__}: {exc}", (), 1, as_json, kind="Unexpected")

        return wrapper  # type: ignore[return-value]

    return deco


def _fail(message: str, problems: Any, code: int, as_json: bool, *, kind: str) -> None:
    extra = [p for p in problems if p != message]
    if as_json:
        print(json.dumps({"error": message, "kind": kind, "problems": list(problems), "exit_code": code}))
    else:
        err.print(f"[bold red]error:[/] {_esc(message)}")
        for p in extra:
            err.print(f"  [red]-[/] {_esc(p)}")
    raise typer.Exit(code)


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _load(path: Path) -> Any:
    from .plan import load_plan

    return load_plan(path)


def _health_sources(specs: list[str] | None) -> list[Any]:
    from .health import source_from_spec

    sources = [source_from_spec(s) for s in specs or []]
    if len(sources) == 1:
        raise InvalidInput("--health needs at least two independent sources: one signal is never trusted alone")
    return sources


JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ZoneOpt = Annotated[str, typer.Option("--zone", "-z", help="Zone name, e.g. example.com")]


def _zone(name: str) -> str:
    from .records import fqdn

    if not name.strip().strip("."):
        raise InvalidInput("--zone is empty")
    return fqdn(name)


# ---------------------------------------------------------------------------------- commands


@app.command()
@handle_errors()
def plan(
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    force: Annotated[bool, typer.Option(help="Judge as apply --force would.")] = False,
    adopt: Annotated[bool, typer.Option(help="Judge as apply --adopt would.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a plan and show its diff against the zone, with every guard's verdict. Writes nothing."""
    p = _load(plan_file)
    preview = _wiring().applier.preview(p, force=force, adopt=adopt)
    if as_json:
        print(json.dumps(preview.to_dict(), indent=2))
    else:
        _print_diff(p.zone, p.generation, preview.diff, live=preview.live.generation if preview.live else None)
        if preview.stale:
            err.print(f"[yellow]stale:[/] {_esc(str(preview.stale))}")
        if preview.refusal:
            err.print("[yellow]guards would refuse:[/]")
            for prob in preview.refusal.problems:
                err.print(f"  [yellow]-[/] {_esc(prob)}")
        if not preview.error:
            out.print("[green]plan is valid; guards pass[/]")
    if preview.error:
        raise typer.Exit(preview.error.exit_code)


@app.command()
@handle_errors()
def apply(
    plan_file: Annotated[Path, typer.Argument(help="Plan file (YAML or JSON).")],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; write nothing.")] = False,
    force: Annotated[bool, typer.Option(help="Override the blast-radius guard (never the never-empty guard).")] = False,
    adopt: Annotated[
        bool, typer.Option(help="Take over names that have records without our ownership marker.")
    ] = False,
    verify_dns: Annotated[
        str | None, typer.Option(help="After each stage, resolve the changed names at this nameserver (HOST[:PORT]).")
    ] = None,
    health: Annotated[
        list[str] | None,
        typer.Option(
            help="Health source (repeatable): file:PATH, tcp:PORT or http:URL-with-{value}. Values that at "
            "least two sources agree are unhealthy are left out (never below min_values), and each stage "
            "is gated on them."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply a plan: fenced, compare-and-set, staged (canary first), verified, rolled back on failure."""
    p = _load(plan_file)
    health_sources = _health_sources(health)
    if health_sources:
        from .health import prune_unhealthy

        p, report = prune_unhealthy(p, health_sources)
        for v in report.removed:
            err.print(f"[yellow]health:[/] leaving out {_esc(v.line())}")
        for v in report.disputed:
            err.print(f"[yellow]health:[/] kept despite signals {_esc(v.line())}")
    if dry_run:
        preview = _wiring().applier.preview(p, force=force, adopt=adopt)
        if as_json:
            print(json.dumps({**preview.to_dict(), "outcome": "dry-run"}, indent=2))
        else:
            _print_diff(p.zone, p.generation, preview.diff, live=preview.live.generation if preview.live else None)
        if preview.error:
            raise preview.error
        return
    show_progress = not as_json and sys.stderr.isatty()
    progress = Progress(
        TextColumn("[bold]applying[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show_progress,
    )
    task = progress.add_task(f"{p.zone} generation {p.generation}", total=None)

    def on_checkpoint(name: str, **ctx: Any) -> None:
        if name == "batch.after":
            progress.update(task, total=ctx.get("total"), completed=ctx.get("index"))

    from .health import HealthVerifier

    wiring = _wiring(checkpoint=on_checkpoint)
    if verify_dns:
        wiring.add_dns_verifier(verify_dns)
    if health_sources:
        wiring.add_verifier(HealthVerifier(health_sources))
    with progress:
        result = wiring.applier.apply(p, force=force, adopt=adopt)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    if result.diff is not None:
        _print_diff(p.zone, p.generation, result.diff, live=None)
    colour = "green" if result.outcome in ("applied", "resumed") else "cyan"
    out.print(
        f"[{colour}]{result.outcome}[/]: {p.zone} generation {p.generation} "
        f"({result.batches} batch{'es' if result.batches != 1 else ''}, checksum {p.checksum[:12]})"
    )


@app.command()
@handle_errors()
def status(zone: ZoneOpt, as_json: JsonOpt = False) -> None:
    """Show the live generation (from Route 53's fence record), the record sets and the circuit."""
    st = _wiring().applier.status(_zone(zone))
    if as_json:
        print(json.dumps(st.to_dict(), indent=2))
        return
    f = st.fence
    live = f"generation {f.generation} ({'complete' if f.done else 'in progress'}, by {f.writer})" if f else "no plan"
    circuit = "[red]OPEN[/] " + _esc(st.state.circuit_reason) if st.state.circuit_open else "[green]closed[/]"
    out.print(f"[bold]{st.zone}[/]  live: {live}  circuit: {circuit}")
    table = Table(show_edge=False, header_style="bold")
    for col in ("name", "type", "ttl", "values"):
        table.add_column(col)
    for r in st.records:
        name = r.name + (f" [{r.set_identifier} w={r.weight}]" if r.set_identifier else "")
        table.add_row(_esc(name), r.type, str(r.ttl), _esc(", ".join(r.values)))
    out.print(table)


@app.command()
@handle_errors()
def rollback(
    zone: ZoneOpt,
    to: Annotated[
        int | None, typer.Option("--to", help="Generation whose content to restore (default: the previous).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore an earlier plan's content as a new generation above the live one."""
    result = _wiring().applier.rollback(_zone(zone), to=to)
    _report(result, as_json, f"restored generation {result.rolled_back_to}'s content")


@app.command()
@handle_errors()
def repair(zone: ZoneOpt, as_json: JsonOpt = False) -> None:
    """Restore the last known good content on any name found below its minimum."""
    result = _wiring().applier.repair(_zone(zone))
    _report(result, as_json, "repaired" if result.outcome != "noop" else "nothing to repair")


@app.command()
@handle_errors()
def cleanup(
    zone: ZoneOpt,
    keep: Annotated[int, typer.Option(help="Keep this many generations below the live one.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Delete old plans from the plan store: never the live one or the last known good."""
    deleted = _wiring().applier.cleanup(_zone(zone), keep=keep)
    if as_json:
        print(json.dumps({"zone": _zone(zone), "deleted": deleted}))
    else:
        out.print(f"deleted {len(deleted)} old plan(s){': ' + ', '.join(map(str, deleted)) if deleted else ''}")


@app.command()
@handle_errors()
def reset(zone: ZoneOpt, as_json: JsonOpt = False) -> None:
    """Close an open circuit after a person has looked at the failures."""
    _wiring().applier.reset_circuit(_zone(zone))
    if as_json:
        print(json.dumps({"zone": _zone(zone), "circuit": "closed"}))
    else:
        out.print(f"circuit closed for {_zone(zone)}")


@app.command()
@handle_errors()
def demo(
    as_json: JsonOpt = False,
    endpoints: Annotated[int, typer.Option(help="Endpoints (names) in the zone.")] = 3,
) -> None:
    """Replay the October 2025 race twice on the embedded model: a naive enactor, then ours."""
    from .testing.scenario import replay_outage

    naive = replay_outage("naive", endpoints=endpoints)
    guarded = replay_outage("guarded", endpoints=endpoints)
    ok = bool(naive.violations) and not guarded.violations
    if as_json:
        print(json.dumps({"naive": naive.to_dict(), "guarded": guarded.to_dict(), "ok": ok}, indent=2))
    else:
        from .testing.render import render_report

        render_report(out, naive)
        render_report(out, guarded)
        if ok:
            out.print("[bold green]verdict:[/] the naive enactor emptied the endpoint; the guarded applier held I1-I5")
        else:
            out.print("[bold red]verdict:[/] the demo did not show the expected outcome")
    if not ok:
        raise typer.Exit(1)


# ---------------------------------------------------------------------------------- output


def _print_diff(zone: str, generation: int, diff: Any, *, live: int | None) -> None:
    head = f"[bold]{zone}[/] generation {generation}" + (f" (live: {live})" if live is not None else "")
    out.print(head)
    if diff.empty:
        out.print("  no record changes")
        return
    for r in diff.creates:
        out.print(f"  [green]+ {_esc(_label(r))}[/] {_esc(', '.join(r.values))}")
    for old, new in diff.updates:
        out.print(f"  [yellow]~ {_esc(_label(new))}[/] {_esc(', '.join(old.values))} -> {_esc(', '.join(new.values))}")
    for r in diff.deletes:
        out.print(f"  [red]- {_esc(_label(r))}[/] {_esc(', '.join(r.values))}")
    out.print(
        f"  {len(diff.creates)} to create, {len(diff.updates)} to update, "
        f"{len(diff.deletes)} to delete, {diff.unchanged} unchanged"
    )


def _label(r: Any) -> str:
    extra = f" [{r.set_identifier} w={r.weight}]" if r.set_identifier else ""
    return f"{r.name} {r.type} ttl={r.ttl}{extra}"


def _report(result: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        out.print(f"[green]{text}[/]: {result.zone} now at generation {result.generation} ({result.outcome})")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
