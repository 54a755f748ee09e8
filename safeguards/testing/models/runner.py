"""Run Spin on the Promela models: what each run checks, what it must find, and its figures.

Each `Run` compiles one model with its `-D` settings (``spin -a``, then ``gcc``), runs the
verifier (``pan``) and, when Spin reports an error, replays the trail (``spin -t``) to get the
``@@`` lines the models print. A run passes when Spin finds a violation exactly when one is
expected: the naive enactor must have a counterexample, the fixed protocol none, and the fixed
protocol with its fence compare removed (``-DNOFENCE``) must have one again.

Spin and a C compiler come from the system (Debian: ``apt-get install -y spin gcc``); nothing
is installed here. `SpinMissing` says so when they are absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

MODELS = Path(__file__).resolve().parent
NAIVE = MODELS / "naive.pml"
FIXED = MODELS / "fixed.pml"


class SpinMissing(RuntimeError):
    """spin or a C compiler is not on PATH."""


@dataclass(frozen=True)
class Run:
    """One verification: `model` compiled with `defines`; `expect_violation` says what must come out.
    `bfs`: breadth-first search (shortest trail; needs a model without hidden variables);
    `liveness`: acceptance cycles under weak fairness (the model's ltl property)."""

    name: str
    model: Path
    defines: tuple[str, ...]
    expect_violation: bool
    what: str
    bfs: bool = False
    liveness: bool = False

    def spin_flags(self) -> list[str]:
        return [f"-D{d}" for d in self.defines]


@dataclass
class Result:
    """What Spin reported for one `Run`."""

    run: Run
    states: int = 0
    transitions: int = 0
    depth: int = 0
    errors: int = 0
    seconds: float = 0.0
    search_seconds: float = 0.0
    message: str = ""
    trail: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def violated(self) -> bool:
        return self.errors > 0

    @property
    def ok(self) -> bool:
        return self.violated == self.run.expect_violation and not self.message.startswith("failed")

    def line(self) -> str:
        verdict = "ok  " if self.ok else "FAIL"
        found = f"violation: {self.message}" if self.violated else "no violation"
        trail = f", trail {len(self.trail)} steps" if self.trail else ""
        return (
            f"{verdict} {self.run.name:<22} {self.states:>10,} states {self.transitions:>12,} transitions "
            f"depth {self.depth:>4} search {self.search_seconds:5.1f} s, {self.seconds:5.1f} s in all  {found}{trail}"
        )


def _scope(**kw: int | str) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in kw.items())


#: The runs CI makes. Figures for docs/formal-model.md come from `python -m safeguards.testing.models`.
RUNS: tuple[Run, ...] = (
    Run(
        "naive-I1",
        NAIVE,
        _scope(NE=3, NG=3, E=2, KEEP=0, INV=1),
        True,
        "naive enactor, 3 enactors x 3 generations, every fault: an endpoint empty (shortest trail)",
        bfs=True,
    ),
    Run(
        "naive-I1-regional",
        NAIVE,
        (*_scope(NE=3, NG=3, E=2, KEEP=0, INV=1), "REGIONAL"),
        True,
        "the same, the regional endpoint empty: the 2025 trail",
        bfs=True,
    ),
    Run("naive-I2", NAIVE, _scope(NE=3, NG=3, E=2, KEEP=0, INV=2), True, "naive: a pointer goes back", bfs=True),
    Run("naive-I3", NAIVE, _scope(NE=3, NG=3, E=2, KEEP=0, INV=3), True, "naive: a live plan deleted", bfs=True),
    Run(
        "fixed-enactors",
        FIXED,
        _scope(NE=3, NG=3, E=2, KEEP=0, REPAIR=0, ROLLBACK=0, NWIPE=0, NFAULTS=1),
        False,
        "fixed: 3 enactors x 3 generations + planner; any one fault (crash, lost response, stale read, "
        "failed gate) at any step; leases lost at every step",
    ),
    Run(
        "fixed-recovery",
        FIXED,
        _scope(NE=2, NG=3, E=2, KEEP=0, REPAIR=1, ROLLBACK=1, NWIPE=1, NFAULTS=0),
        False,
        "fixed: 2 enactors + repair + rollback + an outside deletion + planner",
    ),
    Run(
        "fixed-recovery-faults",
        FIXED,
        _scope(NE=1, NG=3, E=2, KEEP=0, REPAIR=1, ROLLBACK=1, NWIPE=1, NFAULTS=1),
        False,
        "fixed: 1 enactor + repair + rollback + outside deletion + planner; any one fault",
    ),
    Run(
        "fixed-I4",
        FIXED,
        (*_scope(NE=3, NG=3, E=2, KEEP=0, REPAIR=1, ROLLBACK=0, NGATE=0, NWIPE=1, NFAULTS=1), "LIVE"),
        False,
        "fixed, I4: <>[] newest plan live and complete, weak fairness; 3 enactors + repair + outside "
        "deletion, any one fault (crash, lost response, stale read, lease loss)",
        liveness=True,
    ),
    Run(
        "fixed-NOFENCE",
        FIXED,
        (*_scope(NE=3, NG=3, E=2, KEEP=0, REPAIR=0, ROLLBACK=0, NWIPE=0, NFAULTS=0), "NOFENCE"),
        True,
        "fixed with the fence compare removed (-DNOFENCE): a violation",
    ),
    Run(
        "fixed-NOPIN",
        FIXED,
        (*_scope(NE=2, NG=3, E=2, KEEP=0, REPAIR=1, ROLLBACK=1, NWIPE=1, NFAULTS=0), "NOPIN"),
        True,
        "fixed-recovery with pins that protect nothing (-DNOPIN): a violation",
    ),
    Run(
        "fixed-PIN_STAMP",
        FIXED,
        (*_scope(NE=2, NG=3, E=2, KEEP=0, REPAIR=1, ROLLBACK=1, NWIPE=1, NFAULTS=0), "PIN_STAMP"),
        True,
        "fixed-recovery with a time-based pin rule (a pin made at/after clean-up's decision blocks it): a violation",
    ),
)


def tools() -> tuple[str, str]:
    """Paths of spin and the C compiler; SpinMissing if either is absent."""
    spin = shutil.which("spin")
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if spin is None or cc is None:
        missing = " and ".join(n for n, p in (("spin", spin), ("a C compiler", cc)) if p is None)
        raise SpinMissing(f"{missing} not found on PATH: install them with `apt-get install -y spin gcc`")
    return spin, cc


def _int(pattern: str, text: str) -> int:
    m = re.search(pattern, text)
    return int(float(m.group(1))) if m else 0


def verify(run: Run, *, extra: Sequence[str] = (), timeout: float = 600.0) -> Result:
    """Compile and run one verification; returns its figures (and the trail when it failed)."""
    spin, cc = tools()
    result = Result(run)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"spin-{run.name}-") as tmp:
        work = Path(tmp)
        model = work / run.model.name
        shutil.copyfile(run.model, model)
        flags = [*run.spin_flags(), *extra]

        def sh(cmd: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)

        gen = sh([spin, *flags, "-a", model.name])
        if gen.returncode != 0:
            result.message = f"failed: spin -a: {gen.stdout}{gen.stderr}".strip()
            return result
        # The naive model's pan.c is large and its searches small: compiling it optimised costs
        # more than it saves.
        cflags = ["-O0" if run.bfs else "-O2", "-w", "-DNOBOUNDCHECK"]
        if run.liveness:
            cflags.append("-DNFAIR=4")
        else:
            cflags.append("-DSAFETY")
        if run.bfs:
            cflags.append("-DBFS")
        comp = sh([cc, *cflags, "-o", "pan", "pan.c"])
        if comp.returncode != 0:
            result.message = f"failed: {cc}: {comp.stderr[-2000:]}"
            return result
        # Hash tables of 2^21 / 2^24 slots: the largest run stores 3.4 million states.
        pan = ["./pan", "-m300000", "-w21" if run.bfs else "-w24", "-c1"]
        if run.liveness:
            pan += ["-a", "-f"]
        out = sh(pan)
        text = out.stdout + out.stderr
        result.output = text
        result.states = _int(r"(\d+(?:\.\d+)?(?:e\+\d+)?) states, stored", text)
        result.transitions = _int(r"(\d+(?:\.\d+)?(?:e\+\d+)?) transitions", text)
        result.depth = _int(r"depth reached (\d+)", text)
        result.errors = _int(r"errors: (\d+)", text)
        m = re.search(r"elapsed time (\d+(?:\.\d+)?(?:e[+-]\d+)?) seconds", text)
        result.search_seconds = float(m.group(1)) if m else 0.0
        if "pan: out of memory" in text or "errors:" not in text:
            result.message = f"failed: pan did not finish: {text[-1000:]}"
            return result
        if result.errors:
            m = re.search(r"pan:1: (.*)", text)
            result.message = m.group(1).strip() if m else "error"
            replay = sh([spin, "-T", "-t", *flags, model.name])
            result.trail = [ln[3:].strip() for ln in replay.stdout.splitlines() if ln.startswith("@@ ")]
    result.seconds = time.monotonic() - started
    return result


def verify_all(runs: Iterable[Run] = RUNS, *, workers: int | None = None) -> list[Result]:
    """Every run, `workers` at a time (default: the CPUs we may use, at most 2)."""
    runs = list(runs)
    if workers is None:
        workers = max(1, min(2, len(os.sched_getaffinity(0))))
    tools()
    # Longest first, so that the two workers finish together.
    order = sorted(range(len(runs)), key=lambda i: runs[i].model == FIXED and not runs[i].expect_violation)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {i: pool.submit(verify, runs[i]) for i in reversed(order)}
        return [futures[i].result() for i in range(len(runs))]
