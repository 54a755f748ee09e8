"""Plans: a zone, a generation and the record sets wanted there. Pure: parse, validate,
canonicalize, checksum. No I/O except `load_plan`, which reads one file.

TO BE COMPLETED (issue 3): parsing and validation of every rule listed in the issue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import RecordKey, RecordSet

DEFAULT_OWNER = "dns-safeguards"


@dataclass(frozen=True)
class Plan:
    """A validated, canonical plan.

    `records` are sorted by key; `retire` lists FQDNs whose sets this plan removes on purpose
    (the only way a name may lose all its values); `min_values` maps a set's key to the fewest
    values it may ever have (default 1); `canary` lists FQDNs rolled out first.
    """

    zone: str
    generation: int
    records: tuple[RecordSet, ...]
    retire: tuple[str, ...] = ()
    min_values: Mapping[RecordKey, int] = field(default_factory=dict)
    canary: tuple[str, ...] = ()
    owner: str = DEFAULT_OWNER
    declared_checksum: str | None = field(default=None, compare=False)

    def min_for(self, key: RecordKey) -> int:
        """Fewest values the set `key` may have (1 unless the plan says otherwise)."""
        return self.min_values.get(key, 1)

    def managed_names(self) -> frozenset[str]:
        """Every FQDN this plan governs: its record names and its retired names."""
        return frozenset(r.name for r in self.records) | frozenset(self.retire)

    def canonical(self) -> dict[str, Any]:
        """The canonical form hashed by `checksum` (generation excluded: content only)."""
        return {
            "zone": self.zone,
            "owner": self.owner,
            "records": [
                {**r.to_dict(), "min_values": self.min_for(r.key)} for r in sorted(self.records)
            ],
            "retire": sorted(self.retire),
            "canary": sorted(self.canary),
        }

    @property
    def checksum(self) -> str:
        """SHA-256 of the canonical content, hex."""
        return content_checksum(self.canonical())

    def to_json(self) -> str:
        """Serialized form for plan stores: canonical content plus generation and checksum."""
        return json.dumps(
            {**self.canonical(), "generation": self.generation, "checksum": self.checksum},
            sort_keys=True,
            separators=(",", ":"),
        )


def content_checksum(canonical: Mapping[str, Any]) -> str:
    """SHA-256 hex of a canonical mapping serialized with sorted keys and no spaces."""
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
