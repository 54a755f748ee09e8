"""Benchmark 4, exploration speed: race schedules per second of the harness
(`safeguards.testing.explore`), each schedule a fresh world run to its end with I1-I5 checked.

Three measurements on the default scope (guarded: 2 enactors x 1 round, 2 plans, 2 names):
seeded random schedules with every fault kind on one worker, the exhaustive depth-first search
(sleep-set pruned schedules count, as the harness counts them), and random on every CPU. Each
run is sized from a short calibration so it takes a few seconds. When the harness is not there,
the figures say "not available".
"""

from __future__ import annotations

import os
import time
from typing import Any

from .report import BenchResult, Figure

GOAL_RATE = 1000.0
TARGET_SECONDS = 6.0
QUICK_SCHEDULES = 30
MAX_SCHEDULES = 20_000


def _figure(name: str, result: Any, note: str = "") -> Figure:
    rate = result.rate
    per_step = result.elapsed / result.steps * 1e6 if result.steps else 0.0
    total = result.schedules + result.pruned
    return Figure(
        name,
        rate,
        "schedules/s",
        f"≥ {GOAL_RATE:,.0f}/s",
        rate / GOAL_RATE,
        "measured/goal",
        rate >= GOAL_RATE,
        note=f"{total:,} schedules ({result.pruned} pruned) in {result.elapsed:.2f} s; "
        f"{result.steps / max(1, total):.1f} steps/schedule, {per_step:.0f} µs/step; "
        f"{result.violating} violating{note}",
    )


def run(quick: bool = False) -> BenchResult:
    """The exploration benchmark."""
    res = BenchResult("explore", "4. Exploration speed: race schedules per second (safeguards.testing.explore)")
    t0 = time.perf_counter()
    try:
        from safeguards.testing.explore import Scope, explore_exhaustive, explore_random
        from safeguards.testing.scheduler import FAULTS
    except ImportError as exc:
        res.figures.append(
            Figure(
                "schedules per second",
                None,
                "schedules/s",
                f"≥ {GOAL_RATE:,.0f}/s",
                available=False,
                note=f"harness not available: {exc}",
            )
        )
        res.seconds = time.perf_counter() - t0
        return res

    scope = Scope()

    def sized(rate: float) -> int:
        return QUICK_SCHEDULES if quick else max(50, min(MAX_SCHEDULES, int(rate * TARGET_SECONDS)))

    calib = explore_random(scope, schedules=QUICK_SCHEDULES, seed=1, faults=FAULTS)
    n = sized(calib.rate)
    rnd = explore_random(scope, schedules=n, seed=2, faults=FAULTS)
    res.figures.append(_figure("random, all faults, 1 worker", rnd))

    exh = explore_exhaustive(scope, faults=(), limit=sized(rnd.rate))
    res.figures.append(
        _figure(
            "exhaustive (sleep sets), no faults, 1 worker",
            exh,
            "; complete" if exh.complete else "; stopped at its limit",
        )
    )

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus > 1 and not quick:
        par = explore_random(scope, schedules=sized(rnd.rate) * cpus, seed=3, faults=FAULTS, workers=cpus)
        res.figures.append(_figure(f"random, all faults, {cpus} workers", par, " (incl. process start-up)"))
    res.details = {
        "scope": {k: getattr(scope, k) for k in ("kind", "enactors", "plans", "names", "rounds")},
        "random": rnd.to_dict(),
        "exhaustive": exh.to_dict(),
    }
    for key in ("random", "exhaustive"):
        res.details[key].pop("failures", None)
    res.seconds = time.perf_counter() - t0
    return res
