"""Named checkpoints in the enactor's code paths.

The applier calls `checkpoint(name, **context)` at every point where a delay or a crash
matters (after reading the zone, after the freshness check, before and after each batch,
before clean-up, ...). In production the hook is `NO_CHECKPOINTS`, a no-op; the race harness
passes a scheduler hook that blocks the calling actor until the scheduler lets it run, so any
interleaving can be forced and replayed.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

#: Every checkpoint name the applier emits, in the order an apply passes them.
CHECKPOINTS: tuple[str, ...] = (
    "plan.loaded",        # plan read from the store / file
    "zone.read",          # record sets read from Route 53
    "fence.checked",      # freshness check done (the check the 2025 enactor trusted)
    "batch.before",       # about to submit a change batch (context: index, total)
    "batch.after",        # batch accepted by Route 53
    "stage.verified",     # a rollout stage passed its gates
    "store.recorded",     # applied generation recorded in the plan store
    "cleanup.before",     # about to delete old plans
    "cleanup.after",
    "decided",            # a repair, rollback or clean-up decided on its read (context: action)
    "restore.before",     # a failed gate's restore is about to write
)


@runtime_checkable
class Checkpoint(Protocol):
    """A hook called at each named checkpoint; it may block (scheduler) or raise (crash)."""

    def __call__(self, name: str, **context: Any) -> None: ...


class _NoCheckpoints:
    """The production hook: every checkpoint is a no-op."""

    __slots__ = ()

    def __call__(self, name: str, **context: Any) -> None:
        return None


NO_CHECKPOINTS: Checkpoint = _NoCheckpoints()
