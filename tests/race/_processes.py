"""Real OS processes for the race tests: the `dns-safeguards` CLI run in a child process whose
checkpoints can stop it until the test lets it go. No sleeps: a stopped child is parked on a Unix
socket the test listens on, and waits for the test's "go".

Run as a script, this module is the child: ``python _processes.py <dns-safeguards arguments>``,
with, in its environment,

- ``DNSSG_TEST_GATE``: the test's Unix socket;
- ``DNSSG_TEST_STOPS``: where to stop, ``;``-separated, each ``name`` or ``name key=value ...``
  (matched against the checkpoint's context); each stop fires once, at its first match;
- ``DNSSG_TEST_LEASE_WAIT``: seconds the applier waits for a busy lease (0: take it at once or
  fail with LeaseLost), to prove a dead holder's lease is taken over without waiting it out.

Everything else is the CLI as a user runs it: same options, same exit codes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from safeguards.fence import Fence, ZoneView
from safeguards.records import Change, RecordSet

GATE = "DNSSG_TEST_GATE"
STOPS = "DNSSG_TEST_STOPS"
LEASE_WAIT = "DNSSG_TEST_LEASE_WAIT"
#: Bound on every wait: nothing may hang the suite.
WAIT_S = 90.0


# ---------------------------------------------------------------------------------- child side


@dataclass
class Stop:
    name: str
    where: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Stop:
        name, *pairs = text.split()
        return cls(name, dict(p.split("=", 1) for p in pairs))

    def matches(self, name: str, context: Mapping[str, Any]) -> bool:
        return name == self.name and all(str(context.get(k)) == v for k, v in self.where.items())


class SocketCheckpoint:
    """The child's checkpoint hook: at a stop, tell the test where we are and wait for "go"."""

    def __init__(self, path: str, stops: Sequence[Stop]) -> None:
        self.path = path
        self.pending = list(stops)

    def __call__(self, name: str, **context: Any) -> None:
        stop = next((s for s in self.pending if s.matches(name, context)), None)
        if stop is None:
            return
        self.pending.remove(stop)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.path)
            message = {"name": name, "context": context, "pid": os.getpid()}
            s.sendall(json.dumps(message, default=str).encode() + b"\n")
            with s.makefile("r") as f:
                reply = f.readline().strip()
        if reply != "go":
            raise SystemExit(f"test gate said {reply!r} at {name}")


def child_main(argv: Sequence[str]) -> None:
    """The CLI, with the test's checkpoint hook (and lease wait) wired into its applier."""
    from safeguards import wiring

    real = wiring.build_applier
    gate = os.environ.get(GATE)
    stops = [Stop.parse(s) for s in os.environ.get(STOPS, "").split(";") if s.strip()]
    hook = SocketCheckpoint(gate, stops) if gate and stops else None
    lease_wait = os.environ.get(LEASE_WAIT)

    def build(settings: Any, *, checkpoint: Any = None) -> Any:
        built = real(settings, checkpoint=hook or checkpoint)
        if lease_wait is not None:
            applier = built.applier
            applier.options = dataclasses.replace(applier.options, lease_wait=float(lease_wait))
        return built

    wiring.build_applier = build
    from safeguards.cli import main

    main(list(argv))


# ---------------------------------------------------------------------------------- test side


@dataclass
class Parked:
    """A child stopped at a checkpoint, until `go`."""

    conn: socket.socket
    name: str
    context: dict[str, Any]
    pid: int

    def go(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.sendall(b"go\n")
        self.conn.close()


class Gate:
    """The test's end: children connect at their stops; `reached` returns the next one parked."""

    def __init__(self, directory: Path) -> None:
        # Unix socket paths are short (108 bytes): a fresh short directory, not pytest's tmp_path.
        self._dir = tempfile.mkdtemp(prefix="dnssg-gate-")
        self.path = os.path.join(self._dir, "gate.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.sock.settimeout(1.0)  # `reached` checks the child is still alive every second
        self.parked: list[Parked] = []

    def reached(self, name: str, proc: subprocess.Popen[str] | None = None) -> Parked:
        """Wait (bounded) for a child to park at checkpoint `name`; fail as soon as `proc` exits
        without having reached it."""
        conn = None
        for _ in range(int(WAIT_S)):
            try:
                conn, _ = self.sock.accept()
                break
            except TimeoutError:
                if proc is not None and proc.poll() is not None:
                    out, errs = proc.communicate()
                    raise AssertionError(
                        f"the child exited {proc.returncode} before reaching {name}: {out.strip()} {errs.strip()}"
                    ) from None
        if conn is None:
            raise AssertionError(f"no child reached {name} within {WAIT_S:.0f} s")
        conn.settimeout(WAIT_S)
        with conn.makefile("r") as f:
            message = json.loads(f.readline())
        parked = Parked(conn, message["name"], message["context"], int(message["pid"]))
        self.parked.append(parked)
        assert parked.name == name, f"expected a child at {name}, got one at {parked.name} {parked.context}"
        return parked

    def close(self) -> None:
        for p in self.parked:
            p.go()
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


@contextlib.contextmanager
def gate(directory: Path) -> Iterator[Gate]:
    g = Gate(directory)
    try:
        yield g
    finally:
        g.close()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.out)


class Cli:
    """`dns-safeguards` with fixed global options, run as child processes."""

    def __init__(
        self, global_args: Sequence[str], gate: Gate | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.global_args = list(global_args)
        self.gate = gate
        self.env = dict(env or {})
        self.children: list[subprocess.Popen[str]] = []

    def start(
        self, *args: str, stops: Sequence[str] = (), lease_wait: float | None = None, enactor: str | None = None
    ) -> subprocess.Popen[str]:
        env = {**os.environ, **self.env}
        env.pop(STOPS, None)
        env.pop(LEASE_WAIT, None)
        if stops:
            assert self.gate is not None, "stops need a gate"
            env[GATE] = self.gate.path
            env[STOPS] = ";".join(stops)
        if lease_wait is not None:
            env[LEASE_WAIT] = str(lease_wait)
        ident = ["--enactor-id", enactor] if enactor else []
        argv = [sys.executable, __file__, *args, *self.global_args, *ident]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.children.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str]) -> Result:
        out, err = proc.communicate(timeout=WAIT_S)
        return Result(proc.returncode, out, err)

    def run(self, *args: str, **kw: Any) -> Result:
        return self.finish(self.start(*args, **kw))

    def setup(self, *plans: Path) -> None:
        """Apply `plans` in this process, through the same wiring the CLI uses (a quicker start
        for what a test only needs as its starting point)."""
        from safeguards.cli import BackendKind, Settings
        from safeguards.plan import load_plan
        from safeguards.wiring import build_applier

        opts = dict(zip(self.global_args[::2], self.global_args[1::2], strict=True))
        settings = Settings(
            state=Path(opts.get("--state", ".dns-safeguards")),
            backend=BackendKind.aws if "--endpoint-url" in opts else BackendKind.embedded,
            endpoint_url=opts.get("--endpoint-url"),
            region=opts.get("--region", "us-east-1"),
            plan_table=opts.get("--plan-table"),
            lease_table=opts.get("--lease-table", "dns-safeguards-leases"),
            enactor_id="setup",
            create_zone=True,
        )
        applier = build_applier(settings).applier
        for path in plans:
            result = applier.apply(load_plan(path))
            assert result.outcome == "applied", result

    def kill9(self, proc: subprocess.Popen[str]) -> None:
        """SIGKILL: no clean-up of any kind runs in the child (its lease stays recorded)."""
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=WAIT_S)  # reaped: the pid is gone
        assert proc.returncode == -signal.SIGKILL

    def close(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(Exception):
                    proc.communicate(timeout=WAIT_S)


# ---------------------------------------------------------------------------------- plans


#: The names of the plans below: ``api`` (the canary: 3 values, at least 2) and ``web1`` change with
#: every generation; ``web2`` .. ``web<n>`` never do (2 of the sets change: the blast-radius guard's
#: floor, so applies and rollbacks need no --force).
def plan_doc(zone: str, generation: int, webs: int = 6) -> dict[str, Any]:
    """Plan `generation`: api's and web1's values encode the generation (``10.<g>.<n>.<i>``)."""
    api = [f"10.{generation}.0.{i}" for i in (1, 2, 3)]
    records = [{"name": "api", "type": "A", "ttl": 60, "values": api, "min_values": 2}]
    records += [
        {
            "name": f"web{n}",
            "type": "A",
            "ttl": 60,
            "values": [f"10.{generation if n == 1 else 0}.{n}.{i}" for i in (1, 2)],
        }
        for n in range(1, webs + 1)
    ]
    return {"zone": zone, "generation": generation, "records": records, "canary": ["api"]}


def write_plan(directory: Path, zone: str, generation: int, webs: int = 6) -> Path:
    path = directory / f"g{generation}.json"
    path.write_text(json.dumps(plan_doc(zone, generation, webs)))
    return path


def content_of(values: Sequence[str]) -> int | None:
    """The generation a name's values come from (None: none, or several)."""
    gens = {int(v.split(".")[1]) for v in values if v.startswith("10.")}
    return gens.pop() if len(gens) == 1 and len(values) > 0 else None


# ---------------------------------------------------------------------------------- scenarios


class Target(Protocol):
    """The zone the children write, read and damaged from outside the CLI."""

    zone: str

    def view(self) -> ZoneView: ...

    def vandalise(self) -> None:
        """Something outside the library drops `api` to one value (its minimum is 2)."""
        ...


#: The names whose content changes with every generation (the others never do).
CHANGING = ("api", "web1")


def contents(target: Target, webs: int = 6) -> dict[str, int | None]:
    """api's and web1's content generation; the constant names checked untouched on the way."""
    view = target.view()
    for n in range(2, webs + 1):
        assert content_of(view.by_key[(f"web{n}.{target.zone}", "A", None)].values) == 0
    return {n: content_of(view.by_key[(f"{n}.{target.zone}", "A", None)].values) for n in CHANGING}


def fence_of(target: Target) -> Fence:
    fence = target.view().fence
    assert fence is not None
    return fence


def vandalised(backend: Any, zone: str) -> None:
    """Drop `api` to one value with one unconditional batch on `backend` (a Route53Backend)."""
    zone_id = backend.resolve_zone(zone)
    api = next(r for r in backend.list_record_sets(zone_id) if r.name == f"api.{zone}" and r.type == "A")
    one = RecordSet(api.name, "A", api.ttl, api.values[:1])
    backend.change_record_sets(zone_id, [Change("DELETE", api), Change("CREATE", one)], "vandal")


class Scenarios:
    """The process races, on any target: what test_processes.py (embedded default) and
    tests/integration/test_recovery_localstack.py (LocalStack, DynamoDB store) both run."""

    def __init__(self, cli: Cli, gate: Gate, target: Target, plans: Path) -> None:
        self.cli, self.gate, self.target, self.plans = cli, gate, target, plans

    def plan(self, generation: int) -> Path:
        return write_plan(self.plans, self.target.zone, generation)

    def setup(self, *generations: int) -> None:
        self.cli.setup(*(self.plan(g) for g in generations))

    def applied(self, generation: int) -> None:
        r = self.cli.run("apply", str(self.plan(generation)), "--json")
        assert r.code == 0 and r.json["outcome"] == "applied", r.err or r.out

    def everywhere(self, generation: int) -> None:
        assert contents(self.target) == dict.fromkeys(CHANGING, generation)
        fence = fence_of(self.target)
        assert (fence.generation, fence.content, fence.done) == (generation, generation, True), fence

    def repair_decided_before_a_newer_apply(self) -> None:
        """g10 live; api dropped below its minimum; `repair` reads and decides (api), then is
        held; `apply g11` runs to its end in another process; `repair` goes on: its batch carries
        g10's fence, Route 53 rejects it, and the fresh read leaves nothing to repair."""
        cli, gate, zone = self.cli, self.gate, self.target.zone
        self.setup(10)
        self.target.vandalise()
        repair = cli.start("repair", "-z", zone, "--json", stops=["decided action=repair"])
        decided = gate.reached("decided", repair)
        assert decided.context["broken"] == 1 and decided.context["generation"] == 10
        self.applied(11)
        decided.go()
        r = cli.finish(repair)
        assert r.code == 0 and r.json["outcome"] == "noop", r.err or r.out
        self.everywhere(11)
        assert fence_of(self.target).rank == (11, 0)

    def repair_held_while_a_newer_apply_holds_the_lease(self) -> None:
        """The same with the newer apply stopped after its canary batch (holding the lease, the
        zone mixed) when the repair is let go: it waits for the lease, then finds nothing to do."""
        cli, gate, zone = self.cli, self.gate, self.target.zone
        self.setup(10)
        self.target.vandalise()
        repair = cli.start("repair", "-z", zone, "--json", stops=["decided action=repair"])
        decided = gate.reached("decided", repair)
        apply = cli.start("apply", str(self.plan(11)), "--json", stops=["batch.before index=2"])
        second = gate.reached("batch.before", apply)
        assert contents(self.target) == {"api": 11, "web1": 10}  # mixed: the canary is written
        decided.go()
        second.go()
        a, r = cli.finish(apply), cli.finish(repair)
        assert a.code == 0 and a.json["outcome"] == "applied", a.err or a.out
        assert r.code == 0 and r.json["outcome"] == "noop", r.err or r.out
        self.everywhere(11)

    def rollback_decided_before_a_newer_apply(self) -> None:
        """g9 then g10 live; `rollback` decides "g10 -> g9", is held; `apply g11` ends; the
        rollback goes on and stops with exit 4 (stale), g11 untouched everywhere."""
        cli, gate, zone = self.cli, self.gate, self.target.zone
        self.setup(9, 10)
        rollback = cli.start("rollback", "-z", zone, "--yes", "--json", stops=["decided action=rollback"])
        decided = gate.reached("decided", rollback)
        assert decided.context["to"] == 9 and decided.context["generation"] == 10
        self.applied(11)
        decided.go()
        r = cli.finish(rollback)
        assert r.code == 4 and r.json["kind"] == "StaleGeneration", r.out + r.err
        assert "was decided while g10 was live; g11 is live now" in r.json["error"]
        self.everywhere(11)
        assert fence_of(self.target).rank == (11, 0)

    def repair_and_rollback_during_a_newer_apply(self) -> None:
        """Both at once: repair and rollback decided on g10, the apply of g11 stopped between its
        batches, then everyone let go. Neither corrective write lands; g11 ends live everywhere."""
        cli, gate, zone = self.cli, self.gate, self.target.zone
        self.setup(9, 10)
        self.target.vandalise()
        repair = cli.start("repair", "-z", zone, "--json", stops=["decided action=repair"])
        r_decided = gate.reached("decided", repair)
        rollback = cli.start("rollback", "-z", zone, "--yes", "--json", stops=["decided action=rollback"])
        u_decided = gate.reached("decided", rollback)
        apply = cli.start("apply", str(self.plan(11)), "--json", stops=["batch.before index=2"])
        second = gate.reached("batch.before", apply)
        u_decided.go()
        r_decided.go()
        second.go()
        a, r, u = cli.finish(apply), cli.finish(repair), cli.finish(rollback)
        assert a.code == 0 and a.json["outcome"] == "applied", a.err or a.out
        assert r.code == 0 and r.json["outcome"] == "noop", r.err or r.out
        assert u.code == 4 and u.json["kind"] == "StaleGeneration", u.out + u.err
        self.everywhere(11)

    def rollback_after_the_newer_apply(self) -> None:
        """Decided on g11 (not before it), a rollback goes through: g10's content under g11.r1."""
        self.setup(10, 11)
        r = self.cli.run("rollback", "-z", self.target.zone, "--yes", "--json")
        assert r.code == 0, r.err
        assert r.json["outcome"] == "rolled-back" and r.json["rolled_back_to"] == 10, r.out
        assert contents(self.target) == dict.fromkeys(CHANGING, 10)
        fence = fence_of(self.target)
        assert (fence.generation, fence.rev, fence.content, fence.done) == (11, 1, 10, True)

    def killed_lease_holder(self, finisher: str) -> None:
        """`apply g11` holds the lease, its canary batch written (the zone mixed), and is killed
        with SIGKILL. Another process (another enactor id, lease wait 0: it must take the lease at
        once or fail) finishes g11: `apply g11` resumes it, or `repair` completes it."""
        cli, gate, zone = self.cli, self.gate, self.target.zone
        self.setup(10)
        first = cli.start("apply", str(self.plan(11)), "--json", stops=["batch.before index=2"], enactor="first")
        gate.reached("batch.before", first)
        assert contents(self.target) == {"api": 11, "web1": 10}
        live = fence_of(self.target)
        assert not live.done and live.writer == "first"
        cli.kill9(first)
        if finisher == "apply":
            r = cli.run("apply", str(self.plan(11)), "--json", lease_wait=0, enactor="second")
            assert r.code == 0 and r.json["outcome"] == "resumed", r.out + r.err
        else:
            r = cli.run("repair", "-z", zone, "--json", lease_wait=0, enactor="second")
            assert r.code == 0 and r.json["outcome"] == "repaired", r.out + r.err
        self.everywhere(11)
        assert fence_of(self.target).writer == "second"


if __name__ == "__main__":
    child_main(sys.argv[1:])
