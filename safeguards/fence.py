"""The fence protocol: the zone's fence record, the per-name ownership markers, the zone as one
read sees them, and the compare-and-set batch that carries a decision out.

The fence (`_dnssg-fence.<zone>`) says what is live: the planner generation, a revision inside
it (repairs and rollbacks write under the live generation, revision + 1, so they never take a
number the planner will use and a newer planner generation always outranks them), the plan whose
content is live (`src`: the generation itself, or the plan a rollback restored) and its checksum,
the owner, the enactor that wrote it, a sequence number bumped by every batch, and whether the
content is complete.

Every batch DELETEs the fence exactly as the decision read it and CREATEs its successor, so Route
53 rejects a batch whose decision rests on a read that is no longer true: the check happens in the
store, at write time (`cas_batch`). One fence per zone costs two records per batch, not per name.

Ownership markers (`_dnssg.<name>`) say which owner manages a name. They change only when a name
is created, adopted or retired, never on updates.

The encoding cannot be bent by any field: owners and enactor ids are tokens (`check_token`), the
parser refuses duplicate or unknown keys, and each TXT string stays under 255 characters.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidInput
from .plan import DEFAULT_OWNER
from .planfile import gc_paused
from .records import (
    FENCE_LABEL,
    OWNER_LABEL,
    Change,
    RecordKey,
    RecordSet,
    fence_name,
    is_reserved,
    owner_name,
    record_key,
)

FENCE_TTL = 60
_VERSION = "dnssg2"
_LEGACY = "dnssg1"  # read (and carried over on the next write), never written
_MARKER = "dnssg1"
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,63}")
_MAX_INT = 2**63 - 1
_KEYS_STATE = ("v", "gen", "rev", "src", "seq", "state")
_KEYS_WHO = ("sum", "owner", "by")
_CHECKSUM = re.compile(r"[0-9a-f]{64}|-")


def fence_record_name(zone: str, owner: str = DEFAULT_OWNER) -> str:
    """Where `owner`'s fence lives in `zone`: each owner of a shared zone has its own fence and
    generation sequence. The default owner keeps the first version's name (`_dnssg-fence.<zone>`),
    so zones written before shared zones existed need no migration for it."""
    if owner == DEFAULT_OWNER:
        return fence_name(zone)
    return f"{FENCE_LABEL}-{owner.lower()}.{zone}"


def check_token(kind: str, value: str) -> str:
    """`value` if it is a valid owner or enactor id (1-64 characters of letters, digits and
    ``._:@/+-``, starting with a letter or digit); InvalidInput otherwise. Nothing else may reach
    the fence: a space or ``=`` in an id could otherwise rewrite the fence's other fields."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise InvalidInput(
            f"{kind} {value!r} is not valid: use 1-64 letters, digits or . _ : @ / + - (first a letter or digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class Fence:
    """The parsed fence: what is live (or being applied) on the zone."""

    generation: int
    checksum: str
    owner: str
    writer: str
    seq: int
    done: bool
    rev: int = 0
    source: int | None = None  # the plan whose content is live; None: the generation itself

    @property
    def content(self) -> int:
        """The generation of the plan whose content this fence says is live (0: none of ours)."""
        return self.generation if self.source is None else self.source

    @property
    def rank(self) -> tuple[int, int]:
        """What orders writes: the planner generation, then the revision inside it."""
        return (self.generation, self.rev)

    def label(self) -> str:
        """``g10``, ``g10.r1`` or ``g10.r1 (content of g9)``: for messages."""
        text = f"g{self.generation}" + (f".r{self.rev}" if self.rev else "")
        return text + (f" (content of g{self.content})" if self.content != self.generation else "")

    def successor(self, writer: str, *, done: bool) -> Fence:
        """The next fence of a batch chain: same decision, one more batch."""
        return replace(self, writer=writer, seq=self.seq + 1, done=done)

    def render(self, zone: str) -> RecordSet:
        """The TXT record set that stores this fence: two strings, each under 255 characters."""
        state = (
            f"v={_VERSION} gen={self.generation} rev={self.rev} src={self.content} seq={self.seq} "
            f"state={'done' if self.done else 'applying'}"
        )
        who = f"sum={self.checksum} owner={self.owner} by={self.writer}"
        return RecordSet(fence_record_name(zone, self.owner), "TXT", FENCE_TTL, (f'"{state}" "{who}"',))


def parse_fence(rrset: RecordSet | None) -> Fence | None:
    """Fence from its record set; None when absent or not ours (a foreign or malformed value is
    never trusted as a generation: duplicate keys, unknown keys and bad numbers are refused)."""
    if rrset is None or rrset.type != "TXT" or len(rrset.values) != 1:
        return None
    fields: dict[str, str] = {}
    for part in " ".join(s for s in rrset.values[0].split('"') if s.strip()).split():
        key, sep, value = part.partition("=")
        if not sep or key in fields:
            return None
        fields[key] = value
    version = fields.get("v")
    if version == _LEGACY:
        return _parse_legacy(fields)
    if version != _VERSION or set(fields) != {*_KEYS_STATE, *_KEYS_WHO}:
        return None
    try:
        gen, rev, src, seq = (_number(fields[k]) for k in ("gen", "rev", "src", "seq"))
        owner, writer = check_token("owner", fields["owner"]), check_token("enactor id", fields["by"])
    except (ValueError, InvalidInput):
        return None
    if fields["state"] not in ("done", "applying") or not _CHECKSUM.fullmatch(fields["sum"]):
        return None
    return Fence(gen, fields["sum"], owner, writer, seq, fields["state"] == "done", rev, None if src == gen else src)


def _parse_legacy(fields: Mapping[str, str]) -> Fence | None:
    """The first fence format (no revision, no source): carried over on the next write."""
    if set(fields) != {"v", "gen", "sum", "owner", "by", "seq", "state"}:
        return None
    try:
        gen, seq = _number(fields["gen"]), _number(fields["seq"])
        owner, writer = check_token("owner", fields["owner"]), check_token("enactor id", fields["by"])
    except (ValueError, InvalidInput):
        return None
    if fields["state"] not in ("done", "applying") or not _CHECKSUM.fullmatch(fields["sum"]):
        return None
    return Fence(gen, fields["sum"], owner, writer, seq, fields["state"] == "done")


def _number(text: str) -> int:
    if not text.isdigit() or len(text) > 19 or int(text) > _MAX_INT:
        raise ValueError(text)
    return int(text)


def find_fence(observed: Iterable[RecordSet], zone: str, owner: str = DEFAULT_OWNER) -> RecordSet | None:
    """`owner`'s fence record set among `observed`, if any. An owner other than the default whose
    fence is still at the first version's single name (`_dnssg-fence.<zone>`, its owner field
    naming it) finds it there: its next write moves it to its own name in the same batch."""
    sets = observed if isinstance(observed, (list, tuple)) else list(observed)
    name = fence_record_name(zone, owner)
    legacy = fence_name(zone)
    found = None
    # Only sets at the two names can match: picked out in C, in order (zones hold 100,000s of sets).
    for r in itertools.compress(sets, map({name, legacy}.__contains__, map(_NAME, sets))):
        if r.type == "TXT" and r.name == name:
            if owner == DEFAULT_OWNER and (f := parse_fence(r)) is not None and f.owner != owner:
                return None  # another owner's first-version fence at the shared name: `displaced`
            return r
        if r.type == "TXT" and r.name == legacy and owner != DEFAULT_OWNER:
            found = r
    if found is not None and (f := parse_fence(found)) is not None and f.owner == owner:
        return found
    return None


def all_fences(observed: Iterable[RecordSet], zone: str) -> dict[str, Fence]:
    """Every owner's fence in the zone (owner → fence), read from the fences' own owner fields."""
    prefix, legacy = f"{FENCE_LABEL}-", fence_name(zone)
    out: dict[str, Fence] = {}
    for r in observed:
        if r.type == "TXT" and (r.name == legacy or r.name.startswith(prefix)) and (f := parse_fence(r)):
            out.setdefault(f.owner, f)
    return out


def marker(name: str, owner: str) -> RecordSet:
    """The ownership marker record set of `name`."""
    return RecordSet(owner_name(name), "TXT", FENCE_TTL, (f'"v={_MARKER} owner={owner}"',))


_NAME = operator.attrgetter("name")
_TYPE = operator.attrgetter("type")
_VALUES = operator.attrgetter("values")
_FIRST = operator.itemgetter(0)


def _marker_owner(value: str) -> str | None:
    """The owner a marker's value names, or None when it is not a marker of ours."""
    fields = dict(p.split("=", 1) for p in value.strip('"').split() if "=" in p)
    return fields["owner"] if fields.get("v") == _MARKER and "owner" in fields else None


def marker_owners(observed: Iterable[RecordSet]) -> dict[str, str]:
    """Managed name → owner, read from the ownership markers among `observed`."""
    prefix = owner_name("")
    cut = len(prefix)
    sets = observed if isinstance(observed, (list, tuple)) else list(observed)
    # Markers picked out in C by their name, then TXT sets of one value; each distinct value
    # parsed once (a zone's markers nearly all say the same thing). The last marker of a name
    # naming an owner wins, at the place of the first, as a loop assigning in order would have it.
    is_marker = list(map(str.startswith, map(_NAME, sets), itertools.repeat(prefix)))
    markers = list(itertools.compress(sets, is_marker))
    txt = list(itertools.compress(markers, map(operator.eq, map(_TYPE, markers), itertools.repeat("TXT"))))
    single = list(itertools.compress(txt, map((1).__eq__, map(len, map(_VALUES, txt)))))
    values: list[str] = list(map(_FIRST, map(_VALUES, single)))
    parsed = {value: _marker_owner(value) for value in dict.fromkeys(values)}
    found: list[Any] = list(map(parsed.__getitem__, values))
    # Each name as the zone's own sets at it spell it (where a marker is, they are): one string
    # per name rather than a sliced copy per marker (100,000 markers: 7 MB for the view's life).
    spelled = list(map(_NAME, itertools.compress(sets, map(operator.not_, is_marker))))
    existing = dict(zip(spelled, spelled, strict=True))
    del spelled, is_marker
    cuts = itertools.tee(map(operator.getitem, map(_NAME, single), itertools.repeat(slice(cut, None))))
    names: Iterator[Any] = map(existing.get, *cuts)
    if None not in parsed.values():
        return dict(zip(names, found, strict=True))
    keep = list(map(operator.is_not, found, itertools.repeat(None)))
    return dict(zip(itertools.compress(names, keep), itertools.compress(found, keep), strict=True))


@dataclass(frozen=True)
class ZoneView:
    """The zone as one read saw it: what a decision rests on. `fence_rrset` is what the
    decision's first batch DELETEs, so the write fails if this read is no longer true."""

    zone: str
    sets: tuple[RecordSet, ...]
    fence_rrset: RecordSet | None  # the fence of `owner`: what this view's decisions DELETE
    fence: Fence | None
    owners: dict[str, str]
    owner: str = DEFAULT_OWNER

    @classmethod
    def of(cls, zone: str, sets: Iterable[RecordSet], owner: str = DEFAULT_OWNER) -> ZoneView:
        """The view of `sets` as read from `zone`, for decisions of `owner`."""
        with gc_paused():  # the sets and the owners: acyclic, see planfile.gc_paused
            sets = tuple(sets)
            rrset = find_fence(sets, zone, owner)
            return cls(zone, sets, rrset, parse_fence(rrset), marker_owners(sets), owner)

    @classmethod
    def empty(cls, zone: str, owner: str = DEFAULT_OWNER) -> ZoneView:
        """A zone not created yet."""
        return cls(zone, (), None, None, {}, owner)

    @functools.cached_property
    def by_key(self) -> dict[RecordKey, RecordSet]:
        """The sets by key (name, type, set identifier), in the order read; built when first asked
        (a key tuple per set: 30 MB and 50 ms for 200,000 sets that a plan's diff never needs)."""
        with gc_paused():
            return dict(zip(map(record_key, self.sets), self.sets, strict=True))

    @property
    def fences(self) -> dict[str, Fence]:
        """Every owner's fence in the zone."""
        return all_fences(self.sets, self.zone)

    @property
    def displaced(self) -> RecordSet | None:
        """Another owner's first-version fence at this owner's fence name (only the default
        owner's name was ever shared): a write of ours moves it to its owner's own name, in the
        same batch, so that owner's compare-and-set is never lost."""
        if self.fence_rrset is not None or self.owner != DEFAULT_OWNER:
            return None
        legacy = self.by_key.get((fence_name(self.zone), "TXT", None))
        f = parse_fence(legacy)
        return legacy if f is not None and f.owner != self.owner else None

    def owned_by(self, owner: str) -> set[str]:
        """Names whose marker names `owner`."""
        mine = map(operator.eq, itertools.repeat(owner), self.owners.values())
        return set(itertools.compress(self.owners.keys(), mine))

    def governed(self, names: Iterable[str]) -> dict[RecordKey, RecordSet]:
        """Observed sets at `names` (never the fence, markers or the apex NS/SOA)."""
        with gc_paused():
            return self._governed(names)

    def _governed(self, names: Iterable[str]) -> dict[RecordKey, RecordSet]:
        # Our own guard records are never governed: the names given, less any of theirs (copied
        # only then: the names of a 100,000-set plan are a 4 MB set).
        wanted: Collection[str] = names if isinstance(names, set | frozenset) else set(names)
        reserved = list(itertools.compress(wanted, map(str.startswith, wanted, itertools.repeat(OWNER_LABEL))))
        if reserved:
            wanted = set(wanted).difference(reserved)
        # The sets at wanted names, picked out and keyed in C, in the order read (a later set of the
        # same key in its first one's place, as in `by_key`, whose key tuples are reused if built).
        by_key = self.__dict__.get("by_key")
        if by_key is not None:
            sets = by_key.values()
            picked = list(map(wanted.__contains__, map(_NAME, sets)))
            out = dict(zip(itertools.compress(by_key.keys(), picked), itertools.compress(sets, picked), strict=True))
        else:
            hits = list(itertools.compress(self.sets, map(wanted.__contains__, map(_NAME, self.sets))))
            out = dict(zip(map(record_key, hits), hits, strict=True))
        if self.zone in wanted:
            for r in list(out.values()):
                if r.name == self.zone and self.is_apex_ns(r):
                    out.pop(r.key, None)
        return out

    def is_apex_ns(self, r: RecordSet) -> bool:
        """The apex NS and SOA belong to Route 53: no plan, restore or repair touches them."""
        return r.name == self.zone and r.type in ("NS", "SOA")

    def records(self) -> tuple[RecordSet, ...]:
        """The zone's own records: neither the fence, markers nor the apex NS/SOA."""
        return tuple(r for r in self.sets if not is_reserved(r.name) and not self.is_apex_ns(r))


def cas_batch(
    expected: RecordSet | None,
    successor: RecordSet,
    changes: Sequence[Change],
    displaced: RecordSet | None = None,
) -> list[Change]:
    """The compare-and-set batch: DELETE the fence exactly as the decision read it (or nothing,
    then CREATE fails if a fence exists), CREATE its successor, then the changes. Route 53 applies
    all of it or none. A `displaced` first-version fence of another owner moves, unchanged, to that
    owner's own name in the same batch."""
    head = [Change("DELETE", expected)] if expected is not None else []
    if displaced is not None and (moved := parse_fence(displaced)) is not None:
        head += [Change("DELETE", displaced), Change("CREATE", moved.render(successor.name.split(".", 1)[1]))]
    return [*head, Change("CREATE", successor), *changes]


def fence_reserve(expected: RecordSet | None) -> int:
    """Records the fence takes in a batch (its DELETE as read and its CREATE): batches are packed
    with this reserved, including the first batch into a zone without a fence."""
    return 1 + (len(expected.values) if expected is not None else 1)
