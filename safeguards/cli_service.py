"""The service commands of the `dns-safeguards` CLI: ``publish`` (the planner), ``enact`` (a
long-running enactor) and ``serve-dns`` (DNS answers of the backend's records). Registered onto
the main app by `register(app)`; global options (``--state``, ``--endpoint-url``, ``--plan-table``,
``--enactor-id``, ...) work as for every other command.

    dns-safeguards publish examples/example.com.yaml              # prints the generation it took
    dns-safeguards enact --zone example.com --interval 30 --metrics-port 9464
    dns-safeguards enact --zone example.com --once --json         # one cycle, one JSON line per zone
    dns-safeguards serve-dns --zone example.com --port 5353       # dig @127.0.0.1 -p 5353 api.example.com
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["enact", "publish", "register", "serve_dns"]

_JSON_HELP = "Machine-readable output on stdout (enact: one JSON line per zone and cycle)."
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--signing-key-file",
        metavar="FILE",
        help="HMAC-SHA256 key (at least 16 bytes): publish signs with it, enact refuses plans not signed "
        "with it. Default: DNSSG_SIGNING_KEY_FILE, else DNSSG_SIGNING_KEY, if set.",
    ),
]


def _signer(path: Path | None) -> Any:
    """The key of --signing-key-file, else of DNSSG_SIGNING_KEY_FILE, else DNSSG_SIGNING_KEY (or None)."""
    import os

    from .signing import HmacSigner

    path = path or (Path(os.environ["DNSSG_SIGNING_KEY_FILE"]) if os.environ.get("DNSSG_SIGNING_KEY_FILE") else None)
    return HmacSigner.from_file(path) if path is not None else HmacSigner.from_env()


def publish(
    plan_file: Annotated[
        Path, typer.Argument(metavar="PLAN_FILE", help="Plan file (YAML or JSON).", show_default=False)
    ],
    keep_generation: Annotated[
        bool,
        typer.Option(
            "--keep-generation",
            help="Publish under the plan's own generation (it must be newer than every published one) instead "
            "of the plan store's next.",
        ),
    ] = False,
    signing_key_file: KeyFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Publish a plan for the enactors: validate, number, checksum, sign, store. Never writes Route 53."""
    from . import cli
    from .service.planner import Planner

    plan = cli._load(plan_file)
    signer = _signer(signing_key_file)
    store = cli._wiring().applier.store
    published = Planner(store, signer=signer, renumber=not keep_generation).publish_plan(plan)
    if as_json:
        print(json.dumps(published.to_dict()))
        return
    again = "" if published.new else ", already published"
    signed = ", signed" if published.signed else ""
    what = f"{published.zone} generation {published.generation}"
    print(f"published: {what} (checksum {published.checksum[:12]}{signed}{again})")


def enact(
    zone: Annotated[
        list[str],
        typer.Option("--zone", "-z", metavar="ZONE", help="Zone to enact (repeatable).", show_default=False),
    ],
    interval: Annotated[
        float,
        typer.Option(
            "--interval", metavar="SECONDS", min=0.01, help="Seconds between full cycles (read Route 53, repair)."
        ),
    ] = 30.0,
    poll: Annotated[
        float | None,
        typer.Option(
            "--poll", metavar="SECONDS", min=0.01, help="Seconds between plan-store polls (default min(1, interval))."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one full cycle and exit (exit code of the worst zone).")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            metavar="PORT",
            min=0,
            max=65535,
            help="Serve /metrics (Prometheus), /healthz, /readyz and /status on 127.0.0.1:PORT (0: any free port).",
        ),
    ] = None,
    verify_dns: Annotated[
        str | None,
        typer.Option("--verify-dns", metavar="HOST[:PORT]", help="After each stage, resolve the changed names here."),
    ] = None,
    owner: Annotated[
        str,
        typer.Option(
            "--owner", metavar="OWNER", help="Enact this owner's plans (shared zones; default dns-safeguards)."
        ),
    ] = "dns-safeguards",
    signing_key_file: KeyFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help=_JSON_HELP)] = False,
) -> None:
    """Enact continuously: apply the newest published plan, clean up, repair drift every interval.
    SIGTERM/SIGINT stop between batches and give the lease back."""
    from . import cli
    from .service.enactor import Enactor, Stopper, ZoneReport, zones_of
    from .service.metrics import Metrics, MetricsServer

    zones = zones_of([cli._zone(z) for z in zone])
    stopper = Stopper()
    wiring = cli._wiring(checkpoint=stopper)
    if verify_dns:
        wiring.add_dns_verifier(verify_dns)
    applier = wiring.applier
    signer = _signer(signing_key_file)
    if signer is not None:
        applier.options = replace(applier.options, signer=signer)
    metrics = Metrics(enactor=applier.enactor_id)

    def show(report: ZoneReport) -> None:
        print(json.dumps(report.to_dict(), sort_keys=True) if as_json else report.line(), flush=True)

    from .fence import check_token

    enactor = Enactor(applier, zones, interval=interval, poll=poll, stopper=stopper, metrics=metrics, on_report=show,
                      owner=check_token("owner", owner))  # fmt: skip
    server = MetricsServer(metrics, port=metrics_port).start() if metrics_port is not None else None
    if server is not None:
        where = f"metrics: http://127.0.0.1:{server.port}/metrics"
        print(json.dumps({"metrics_port": server.port}) if as_json else where, flush=True)
    restore = enactor.install_signal_handlers()
    try:
        if once:
            from .service.enactor import EnactorStopped

            try:
                reports = enactor.run_once()
            except EnactorStopped:
                raise typer.Exit(130) from None
            codes = [r.exit_code for r in reports if r.exit_code]
            if codes:
                raise typer.Exit(max(codes))
            return
        enactor.run()
    finally:
        restore()
        if server is not None:
            server.close()
    if not as_json:
        print(f"stopped: {applier.enactor_id} (lease given back)", flush=True)
    else:
        print(json.dumps({"stopped": applier.enactor_id}), flush=True)


def serve_dns(
    zone: Annotated[
        list[str],
        typer.Option("--zone", "-z", metavar="ZONE", help="Zone to answer for (repeatable).", show_default=False),
    ],
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="UDP and TCP port (0: any free port).")
    ] = 5353,
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    as_json: Annotated[bool, typer.Option("--json", help="Print where it listens as JSON.")] = False,
) -> None:
    """Answer DNS queries (UDP and TCP) with the records the backend holds now, until SIGTERM/SIGINT:
    dig @127.0.0.1 -p PORT api.example.com, or --verify-dns 127.0.0.1:PORT."""
    import signal
    import threading

    from . import cli
    from .service.dnsserver import DnsResponder
    from .service.enactor import zones_of

    zones = zones_of([cli._zone(z) for z in zone])
    backend = cli._wiring().applier.backend
    for z in zones:
        backend.resolve_zone(z)  # ZoneNotFound (exit 2) before listening
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with DnsResponder(backend, zones, host=host, port=port) as responder:
            where = {"host": responder.host, "port": responder.port, "zones": zones}
            text = f"serving DNS for {', '.join(zones)} on {responder.host}:{responder.port} (udp, tcp)"
            print(json.dumps(where) if as_json else text, flush=True)
            while not done.wait(3600):
                pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def register(app: typer.Typer) -> None:
    """Add ``publish``, ``enact`` and ``serve-dns`` to the main app (idempotent)."""
    from . import cli

    have = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    for name, fn in (("publish", publish), ("enact", enact), ("serve-dns", serve_dns)):
        if name not in have:
            app.command(name, cls=cli._Command)(cli.handle_errors()(cli.takes_global_options(fn)))
