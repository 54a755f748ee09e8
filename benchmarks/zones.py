"""Synthetic zones for the benchmarks: deterministic (seeded), valid, one record set per name.

Two shapes:
- `simple_records`: N single-value A sets (the API-economy and apply benchmarks: every change
  costs the same, so the floor is exact arithmetic);
- `mixed_plan`: a realistic mix (A with 1-3 values, AAAA, CNAME, TXT, MX) written both as our plan
  document and as octoDNS's zone YAML, plus an observed zone that differs from it by a given share.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from safeguards.fence import Fence, marker
from safeguards.plan import DEFAULT_OWNER
from safeguards.records import RecordSet, fqdn

ZONE = "bench.example."


def name_of(i: int, zone: str = ZONE) -> str:
    """FQDN of the i-th synthetic name."""
    return f"h{i:06d}.{zone}"


def ipv4_of(i: int, salt: int = 0) -> str:
    """A distinct IPv4 address per (i, salt), in 10.0.0.0/8."""
    n = (i * 7 + salt * 1_000_003) % (1 << 24)
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"


def simple_records(n: int, *, salt: int = 0, zone: str = ZONE, ttl: int = 300) -> list[RecordSet]:
    """`n` single-value A sets at h000000..; `salt` changes every value (an update of all of them)."""
    return [RecordSet(name_of(i, zone), "A", ttl, (ipv4_of(i, salt),)) for i in range(n)]


def simple_plan_document(records: list[RecordSet], generation: int, zone: str = ZONE) -> dict[str, Any]:
    """Our plan file format for `records` (FQDN names are accepted as they are)."""
    return {
        "zone": zone,
        "generation": generation,
        "owner": DEFAULT_OWNER,
        "records": [{"name": r.name, "type": r.type, "ttl": r.ttl, "values": list(r.values)} for r in records],
    }


# ------------------------------------------------------------------------------ mixed zones


@dataclass(frozen=True)
class MixedZone:
    """A desired zone (as our plan document and as octoDNS zone YAML data) and an observed zone."""

    zone: str
    plan_document: dict[str, Any]
    octodns_document: dict[str, Any]
    observed: list[RecordSet]  # what Route 53 holds: records, our markers and the fence
    observed_octodns: dict[str, Any]  # the same observed records, octoDNS data form
    creates: int
    updates: int
    deletes: int


def _mixed_set(i: int, rng: random.Random, zone: str) -> tuple[RecordSet, dict[str, Any]]:
    """One record set (ours) and its octoDNS data, for name i."""
    name = name_of(i, zone)
    kind = rng.random()
    if kind < 0.70:
        values = sorted({ipv4_of(i, s) for s in range(rng.randint(1, 3))})
        return RecordSet(name, "A", 300, tuple(values)), {"type": "A", "ttl": 300, "values": values}
    if kind < 0.80:
        values = [str(ipaddress.IPv6Address((0x20010DB8 << 96) | i))]  # canonical (compressed) form
        return RecordSet(name, "AAAA", 300, tuple(values)), {"type": "AAAA", "ttl": 300, "values": values}
    if kind < 0.90:
        target = f"t{i % 997}.cdn.example.net."
        return RecordSet(name, "CNAME", 300, (target,)), {"type": "CNAME", "ttl": 300, "value": target}
    if kind < 0.95:
        text = f"site-verification={rng.getrandbits(64):016x}"
        return RecordSet(name, "TXT", 3600, (f'"{text}"',)), {"type": "TXT", "ttl": 3600, "values": [text]}
    exchanges = [(10, f"mx1.h{i}.example.net."), (20, f"mx2.h{i}.example.net.")]
    return (
        RecordSet(name, "MX", 3600, tuple(sorted(f"{p} {x}" for p, x in exchanges))),
        {"type": "MX", "ttl": 3600, "values": [{"preference": p, "exchange": x} for p, x in exchanges]},
    )


def _changed(r: RecordSet, data: dict[str, Any]) -> tuple[RecordSet, dict[str, Any]]:
    """The same set with another TTL (what the observed zone still holds: an update to make)."""
    return RecordSet(r.name, r.type, r.ttl + 60, r.values, r.set_identifier, r.weight), {**data, "ttl": r.ttl + 60}


def mixed_zone(n: int, *, diff_share: float = 0.10, seed: int = 8, zone: str = ZONE) -> MixedZone:
    """A desired zone of `n` sets and an observed zone differing in `diff_share` of them:
    80% of the differences are updates, 10% creates (missing from observed), 10% deletes
    (observed names the plan retires)."""
    rng = random.Random(seed)
    n_diff = round(n * diff_share)
    n_creates = n_deletes = n_diff // 10
    n_updates = n_diff - n_creates - n_deletes
    desired: list[tuple[RecordSet, dict[str, Any]]] = [_mixed_set(i, rng, zone) for i in range(n)]
    # Which desired sets differ from observed: spread evenly over the zone.
    picks = rng.sample(range(n), n_updates + n_creates)
    updated, created = set(picks[:n_updates]), set(picks[n_updates:])
    observed: list[RecordSet] = []
    observed_oct: dict[str, Any] = {}
    for i, (r, data) in enumerate(desired):
        if i in created:
            continue
        if i in updated:
            r, data = _changed(r, data)
        observed.append(r)
        observed_oct[r.name[: -len(zone) - 1]] = data
    retired = []
    for j in range(n, n + n_deletes):
        r, data = _mixed_set(j, rng, zone)
        observed.append(r)
        observed_oct[r.name[: -len(zone) - 1]] = data
        retired.append(r.name)
    names = sorted({r.name for r in observed})
    observed += [marker(nm, DEFAULT_OWNER) for nm in names]
    observed.append(Fence(1, "0" * 64, DEFAULT_OWNER, "bench", 1, True).render(zone))
    plan_document = {
        "zone": zone,
        "generation": 2,
        "owner": DEFAULT_OWNER,
        "records": [
            {"name": r.name[: -len(zone) - 1], "type": r.type, "ttl": r.ttl, "values": list(r.values)}
            for r, _ in desired
        ],
        "retire": [nm[: -len(zone) - 1] for nm in retired],
    }
    octodns_document = {r.name[: -len(zone) - 1]: data for r, data in desired}
    return MixedZone(
        fqdn(zone), plan_document, octodns_document, observed, observed_oct, n_creates, n_updates, n_deletes
    )
