"""The planner's side of the service: publish numbered, checksummed (and signed) plans into the
plan store for enactors to pick up. Publishing never writes Route 53.

    planner = Planner(store, signer=HmacSigner.from_file("key"))
    generation = planner.publish(load_plan("example.com.yaml"))     # the store's next generation

Numbering belongs to the planner: by default a plan takes the next generation from the store's
allocator (its own number is replaced: a file may be published again and again, each time as a new
generation). With ``renumber=False`` the plan keeps its own generation, which must be newer than
every stored plan of the zone; the same plan published twice under its own number is idempotent.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import InvalidInput, StaleGeneration
from ..fence import check_token
from ..plan import Plan, ensure_valid
from ..planstore import PlanStore, scope
from ..signing import Signer, sign_plan, verify_plan


@dataclass(frozen=True)
class Published:
    """What `Planner.publish_plan` stored."""

    zone: str
    generation: int
    checksum: str
    signed: bool
    new: bool  # False: the same plan was already stored under this generation

    def to_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "generation": self.generation,
            "checksum": self.checksum,
            "signed": self.signed,
            "new": self.new,
        }


class Planner:
    """Publishes plans into a `PlanStore`; never touches Route 53."""

    def __init__(self, store: PlanStore, *, signer: Signer | None = None, renumber: bool = True) -> None:
        self.store = store
        self.signer = signer
        self.renumber = renumber

    def publish(self, plan: Plan, *, sign: Signer | None = None, renumber: bool | None = None) -> int:
        """Validate, number, checksum, sign and store `plan`; the generation it was stored under."""
        return self.publish_plan(plan, sign=sign, renumber=renumber).generation

    def publish_plan(self, plan: Plan, *, sign: Signer | None = None, renumber: bool | None = None) -> Published:
        """`publish`, returning everything that was stored (for `--json`)."""
        signer = sign or self.signer
        renumber = self.renumber if renumber is None else renumber
        ensure_valid(plan)  # every rule a plan file obeys, before a number is taken
        check_token("owner", plan.owner)
        if plan.declared_checksum and plan.declared_checksum != plan.checksum:
            raise InvalidInput(
                f"{plan.zone} generation {plan.generation}: the declared checksum {plan.declared_checksum[:12]}… "
                f"does not match the content ({plan.checksum[:12]}…); nothing published"
            )
        if renumber:
            generation = self.store.allocate_generation(scope(plan.zone, plan.owner))
            plan = dataclasses.replace(plan, generation=generation, signature=None, declared_checksum=None)
        else:
            self._check_own_generation(plan)  # a signature made elsewhere is kept (enactors verify it)
        if signer is not None:
            plan = sign_plan(plan, signer)
            verify_plan(plan, signer)
        # Stored with its checksum declared, so content altered in the store is refused.
        plan = dataclasses.replace(plan, declared_checksum=plan.checksum)
        new = self.store.put_plan(plan)
        return Published(plan.zone, plan.generation, plan.checksum, plan.signature is not None, new)

    def _check_own_generation(self, plan: Plan) -> None:
        key = scope(plan.zone, plan.owner)  # each owner of a shared zone has its own generations
        stored = self.store.generations(key)
        newest = stored[-1] if stored else 0
        if plan.generation in stored:
            existing = self.store.get_plan(key, plan.generation)
            if existing is not None and existing.checksum == plan.checksum:
                return  # idempotent: the same plan again
        if plan.generation <= newest:
            raise StaleGeneration(
                f"{plan.zone}: generation {newest} is already published; refusing to publish generation "
                f"{plan.generation} (publish without --keep-generation to take the next one)",
                ours=plan.generation,
                live=newest,
            )
