"""`python -m benchmarks [--json] [--quick] [--only NAME ...]`: run the benchmarks, print figures.

Figures are reported, never enforced: the exit status is 0 whatever they are (a benchmark that
crashes is reported as such and makes the exit status 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable

from .report import BenchResult, Figure, header, render_header, render_result, to_markdown


def _registry() -> dict[str, Callable[[bool], BenchResult]]:
    # Imported lazily so `--only api` does not pay for octoDNS imports.
    def api(quick: bool) -> BenchResult:
        from . import api_economy

        return api_economy.run(quick)

    def planning(quick: bool) -> BenchResult:
        from . import planning

        return planning.run(quick)

    def apply(quick: bool) -> BenchResult:
        from . import apply_scale

        return apply_scale.run(quick)

    def explore(quick: bool) -> BenchResult:
        from . import exploration

        return exploration.run(quick)

    def pulumi(quick: bool) -> BenchResult:
        from . import pulumi_calls

        return pulumi_calls.run(quick)

    return {"api": api, "planning": planning, "apply": apply, "explore": explore, "pulumi": pulumi}


NAMES = ("api", "planning", "apply", "explore", "pulumi")


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print a table (or JSON)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (figures not meaningful)")
    parser.add_argument(
        "--only",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}",
    )
    parser.add_argument("--save", metavar="FILE", help="also write the JSON report to FILE")
    parser.add_argument(
        "--markdown", metavar="FILE", help="print a saved JSON report (from --save) as Markdown tables; runs nothing"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        try:
            with open(args.markdown, encoding="utf-8") as fh:
                report = json.load(fh)
        except (OSError, ValueError) as exc:  # a missing or unreadable report is the user's input
            parser.error(f"--markdown {args.markdown}: not a saved report ({exc.__class__.__name__}: {exc})")
        print(to_markdown(report))
        return 0
    head = header(argv, args.quick)
    registry = _registry()
    results: list[BenchResult] = []
    crashed = False
    if not args.json:
        render_header(head)
    for name in args.only or NAMES:
        started = time.perf_counter()
        try:
            res = registry[name](args.quick)
        except Exception as exc:  # a crashed benchmark is a figure too: report it, run the others
            crashed = True
            res = BenchResult(name, f"{name} (crashed)")
            res.figures.append(
                Figure(
                    f"{name}: crashed",
                    None,
                    available=False,
                    note=f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}",
                )
            )
            res.details["traceback"] = traceback.format_exc()
        res.seconds = time.perf_counter() - started
        results.append(res)
        if not args.json:
            render_result(res)  # as each finishes: a full run takes minutes
    head["total_seconds"] = round(sum(r.seconds for r in results), 3)
    doc = {**head, "benchmarks": [r.to_dict() for r in results]}
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"total {head['total_seconds']:.1f} s")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
