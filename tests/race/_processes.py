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
from typing import Any

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

    def __init__(self, global_args: Sequence[str], gate: Gate | None = None) -> None:
        self.global_args = list(global_args)
        self.gate = gate
        self.children: list[subprocess.Popen[str]] = []

    def start(
        self, *args: str, stops: Sequence[str] = (), lease_wait: float | None = None, enactor: str | None = None
    ) -> subprocess.Popen[str]:
        env = dict(os.environ)
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


if __name__ == "__main__":
    child_main(sys.argv[1:])
