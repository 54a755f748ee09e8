"""What the enactor reports: the result of an apply (or repair, rollback), a dry run's preview
with the guards' verdict, and a zone's status. Plain values with `to_dict()` for `--json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .diff import Diff
from .errors import GuardRefused, SafeguardsError, StaleGeneration
from .fence import Fence
from .guards import Verdict
from .plan import Plan
from .planstore import ZoneState
from .records import RecordSet

Outcome = Literal["applied", "noop", "dry-run", "resumed", "rolled-back", "repaired"]


@dataclass
class ApplyResult:
    """What an apply (or rollback, or repair) did."""

    zone: str
    generation: int
    checksum: str
    outcome: Outcome
    diff: Diff | None = None
    batches: int = 0
    change_ids: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rolled_back_to: int | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = self.diff
        return {
            "zone": self.zone,
            "generation": self.generation,
            "revision": self.revision,
            "checksum": self.checksum,
            "outcome": self.outcome,
            "creates": [r.to_dict() for r in d.creates] if d else [],
            "updates": [{"from": o.to_dict(), "to": n.to_dict()} for o, n in d.updates] if d else [],
            "deletes": [r.to_dict() for r in d.deletes] if d else [],
            "batches": self.batches,
            "change_ids": self.change_ids,
            "warnings": self.warnings,
            "rolled_back_to": self.rolled_back_to,
        }


@dataclass(frozen=True)
class Preview:
    """A dry run: the diff, the live fence and the guards' verdict, nothing written."""

    plan: Plan
    diff: Diff
    live: Fence | None
    stale: StaleGeneration | None
    verdict: Verdict
    force: bool = False
    other_owners: dict[str, str] = field(default_factory=dict)  # names of other owners, left alone

    @property
    def refusal(self) -> GuardRefused | None:
        """The refusal `apply` would raise (with the same `force`), if any."""
        return self.verdict.refusal(force=self.force)

    @property
    def error(self) -> SafeguardsError | None:
        """The first reason `apply` would stop, if any."""
        return self.stale or self.refusal

    def to_dict(self, *, limit: int | None = None) -> dict[str, Any]:
        """The preview as JSON-friendly data. With `limit`, each list of changes holds at most its
        first `limit` entries and `counts` says how many there are (`plan --json` without `--all`:
        a summary a person can read, not 100,000 entries)."""
        d = self.diff
        refusal = self.refusal
        creates, updates, deletes = d.creates[:limit], d.updates[:limit], d.deletes[:limit]  # [:None]: all
        out = {
            "zone": self.plan.zone,
            "generation": self.plan.generation,
            "checksum": self.plan.checksum,
            "live_generation": self.live.generation if self.live else None,
            "live_revision": self.live.rev if self.live else None,
            "creates": [r.to_dict() for r in creates],
            "updates": [{"from": o.to_dict(), "to": n.to_dict()} for o, n in updates],
            "deletes": [r.to_dict() for r in deletes],
            "unchanged": d.unchanged,
            "stale": str(self.stale) if self.stale else None,
            "refused": list(refusal.problems) if refusal else [],
            "guards": self.verdict.to_dict(),
            "other_owners": self.other_owners,
        }
        if limit is not None:
            out["counts"] = {"creates": len(d.creates), "updates": len(d.updates), "deletes": len(d.deletes)}
            out["truncated"] = any(len(x) > limit for x in (d.creates, d.updates, d.deletes))
        return out


@dataclass(frozen=True)
class ZoneStatus:
    """The zone as Route 53 holds it (the truth) next to the plan store's bookkeeping: `fence` and
    `state` are `owner`'s; `fences` holds every owner's, `owners` every managed name's owner."""

    zone: str
    fence: Fence | None
    records: tuple[RecordSet, ...]
    state: ZoneState
    owner: str = "dns-safeguards"
    fences: dict[str, Fence] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    @property
    def generation(self) -> int | None:
        return self.fence.generation if self.fence else None

    def to_dict(self) -> dict[str, Any]:
        s = self.state
        f = self.fence
        return {
            "zone": self.zone,
            "owner": self.owner,
            "generation": self.generation,
            "revision": f.rev if f else None,
            "content_generation": f.content if f else None,
            "checksum": f.checksum if f else None,
            "complete": f.done if f else None,
            "records": [r.to_dict() for r in self.records],
            "circuit": {
                "open": s.circuit_open,
                "reason": s.circuit_reason,
                "consecutive_failures": s.consecutive_failures,
            },
            "applied_generation": s.applied_generation,
            "last_known_good": s.last_known_good,
            "owners": {
                o: {
                    "generation": x.generation,
                    "revision": x.rev,
                    "complete": x.done,
                    "names": sorted(n for n, w in self.owners.items() if w == o),
                }
                for o, x in sorted(self.fences.items())
            },
        }
