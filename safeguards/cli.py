"""The `dns-safeguards` command line: plan, apply, status, rollback, repair, cleanup, reset, demo.

Readable, colored output for people; `--json` for programs. Exit codes (README, "Exit codes"):
0 applied or nothing to do; 1 backend error; 2 invalid input; 3 refused by a guard; 4 stale or
lease lost; 5 verification failed and rolled back; 6 circuit open; 7 local state unusable; 130
interrupted. An error is one line on stderr (an invalid plan: a header line, then one line per
problem), never a traceback. Global options may come before or after the command.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperCommand

if TYPE_CHECKING:
    from rich.progress import Progress

from . import __version__, logs
from .errors import InvalidInput, PlanInvalid, SafeguardsError, ValueOutOfRange, ZoneNotFound
from .logs import redact
from .plan import DEFAULT_OWNER
from .sqlite_tx import MAX_INT64, state_error

try:  # typer >= 0.25 ships its own copy of click
    from typer import TyperException as _CliError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException as _CliError  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])


class _Command(TyperCommand):
    """Usage lines name arguments plainly: `plan [OPTIONS] PLAN_FILE`, not `{PLAN_FILE}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in super().collect_usage_pieces(ctx)]


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Safe automated DNS changes for Route 53: fenced, compare-and-set, never empty.",
    epilog="Global options may also follow the command (dns-safeguards status -z example.com --state DIR).",
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
    create_zone: bool = False


_settings: Settings | None = None


def _version(value: bool) -> None:
    if value:
        print(f"dns-safeguards {__version__}")
        raise typer.Exit()


# The global options, declared once: the callback takes them before the command, and every
# command takes them (hidden from its help) after it; what is given after the command wins.
StateOpt = Annotated[
    Path,
    typer.Option(
        "--state",
        envvar="DNS_SAFEGUARDS_STATE",
        metavar="DIR",
        help="State directory of the embedded default (created 0700, files 0600).",
    ),
]
BackendOpt = Annotated[
    BackendKind,
    typer.Option(
        "--backend",
        metavar="embedded|aws",
        help="embedded: local strict Route 53 model; aws: boto3 (AWS, or the endpoint of --endpoint-url).",
    ),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar=["DNS_SAFEGUARDS_ENDPOINT_URL", "AWS_ENDPOINT_URL"],
        metavar="URL",
        help="Route 53/DynamoDB endpoint (LocalStack, moto); implies --backend aws. A loopback endpoint "
        "needs no credentials.",
    ),
]
RegionOpt = Annotated[
    str,
    typer.Option(
        "--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], metavar="REGION", help="AWS region of the clients."
    ),
]
PlanTableOpt = Annotated[
    str | None,
    typer.Option(
        "--plan-table", metavar="TABLE", help="DynamoDB plan table (default: SQLite plan store in the state directory)."
    ),
]
LeaseTableOpt = Annotated[str, typer.Option("--lease-table", metavar="TABLE", help="DynamoDB lease table.")]
EnactorOpt = Annotated[
    str | None, typer.Option("--enactor-id", metavar="ID", help="This enactor's id (default host:pid).")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every decision to stderr.")]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="Log decisions as JSON lines to stderr.")]

_DEFAULTS: dict[str, Any] = {
    "state": Path(".dns-safeguards"),
    "backend": BackendKind.embedded,
    "endpoint_url": None,
    "region": "us-east-1",
    "plan_table": None,
    "lease_table": "dns-safeguards-leases",
    "enactor_id": None,
    "verbose": False,
    "log_json": False,
}


@app.callback()
def _global(
    ctx: typer.Context,
    state: StateOpt = _DEFAULTS["state"],
    backend: BackendOpt = _DEFAULTS["backend"],
    endpoint_url: EndpointOpt = None,
    region: RegionOpt = _DEFAULTS["region"],
    plan_table: PlanTableOpt = None,
    lease_table: LeaseTableOpt = _DEFAULTS["lease_table"],
    enactor_id: EnactorOpt = None,
    verbose: VerboseOpt = False,
    log_json: LogJsonOpt = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = None,
) -> None:
    ctx.obj = {
        "state": state,
        "backend": backend,
        "endpoint_url": endpoint_url,
        "region": region,
        "plan_table": plan_table,
        "lease_table": lease_table,
        "enactor_id": enactor_id,
        "verbose": verbose,
        "log_json": log_json,
    }
    _finalize(ctx.obj)


def _finalize(raw: dict[str, Any]) -> Settings:
    global _settings
    logs.configure(verbose=bool(raw["verbose"]), json_lines=bool(raw["log_json"]))
    backend = raw["backend"]
    if raw["endpoint_url"] and backend is BackendKind.embedded:
        backend = BackendKind.aws
    _settings = Settings(
        state=raw["state"],
        backend=backend,
        endpoint_url=raw["endpoint_url"],
        region=raw["region"],
        plan_table=raw["plan_table"],
        lease_table=raw["lease_table"],
        enactor_id=raw["enactor_id"] or f"{os.uname().nodename}:{os.getpid()}",
        create_zone=bool(raw.get("create_zone", False)),
    )
    return _settings


def _hidden(opt: Any) -> Any:
    """The same option, hidden and without a default of its own (None: not given here)."""
    base, info = opt.__origin__, opt.__metadata__[0]
    import copy

    info = copy.copy(info)
    info.hidden = True
    info.envvar = None  # the environment is read once, by the callback
    return Annotated[base | None, info]


_AFTER: dict[str, Any] = {
    "state": _hidden(StateOpt),
    "backend": _hidden(BackendOpt),
    "endpoint_url": _hidden(EndpointOpt),
    "region": _hidden(RegionOpt),
    "plan_table": _hidden(PlanTableOpt),
    "lease_table": _hidden(LeaseTableOpt),
    "enactor_id": _hidden(EnactorOpt),
    "verbose": _hidden(VerboseOpt),
    "log_json": _hidden(LogJsonOpt),
}
_PREFIX = "global_"


def takes_global_options(fn: F) -> F:
    """Let a command take the global options after its name too (`status -z x --state st`)."""
    sig = inspect.signature(fn, eval_str=True)
    extra = [
        inspect.Parameter(_PREFIX + name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
        for name, annotation in _AFTER.items()
    ]
    extra.append(inspect.Parameter(_PREFIX + "ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    params = list(sig.parameters.values())

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.pop(_PREFIX + "ctx", None)
        given = {k[len(_PREFIX) :]: kwargs.pop(k) for k in list(kwargs) if k.startswith(_PREFIX)}
        raw = dict(ctx.find_root().obj or {}) if ctx is not None else {}
        raw = {**_DEFAULTS, **raw, **{k: v for k, v in given.items() if v is not None and v is not False}}
        raw["create_zone"] = bool(kwargs.get("create_zone", False))
        _finalize(raw)
        return fn(*args, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
    wrapper.__annotations__["return"] = sig.return_annotation
    return wrapper  # type: ignore[return-value]


def _wiring(*, checkpoint: Any = None) -> Any:
    from .wiring import build_applier

    assert _settings is not None
    wiring = build_applier(_settings, checkpoint=checkpoint)
    signer = _signer()
    if signer is not None:
        # An enactor with a key applies, rolls back to and repairs from signed plans only.
        wiring.applier.options = replace(wiring.applier.options, signer=signer)
    return wiring


def _signer() -> Any:
    """The plan-signing key from DNSSG_SIGNING_KEY_FILE or DNSSG_SIGNING_KEY, if set."""
    from .signing import HmacSigner

    path = os.environ.get("DNSSG_SIGNING_KEY_FILE")
    if path:
        return HmacSigner.from_file(path)
    return HmacSigner.from_env()


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
            except typer.Abort:
                _fail("not confirmed: nothing changed", (), 1, as_json, kind="Aborted")
            except SafeguardsError as exc:
                _fail_with(exc, as_json)
            except KeyboardInterrupt:
                _fail("interrupted", (), 130, as_json, kind="Interrupted")
            except RecursionError:
                _fail("input nested too deeply to read", (), 2, as_json, kind="InvalidInput")
            except Exception as exc:  # the last line of defence: a message, never a traceback
                mapped = state_error(exc)
                if mapped is not None:
                    _fail_with(mapped, as_json)
                _fail(f"unexpected error: {type(exc).__name__}: {exc}", (), 1, as_json, kind="Unexpected")

        return wrapper  # type: ignore[return-value]

    return deco


def _fail_with(exc: SafeguardsError, as_json: bool) -> None:
    message, problems = exc.message, list(exc.problems)
    if isinstance(exc, PlanInvalid) and problems and message.endswith(": " + problems[0]):
        # The library's message is "<file>: N problem(s): <first problem>". One problem: that one
        # line says it all. Several: the header says how many, the lines below say which.
        if len(problems) == 1:
            _fail(message, [message], exc.exit_code, as_json, kind=type(exc).__name__, listed=problems)
        message = message[: -len(problems[0]) - 2]
    _fail(message, problems, exc.exit_code, as_json, kind=type(exc).__name__)


def _fail(
    message: str,
    problems: Sequence[str],
    code: int,
    as_json: bool,
    *,
    kind: str,
    listed: Sequence[str] | None = None,
) -> None:
    """Print the error (one line, then one per further problem; --json: one object) and exit.
    `listed`: the problems for --json when they differ from the lines printed."""
    message = redact(_cut(message))
    problems = [redact(_cut(p)) for p in problems]
    listed = None if listed is None else [_cut(p) for p in listed]
    # A single problem the message already states is not repeated: the error stays one line.
    extra = [] if len(problems) == 1 and problems[0] in message else [p for p in problems if p != message]
    if as_json:
        shown = [redact(p) for p in listed] if listed is not None else list(problems)
        print(json.dumps({"error": message, "kind": kind, "problems": shown, "exit_code": code}))
    else:
        err.print(f"[bold red]error:[/] {_esc(message)}")
        for p in extra:
            err.print(f"  [red]-[/] {_esc(p)}")
    raise typer.Exit(code)


#: Characters of one error line at most, cut before anything else formats it (the library cuts
#: quoted input already; this keeps any message from costing more than its first line).
ERROR_LINE_CHARS = 2000


def _cut(text: str) -> str:
    return text if len(text) <= ERROR_LINE_CHARS else f"{text[:ERROR_LINE_CHARS]}...({len(text):,} characters)"


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _load(path: Path) -> Any:
    from .plan import load_plan

    try:
        plan = load_plan(path)
    except RecursionError:
        raise PlanInvalid(f"{path}: nested too deeply to be a plan") from None
    if plan.generation > MAX_INT64:
        raise ValueOutOfRange(f"{path}: generation {plan.generation} is too large (at most 2**63-1 = {MAX_INT64})")
    return plan


def _health_sources(specs: list[str] | None) -> list[Any]:
    from .health import source_from_spec

    sources = [source_from_spec(s) for s in specs or []]
    if len(sources) == 1:
        raise InvalidInput("--health needs at least two independent sources: one signal is never trusted alone")
    return sources


def _interactive() -> bool:
    """A person at a terminal (stdin and stdout are both terminals)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm(question: str, *, yes: bool, as_json: bool) -> None:
    """Ask on a terminal (never with --yes, --json or without a terminal); Abort when declined."""
    if yes or as_json or not _interactive():
        return
    typer.confirm(question, abort=True, err=True)


PlanFileArg = Annotated[Path, typer.Argument(metavar="PLAN_FILE", help="Plan file (YAML or JSON).", show_default=False)]
#: Changes of each kind `plan` lists before summing up the rest (`plan --all` lists them all).
PLAN_LINES = 20
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ZoneOpt = Annotated[str, typer.Option("--zone", "-z", metavar="ZONE", help="Zone name, e.g. example.com.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (asked only on a terminal).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")]
ApplyForceOpt = Annotated[
    bool, typer.Option("--force", help="Override the blast-radius guard (never the never-empty guard).")
]
AdoptOpt = Annotated[
    bool, typer.Option("--adopt", help="Take over names that have records without our ownership marker.")
]
CreateZoneOpt = Annotated[
    bool,
    typer.Option(
        "--create-zone",
        help="Create the plan's hosted zone when it does not exist (the embedded default does so "
        "unasked only for a state that holds no zone yet).",
    ),
]
VerifyDnsOpt = Annotated[
    str | None,
    typer.Option(
        "--verify-dns",
        metavar="HOST[:PORT]",
        help="After each stage, resolve the changed names at this nameserver (HOST[:PORT]).",
    ),
]
HealthOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--health",
        metavar="SPEC",
        help="Health source (repeatable): file:PATH, tcp:PORT or http:URL-with-{value}. Values that at "
        "least two sources agree are unhealthy are left out (never below min_values), and each stage "
        "is gated on them.",
    ),
]
OwnerOpt = Annotated[
    str,
    typer.Option("--owner", metavar="OWNER", help="The owner whose fence, plans and names to act on (shared zones)."),
]
CorrectionForceOpt = Annotated[
    bool, typer.Option("--force", help="Override the blast-radius guard (never the never-empty guard).")
]


def _zone(name: str) -> str:
    from .records import fqdn
    from .values import check_name

    if not name.strip().strip("."):
        raise InvalidInput("--zone is empty")
    zone = fqdn(name)
    try:
        check_name(zone, what="zone")
    except ValueError as exc:
        raise InvalidInput(f"--zone: {exc}") from None
    return zone


# ---------------------------------------------------------------------------------- commands


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def plan(
    plan_file: PlanFileArg,
    force: Annotated[bool, typer.Option("--force", help="Judge as apply --force would.")] = False,
    adopt: Annotated[bool, typer.Option("--adopt", help="Judge as apply --adopt would.")] = False,
    create_zone: Annotated[bool, typer.Option("--create-zone", help="Judge as apply --create-zone would.")] = False,
    as_json: JsonOpt = False,
    show_all: Annotated[
        bool, typer.Option("--all", help=f"List every change (default: the first {PLAN_LINES} of each kind).")
    ] = False,
) -> None:
    """Validate a plan and show its diff against the zone, with every guard's verdict (and the
    circuit's state). Writes nothing; exits with the code apply would (0, 2, 3, 4 or 6)."""
    p = _load(plan_file)
    applier = _wiring().applier
    zone_error = _missing_zone(applier, p.zone)
    preview = applier.preview(p, force=force, adopt=adopt)
    circuit = applier.store.state(p.zone)
    circuit_error = _circuit_error(p.zone, circuit)
    if as_json:
        # Without --all, at most PLAN_LINES changes of each kind, with the counts (a summary).
        everything = len(preview.diff.creates) + len(preview.diff.updates) + len(preview.diff.deletes)
        doc = preview.to_dict(limit=everything if show_all else PLAN_LINES)
        doc["zone_missing"] = zone_error.message if zone_error else None
        doc["circuit"] = {
            "open": bool(circuit.circuit_open),
            "reason": circuit.circuit_reason or None,
            "consecutive_failures": circuit.consecutive_failures,
        }
        _print_plan_json(doc)
    else:
        _print_diff(
            p.zone,
            p.generation,
            preview.diff,
            live=preview.live.generation if preview.live else None,
            limit=None if show_all else PLAN_LINES,
        )
        if preview.stale:
            err.print(f"[yellow]stale:[/] {_esc(str(preview.stale))}")
        if preview.refusal:
            err.print("[yellow]guards would refuse:[/]")
            for prob in preview.refusal.problems:
                err.print(f"  [yellow]-[/] {_esc(prob)}")
        if circuit_error is not None:
            err.print(f"[red]circuit open:[/] {_esc(circuit_error.message)}")
        if zone_error is not None:
            err.print(f"[red]no such zone:[/] {_esc(zone_error.message)}")
        if not preview.error and circuit_error is None and zone_error is None:
            out.print("[green]plan is valid; guards pass; circuit closed[/]")
        elif not preview.error and zone_error is None:
            out.print("[yellow]plan is valid and guards pass, but apply exits 6 until the circuit is reset[/]")
    error = zone_error or preview.error or circuit_error
    if error:
        raise typer.Exit(error.exit_code)


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def apply(
    plan_file: PlanFileArg,
    dry_run: DryRunOpt = False,
    force: ApplyForceOpt = False,
    adopt: AdoptOpt = False,
    create_zone: CreateZoneOpt = False,
    verify_dns: VerifyDnsOpt = None,
    health: HealthOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply a plan: fenced, compare-and-set, staged (canary first), verified, rolled back on failure."""
    health_sources = _health_sources(health)
    p = _pruned_by_health(_load(plan_file), health_sources)
    if dry_run:
        _dry_run(p, force=force, adopt=adopt, as_json=as_json)
        return
    progress, on_checkpoint = _apply_progress(p, as_json)
    from .health import HealthVerifier

    wiring = _wiring(checkpoint=on_checkpoint)
    if verify_dns:
        wiring.add_dns_verifier(verify_dns)
    if health_sources:
        wiring.add_verifier(HealthVerifier(health_sources))
    try:
        with progress:
            result = wiring.applier.apply(p, force=force, adopt=adopt)
    except ZoneNotFound as exc:
        raise ZoneNotFound(f"{exc.message}; apply --create-zone creates it (check the zone name first)") from exc
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


def _pruned_by_health(p: Any, health_sources: list[Any]) -> Any:
    """The plan without values at least two health sources agree are unhealthy (said on stderr)."""
    if not health_sources:
        return p
    from .health import prune_unhealthy

    p, report = prune_unhealthy(p, health_sources)
    for v in report.removed:
        err.print(f"[yellow]health:[/] leaving out {_esc(v.line())}")
    for v in report.disputed:
        err.print(f"[yellow]health:[/] kept despite signals {_esc(v.line())}")
    return p


def _dry_run(p: Any, *, force: bool, adopt: bool, as_json: bool) -> None:
    applier = _wiring().applier
    missing = _missing_zone(applier, p.zone)
    if missing is not None:
        raise missing
    preview = applier.preview(p, force=force, adopt=adopt)
    if as_json:
        print(json.dumps({**preview.to_dict(), "outcome": "dry-run"}, indent=2))
    else:
        _print_diff(p.zone, p.generation, preview.diff, live=preview.live.generation if preview.live else None)
    if preview.error:
        raise preview.error


def _apply_progress(p: Any, as_json: bool) -> tuple[Progress, Callable[..., None]]:
    """A progress bar on a terminal (batches done of all), fed by the applier's checkpoints."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]applying[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=as_json or not sys.stderr.isatty(),
    )
    task = progress.add_task(f"{p.zone} generation {p.generation}", total=None)

    def on_checkpoint(name: str, **ctx: Any) -> None:
        if name == "batch.after":
            progress.update(task, total=ctx.get("total"), completed=ctx.get("index"))

    return progress, on_checkpoint


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def status(zone: ZoneOpt, owner: OwnerOpt = DEFAULT_OWNER, as_json: JsonOpt = False) -> None:
    """Show the live generation (from Route 53's fence record), the record sets, the circuit, and
    every owner's generation in a shared zone."""
    st = _wiring().applier.status(_zone(zone), owner=owner)
    if as_json:
        print(json.dumps(st.to_dict(), indent=2))
        return
    f = st.fence
    live = f"generation {f.label()} ({'complete' if f.done else 'in progress'}, by {f.writer})" if f else "no plan"
    circuit = "[red]OPEN[/] " + _esc(st.state.circuit_reason) if st.state.circuit_open else "[green]closed[/]"
    out.print(f"[bold]{st.zone}[/]  live: {live}  circuit: {circuit}")
    from rich.table import Table  # only `status` draws a table: not paid by every command's start

    table = Table(show_edge=False, header_style="bold")
    for col in ("name", "type", "ttl", "values"):
        table.add_column(col)
    for r in st.records:
        name = r.name + (f" [{r.routing_label()}]" if r.routing_label() else "")
        table.add_row(_esc(name), r.type, str(r.ttl), _esc(", ".join(r.values)))
    out.print(table)
    for o, x in sorted(st.fences.items()):
        if o != st.owner:
            names = sorted(n for n, w in st.owners.items() if w == o)
            out.print(f"owner {_esc(o)}: generation {x.label()}, {len(names)} name(s)")


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def rollback(
    zone: ZoneOpt,
    to: Annotated[
        int | None,
        typer.Option(
            "--to",
            metavar="GENERATION",
            min=1,
            max=MAX_INT64,
            help="Generation whose content to restore (default: the previous).",
        ),
    ] = None,
    owner: OwnerOpt = DEFAULT_OWNER,
    force: CorrectionForceOpt = False,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Make an earlier plan's content live again, under the live generation one revision up
    (stale, exit 4, if a newer generation lands before it is written)."""
    target = f"generation {to}'s content" if to is not None else "the previous generation's content"
    _confirm(f"Roll {_zone(zone)} back to {target}?", yes=yes, as_json=as_json)
    result = _wiring().applier.rollback(_zone(zone), to=to, owner=owner, force=force)
    _report(result, as_json, f"restored generation {result.rolled_back_to}'s content")


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def repair(
    zone: ZoneOpt, owner: OwnerOpt = DEFAULT_OWNER, force: CorrectionForceOpt = False, as_json: JsonOpt = False
) -> None:
    """Restore the live plan's content on any name below its minimum; finish a half-applied generation."""
    result = _wiring().applier.repair(_zone(zone), owner=owner, force=force)
    _report(result, as_json, "repaired" if result.outcome != "noop" else "nothing to repair")


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def cleanup(
    zone: ZoneOpt,
    keep: Annotated[
        int,
        typer.Option(
            "--keep", metavar="N", min=1, max=MAX_INT64, help="Keep this many generations below the live one."
        ),
    ] = 3,
    owner: OwnerOpt = DEFAULT_OWNER,
    yes: YesOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete old plans from the plan store: never the live one, its content's or the last known good."""
    _confirm(f"Delete {_zone(zone)}'s plans older than the live generation minus {keep}?", yes=yes, as_json=as_json)
    deleted = _wiring().applier.cleanup(_zone(zone), keep=keep, owner=owner)
    if as_json:
        print(json.dumps({"zone": _zone(zone), "deleted": deleted}))
    else:
        out.print(f"deleted {len(deleted)} old plan(s){': ' + ', '.join(map(str, deleted)) if deleted else ''}")


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def reset(zone: ZoneOpt, owner: OwnerOpt = DEFAULT_OWNER, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Close an open circuit after a person has looked at the failures."""
    applier = _wiring().applier
    applier.backend.resolve_zone(_zone(zone))  # ZoneNotFound (exit 2) for a zone that is not there
    _confirm(f"Close the circuit of {_zone(zone)}?", yes=yes, as_json=as_json)
    applier.reset_circuit(_zone(zone), owner=owner)
    if as_json:
        print(json.dumps({"zone": _zone(zone), "circuit": "closed"}))
    else:
        out.print(f"circuit closed for {_zone(zone)}")


@app.command(cls=_Command)
@handle_errors()
@takes_global_options
def demo(
    as_json: JsonOpt = False,
    endpoints: Annotated[
        int, typer.Option("--endpoints", metavar="N", min=1, max=50, help="Endpoints (names) in the zone.")
    ] = 3,
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


def _print_diff(zone: str, generation: int, diff: Any, *, live: int | None, limit: int | None = None) -> None:
    """The diff for people: a line per change (at most `limit` of each kind, then how many more),
    then the counts. One `print` of the whole text: rich's per-call cost made 100,000 lines take
    longer than planning them."""
    head = f"[bold]{zone}[/] generation {generation}" + (f" (live: {live})" if live is not None else "")
    if diff.empty:
        out.print(f"{head}\n  no record changes")
        return
    lines = [head]

    def section(items: Any, kind: str, fmt: Any) -> None:
        shown = items if limit is None else items[:limit]
        lines.extend(fmt(item) for item in shown)
        if len(items) > len(shown):
            lines.append(f"  [dim]... and {len(items) - len(shown):,} more to {kind} (plan --all lists them)[/]")

    section(diff.creates, "create", lambda r: f"  [green]+ {_esc(_label(r))}[/] {_esc(', '.join(r.values))}")
    section(
        diff.updates,
        "update",
        lambda c: f"  [yellow]~ {_esc(_change_label(c[0], c[1]))}[/] {_esc(_values_change(c[0], c[1]))}",
    )
    section(diff.deletes, "delete", lambda r: f"  [red]- {_esc(_label(r))}[/] {_esc(', '.join(r.values))}")
    lines.append(
        f"  {len(diff.creates)} to create, {len(diff.updates)} to update, "
        f"{len(diff.deletes)} to delete, {diff.unchanged} unchanged"
    )
    out.print("\n".join(lines))


def _print_plan_json(doc: Any) -> None:
    """`json.dumps(doc, indent=2)`, byte for byte, through msgspec's C encoder (the standard
    library's indenting encoder is pure Python: 100,000 changes took longer than planning them).
    msgspec writes non-ASCII, DEL and some control characters unlike json: such documents go through json."""
    try:
        import msgspec

        text = msgspec.json.format(msgspec.json.encode(doc), indent=2)
    except (ImportError, TypeError, ValueError, OverflowError):
        text = b""
    buffer = getattr(sys.stdout, "buffer", None)
    if text and text.isascii() and b"\\u" not in text and b"\x7f" not in text and buffer is not None:
        sys.stdout.flush()
        buffer.write(text + b"\n")
        buffer.flush()
    else:
        print(json.dumps(doc, indent=2))


def _label(r: Any) -> str:
    routing = r.routing_label()
    extra = f" [{routing}]" if routing else ""
    return f"{r.name} {r.type} ttl={r.ttl}{extra}"


def _change_label(old: Any, new: Any) -> str:
    """Like `_label`, with both sides of what changed: ``ttl=60->300``, ``[blue w=90->70]``."""
    ttl = f"{old.ttl}->{new.ttl}" if old.ttl != new.ttl else f"{new.ttl}"
    extra = ""
    if new.weight is not None and old.weight is not None and old.weight != new.weight:
        extra = f" [{new.set_identifier} w={old.weight}->{new.weight}]"
    elif new.routing_label():
        extra = f" [{new.routing_label()}]"
    return f"{new.name} {new.type} ttl={ttl}{extra}"


def _values_change(old: Any, new: Any) -> str:
    before, after = ", ".join(old.values), ", ".join(new.values)
    return f"{before} -> {after}" if before != after else f"{after} (values unchanged)"


def _missing_zone(applier: Any, zone: str) -> ZoneNotFound | None:
    """The ZoneNotFound apply would raise for `zone` (it creates zones only when asked), or None."""
    if applier.options.create_zone:
        return None
    try:
        applier.backend.resolve_zone(zone)
    except ZoneNotFound as exc:
        return ZoneNotFound(f"{exc.message}; apply --create-zone creates it (check the zone name first)")
    return None


def _circuit_error(zone: str, state: Any) -> SafeguardsError | None:
    """The CircuitOpen apply would raise for `state`, or None."""
    from .errors import CircuitOpen

    if not state.circuit_open:
        return None
    return CircuitOpen(
        f"{zone}: circuit open after {state.consecutive_failures} consecutive failures or refusals "
        f"(last: {state.circuit_reason}); apply exits 6 until 'dns-safeguards reset --zone {zone}'"
    )


def _report(result: Any, as_json: bool, text: str) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        rev = f" revision {result.revision}" if result.revision else ""
        out.print(f"[green]{text}[/]: {result.zone} now at generation {result.generation}{rev} ({result.outcome})")


from .cli_service import register as _register_service  # noqa: E402 - publish, enact, serve-dns

_register_service(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: usage errors too are one line (exit 2)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="dns-safeguards", standalone_mode=False)
    except _CliError as exc:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # bare `dns-safeguards`: help
            print(ctx.get_help(), file=sys.stderr)
            sys.exit(2)
        message = redact(exc.format_message())
        name = ctx.command_path if ctx is not None else "dns-safeguards"
        code = int(getattr(exc, "exit_code", 2))
        if "--json" in args:
            print(json.dumps({"error": message, "kind": "UsageError", "problems": [message], "exit_code": code}))
        else:
            err.print(f"[bold red]error:[/] {_esc(message)} (see '{name} --help')")
    except typer.Abort:
        err.print("[bold red]error:[/] not confirmed: nothing changed")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
