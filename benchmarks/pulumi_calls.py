"""Benchmark 5, Pulumi at scale (issue 19): a plan file as one `GuardedPlan` vs one
`GuardedRecordSet` per record set vs `dns-safeguards apply` of the same file, for 10, 100 and
1,000 records, counted on the strict Route 53 model.

The dynamic providers' methods are called as the Pulumi engine would (`check`, then `create` or
`update`), so the counts are those of `pulumi up` without the CLI. Two scenarios:
- create: the stack's first `pulumi up`;
- rewrite: a `pulumi up` that changes every record's TTL. The plan resource's preview refuses it
  (blast radius) until `force` is set for that one up; one resource per set never trips the guard,
  since each of its plans changes a single set.

Route 53 takes about a minute to report a change INSYNC, and the providers wait for it after each
stage (the default `waitInsync: true`); operations on one zone are serialized by its lease. The
INSYNC figure is therefore waits x 60 s: what the run would spend waiting on AWS.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguards import Applier, ApplyOptions, SqlitePlanStore, StrictRoute53, load_plan

from .report import BenchResult, Figure

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10, 100, 1_000)
QUICK_SIZES = (10, 100)
ZONE = "example.com."
OWNER = "pulumi.bench.stack"
#: The plan store keeps each owner's generations apart (zone#owner).
KEY = f"{ZONE}#{OWNER}"  # safeguards.planstore.scope(ZONE, OWNER)
INSYNC_SECONDS = 60.0


@dataclass
class Count:
    """Route 53 calls and plan generations of one way of applying one scenario."""

    changes: int
    pages: int
    waits: int
    generations: int
    wall: float
    refused: str = ""

    @classmethod
    def of(cls, calls: Counter[str], generations: int, wall: float, refused: str = "") -> Count:
        return cls(
            calls["ChangeResourceRecordSets"],
            calls["ListResourceRecordSets"],
            calls["GetChange"],
            generations,
            wall,
            refused,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "change_calls": self.changes,
            "list_pages": self.pages,
            "insync_waits": self.waits,
            "generations": self.generations,
            "wall_seconds": round(self.wall, 3),
            "refused": self.refused,
        }


def records(n: int, ttl: int = 60) -> list[dict[str, Any]]:
    return [
        {"name": f"host{i}", "type": "A", "ttl": ttl, "values": [f"10.0.{i // 250}.{i % 250 + 1}"]} for i in range(n)
    ]


def _state() -> tempfile.TemporaryDirectory[str]:
    # The plan store commits on every step: on tmpfs the run measures calls, not the disk.
    shm = "/dev/shm"
    return tempfile.TemporaryDirectory(prefix="dnssg-pulumi-", dir=shm if os.path.isdir(shm) else None)


def _infra() -> None:
    # The providers are imported by plain name, as the Pulumi program does.
    if str(ROOT / "infra") not in sys.path:
        sys.path.insert(0, str(ROOT / "infra"))


def plan_resource(n: int) -> dict[str, Count]:
    """One `GuardedPlan`: create, the rewrite's refused preview, the forced rewrite."""
    _infra()
    from guarded_plan import GuardedPlanProvider

    out = {}
    with _state() as state:
        p = GuardedPlanProvider(backend="embedded", state=state, owner=OWNER)
        eng = p.engine()
        eng.backend = StrictRoute53(insync_after=0.0)  # in memory; the plan store stays SQLite
        calls = eng.backend.calls

        def step(recs: list[dict[str, Any]], olds: dict[str, Any] | None, **flags: Any) -> tuple[Any, str]:
            checked = p.check(olds or {}, {"zone": ZONE, "records": recs, **flags})
            if checked.failures:
                return None, checked.failures[0].reason
            if olds is None:
                return p.create(checked.inputs), ""
            return p.update("id", olds, checked.inputs), ""

        t = time.perf_counter()
        created, _ = step(records(n), None)
        out["create"] = Count.of(calls, len(eng.store.generations(KEY)), time.perf_counter() - t)
        calls.clear()
        t = time.perf_counter()
        _, refused = step(records(n, ttl=300), created.outs)
        gens = len(eng.store.generations(KEY))
        out["rewrite"] = Count.of(calls, gens - 1, time.perf_counter() - t, refused=refused.split(";")[0])
        calls.clear()
        t = time.perf_counter()
        step(records(n, ttl=300), created.outs, force=True)
        out["rewrite, force"] = Count.of(calls, len(eng.store.generations(KEY)) - gens, time.perf_counter() - t)
    return out


def per_record(n: int) -> dict[str, Count]:
    """One `GuardedRecordSet` per set: N creates, then N updates."""
    _infra()
    from guarded_record import GuardedRecordProvider

    out = {}
    with _state() as state:
        p = GuardedRecordProvider(backend="embedded", state=state, owner=OWNER)
        eng = p.engine()  # the provider's engine: swap in a counting in-memory model
        eng.backend = StrictRoute53(insync_after=0.0)
        calls = eng.backend.calls
        store = SqlitePlanStore(Path(state) / "plans.sqlite")

        def inputs(r: dict[str, Any]) -> dict[str, Any]:
            return p.check({}, {"zone": ZONE, **r}).inputs

        t = time.perf_counter()
        created = [p.create(inputs(r)) for r in records(n)]
        out["create"] = Count.of(calls, len(store.generations(KEY)), time.perf_counter() - t)
        calls.clear()
        gens = len(store.generations(KEY))
        t = time.perf_counter()
        for c, r in zip(created, records(n, ttl=300), strict=True):
            p.update(c.id, c.outs, inputs(r))
        out["rewrite"] = Count.of(calls, len(store.generations(KEY)) - gens, time.perf_counter() - t)
        store.close()
    return out


def cli_apply(n: int) -> dict[str, Count]:
    """`dns-safeguards apply FILE` on the embedded default (the CLI's applier), then the rewrite
    with `--force`."""
    import yaml

    out = {}
    with _state() as state:
        model = StrictRoute53(insync_after=0.0)
        store = SqlitePlanStore(Path(state) / "plans.sqlite")
        applier = Applier(model, store, enactor_id="cli", options=ApplyOptions(create_zone=True))
        for label, gen, ttl, force in (("create", 1, 60, False), ("rewrite, force", 2, 300, True)):
            path = Path(state) / f"{label}.yaml"
            path.write_text(yaml.safe_dump({"zone": ZONE, "generation": gen, "records": records(n, ttl)}))
            model.calls.clear()
            t = time.perf_counter()
            applier.apply(load_plan(path), force=force)
            out[label] = Count.of(model.calls, 1, time.perf_counter() - t)
        store.close()
    return out


def run(quick: bool = False) -> BenchResult:
    """The Pulumi call-count benchmark."""
    res = BenchResult("pulumi", "5. Pulumi at scale: one GuardedPlan vs one GuardedRecordSet per set (strict model)")
    for n in QUICK_SIZES if quick else SIZES:
        plan, rec, cli = plan_resource(n), per_record(n), cli_apply(n)
        c = plan["create"]
        res.figures.append(
            Figure(
                f"{n:,} records, create: change calls, plan resource vs dns-safeguards apply",
                c.changes,
                "calls",
                "= CLI",
                c.changes / cli["create"].changes,
                "plan/CLI",
                c.changes == cli["create"].changes,
                note=f"CLI {cli['create'].changes}; one resource per set {rec['create'].changes}",
            )
        )
        res.figures.append(
            Figure(
                f"{n:,} records, create: generations, plan resource",
                c.generations,
                "",
                "1",
                passed=c.generations == 1,
                note=f"one resource per set: {rec['create'].generations}",
            )
        )
        res.figures.append(
            Figure(
                f"{n:,} records, create: one resource per set vs plan, change calls",
                rec["create"].changes,
                "calls",
                "(info)",
                rec["create"].changes / c.changes,
                "per-set/plan",
                note=f"list pages {rec['create'].pages:,} vs {c.pages:,} (the zone re-read by every resource)",
            )
        )
        res.figures.append(
            Figure(
                f"{n:,} records, create: INSYNC waits x {INSYNC_SECONDS:.0f} s on Route 53",
                rec["create"].waits * INSYNC_SECONDS / 60,
                "min",
                "(info)",
                rec["create"].waits / max(1, c.waits),
                "per-set/plan",
                note=f"one resource per set waits {rec['create'].waits:,} times in a row; the plan {c.waits} "
                f"({c.waits * INSYNC_SECONDS / 60:g} min)",
            )
        )
        forced, refused = plan["rewrite, force"], plan["rewrite"]
        res.figures.append(
            Figure(
                f"{n:,} records, rewrite every TTL: blast-radius guard",
                1 if refused.refused else 0,
                "",
                "plan refuses without force",
                passed=bool(refused.refused),
                note=f"plan: {refused.refused or 'not refused'} ({refused.changes} change calls); one resource per "
                f"set: {rec['rewrite'].changes:,} change calls in {rec['rewrite'].generations:,} generations, "
                "never refused",
            )
        )
        res.figures.append(
            Figure(
                f"{n:,} records, rewrite with force: change calls, plan vs dns-safeguards apply --force",
                forced.changes,
                "calls",
                "= CLI",
                forced.changes / cli["rewrite, force"].changes,
                "plan/CLI",
                forced.changes == cli["rewrite, force"].changes,
                note=f"{forced.generations} generation; one resource per set {rec['rewrite'].changes:,} calls, "
                f"{rec['rewrite'].waits:,} INSYNC waits",
            )
        )
        res.notes.append(
            f"{n:,} records side by side (plan resource / one resource per set / dns-safeguards apply): "
            f"create: change calls {c.changes} / {rec['create'].changes:,} / {cli['create'].changes}, generations "
            f"{c.generations} / {rec['create'].generations:,} / 1, INSYNC waits {c.waits} / {rec['create'].waits:,} / "
            f"{cli['create'].waits}, list pages {c.pages} / {rec['create'].pages:,} / {cli['create'].pages}; "
            f"rewrite: change calls {forced.changes} (force) / {rec['rewrite'].changes:,} / "
            f"{cli['rewrite, force'].changes} (--force)"
        )
        res.details[str(n)] = {
            "plan_resource": {k: v.to_dict() for k, v in plan.items()},
            "per_record": {k: v.to_dict() for k, v in rec.items()},
            "cli_apply": {k: v.to_dict() for k, v in cli.items()},
        }
    res.notes.append(
        "counts from `check` + `create`/`update` of the dynamic providers, as `pulumi up` calls them; "
        "list pages are 300 sets each; INSYNC waits are GetChange polls here (the model is INSYNC at once)"
    )
    return res
