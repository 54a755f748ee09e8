"""``python -m safeguards.testing.models [NAME ...]``: run the Spin verifications (all, or those
named), print their figures and the counterexample trails, replay the naive trails in the
Python race harness. Exit status 0 when every run found what it must (and the replays agree),
1 otherwise, 2 when spin or gcc is missing."""

from __future__ import annotations

import sys
import time

from .runner import RUNS, SpinMissing, tools, verify_all
from .trail import parse_trail, replay_in_harness


def main(argv: list[str]) -> int:
    wanted = set(argv)
    unknown = wanted - {r.name for r in RUNS}
    if unknown:
        print(f"unknown run(s): {', '.join(sorted(unknown))}; known: {', '.join(r.name for r in RUNS)}")
        return 2
    runs = [r for r in RUNS if not wanted or r.name in wanted]
    try:
        spin, cc = tools()
    except SpinMissing as exc:
        print(f"models: {exc}")
        return 2
    print(f"models: {spin}, {cc}; {len(runs)} runs")
    started = time.monotonic()
    results = verify_all(runs)
    wall = time.monotonic() - started
    ok = True
    for res in results:
        print(res.line())
        print(f"     {res.run.what}; -D {' '.join(res.run.defines)}")
        ok &= res.ok
    print(f"models: {sum(r.states for r in results):,} states in all, {wall:.1f} s wall clock")
    for res in results:
        if not res.trail:
            continue
        print(f"\n{res.run.name}: {res.message}")
        for n, line in enumerate(res.trail, 1):
            print(f"  {n:3d}. {line}")
        if res.run.name.startswith("naive"):
            steps = parse_trail(res.trail)
            replay = replay_in_harness(steps)
            agree = not replay.mismatches
            print(f"  harness schedule: {replay.schedule}")
            print(
                f"  harness: checkpoints {'agree' if agree else 'DIFFER'}; violations {replay.broken()}; "
                f"empty endpoints {replay.empty}"
            )
            for m in replay.mismatches:
                print(f"    {m}")
            ok &= agree
    print(f"\nmodels: {'every run found what it must' if ok else 'SOME RUNS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
