"""Fast parsers for plan files, with the strict parsers as the reference.

A plan file is parsed by a compiled parser first (msgspec for JSON, ryaml, a Rust port of
libyaml, for YAML) and by the strict Python parsers (`json` with a duplicate-key hook, PyYAML's
`SafeLoader` with a duplicate-key check) whenever the fast parser could disagree with them:

- any error (syntax, duplicate key, anything else): the strict parser runs and its message,
  with line and column, is the one reported;
- JSON: duplicate keys are counted rather than trusted (msgspec keeps the last value): the
  document's colons outside strings must equal the keys decoded, else the strict parser runs;
- YAML: ryaml resolves plain scalars by YAML 1.2 where PyYAML uses YAML 1.1 (`yes`, `010`,
  `1_000`, `1e3`, `0o17`, `1:30`, dates differ). A document with any plain token that may
  resolve differently, or with anchors, aliases, tags, merge keys, block scalars or several
  documents, goes to PyYAML. A plan of names, types, TTLs, addresses and quoted text has none.

Each function returns the decoded document or raises the strict parser's own exception.

Input is bounded before anything grows with it: a plan file larger than `max_plan_bytes()`
(default 32 MiB, `DNSSG_MAX_PLAN_BYTES` overrides) is refused before it is read; YAML aliases may
expand the document by at most `MAX_ALIAS_NODES` nodes (an alias bomb is refused before it is
constructed; an alias that refers to itself too); nesting is bounded by every parser (Python's
recursion limit for json, msgspec and PyYAML's constructor, libyaml's and ryaml's own limits).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import itertools
import json
import math
import operator
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import yaml

try:  # pragma: no cover - exercised when installed (a dependency); the fallback keeps imports safe
    import msgspec

    _json_decode: Any = msgspec.json.decode
    json_encode: Any = msgspec.json.encode
except ImportError:  # pragma: no cover
    _json_decode = json_encode = None
    msgspec = None  # type: ignore[assignment]

try:  # pragma: no cover
    import ryaml

    _yaml_loads: Any = ryaml.loads
except ImportError:  # pragma: no cover
    _yaml_loads = None



#: The largest plan file read, in bytes, unless `DNSSG_MAX_PLAN_BYTES` says otherwise: 32 MiB holds
#: about 350,000 record sets in JSON (a 100,000-set plan is 9 MB), far beyond Route 53's default
#: quota of 10,000 records per zone.
DEFAULT_MAX_PLAN_BYTES = 32 * 1024 * 1024
MAX_PLAN_BYTES_ENV = "DNSSG_MAX_PLAN_BYTES"
#: Nodes YAML aliases may add to a document once expanded (a plan sharing one values list among
#: 100,000 sets adds a few hundred thousand): a "billion laughs" adds 10**9.
MAX_ALIAS_NODES = 1_000_000


class PlanTooLarge(ValueError):
    """The plan file is larger than the limit; `size` says how large, when known (a pipe)."""

    def __init__(self, size: int | None, limit: int) -> None:
        super().__init__(f"{size} > {limit}")
        self.size = size
        self.limit = limit


class AliasBomb(ValueError):
    """YAML aliases that expand beyond `MAX_ALIAS_NODES`, or that refer to themselves."""


def max_plan_bytes() -> int:
    """The plan-file size limit in bytes: `DNSSG_MAX_PLAN_BYTES` (a positive integer) or the default.

    Raises ValueError naming the variable when it is set to anything else."""
    raw = os.environ.get(MAX_PLAN_BYTES_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PLAN_BYTES
    text = raw.strip().replace("_", "").replace(",", "")
    if not text.isdigit() or len(text) > 18 or int(text) < 1:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise ValueError(f"{MAX_PLAN_BYTES_ENV}={shown!r} is not a number of bytes (a positive integer)")
    return int(text)


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the file at `path`, refused (`PlanTooLarge`) when there are more than `limit`:
    a regular file by its size before reading, anything else (a pipe) after `limit` + 1 bytes."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise PlanTooLarge(size, limit)
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise PlanTooLarge(None, limit)
    return data


#: A pause that leaves fewer new objects than this alive just re-enables the collector: the young
#: collections walk them cheaply, and promoting them would only push short-lived cycles (an
#: exploration's per-schedule garbage) to where nothing collects them soon.
PROMOTE_AT = 50_000
#: Promotion bypasses the collector's own trigger for full collections (it counts objects that
#: reach the oldest generation through middle collections only), so after this many promoted
#: objects one full collection runs: a long-running enactor or a million explored schedules
#: would otherwise keep every cycle that became garbage since (gigabytes, found by a
#: million-schedule run that was OOM-killed at 12 GB per worker).
FULL_COLLECTION_AFTER = 4_000_000
_promoted = 0


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk build of acyclic objects (a 100,000-set plan
    makes over a million; each automatic collection would walk them all again: half the time
    of a parse). Reference counting frees as usual; the previous state is restored.

    On leaving the outermost pause after a bulk build (`PROMOTE_AT` objects or more still alive:
    the plan, the view, the diff, built to last the whole decision), they are moved to the oldest
    generation at once, `gc.freeze()` then `gc.unfreeze()` (two list splices, no walk), instead of
    being walked by the next young collection and again by the middle one on their way there: on
    100,000 sets that was over 0.1 s of every plan. Nothing is withheld from the collector: every
    `FULL_COLLECTION_AFTER` promoted objects a full collection runs (the collector would not start
    one for them by itself). Promotion is skipped when the program froze objects itself
    (`gc.get_freeze_count()`): `unfreeze` would undo its freeze."""
    global _promoted
    was_enabled = gc.isenabled()
    gc.disable()
    before = gc.get_count()[0]
    try:
        yield
    finally:
        if was_enabled:
            grown = gc.get_count()[0] - before
            if grown >= PROMOTE_AT and gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
                _promoted += grown
                if _promoted >= FULL_COLLECTION_AFTER:
                    _promoted = 0
                    gc.collect()
            gc.enable()


# --------------------------------------------------------------------------- JSON


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def strict_json(text: str | bytes) -> Any:
    """The reference: `json.loads` refusing duplicate keys (JSONDecodeError or ValueError)."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def load_json(text: str) -> Any:
    """`strict_json(text)`, through msgspec when the result is provably the same."""
    data = decode_json(text)
    records = data.get("records") if isinstance(data, dict) else None
    if isinstance(records, SimpleRecords):
        data["records"] = records.dicts()
    return data


def decode_json(text: str | bytes) -> Any:
    """`load_json(text)`, except that records all in the simple form come as `SimpleRecords`.
    `text` may be ASCII bytes (read from a file: no decoded copy of it is made)."""
    escape, colon = ("\\u", ":") if isinstance(text, str) else (b"\\u", b":")
    if _json_decode is None or escape in text:  # type: ignore[operator]  # an escaped ':' would hide from the count below
        return strict_json(text)
    simple = _simple_json(text)
    if simple is not None:
        return simple
    try:
        data = _json_decode(text)
    except Exception:
        return strict_json(text)
    # Every key is followed by exactly one structural colon; colons inside strings appear in the
    # re-encoded document as often as in the input (no escapes for ':' without '\u'). So the two
    # counts differ exactly when a key was repeated and msgspec kept only its last value.
    if text.count(colon) != json_encode(data).count(b":"):  # type: ignore[arg-type]
        return strict_json(text)
    return data


class SimpleRecords:
    """The records of a plan document when every one is in the simple form: exactly `name`, `type`,
    `ttl` and `values`, a string, a string, an integer and a list of strings. The fast parsers
    hand them over column by column (`names`, `types`, `ttls`, `values`: one item per record, in
    file order), so no mapping per record is built and the validator checks each column at once
    (`safeguards.plan`). `dicts()` gives the records as the reference parsers read them."""

    __slots__ = ("names", "ttls", "types", "values")

    def __init__(
        self, names: list[str], types: list[str], ttls: list[int], values: list[list[str]] | list[tuple[str, ...]]
    ) -> None:
        self.names, self.types, self.ttls, self.values = names, types, ttls, values

    def __len__(self) -> int:
        return len(self.names)

    def record(self, index: int) -> dict[str, Any]:
        """`records[index]` as the reference parsers read it."""
        return {
            "name": self.names[index],
            "type": self.types[index],
            "ttl": self.ttls[index],
            "values": list(self.values[index]),
        }

    def dicts(self) -> list[dict[str, Any]]:
        """Every record as the reference parsers read it."""
        return [
            {"name": n, "type": t, "ttl": ttl, "values": list(v)}
            for n, t, ttl, v in zip(self.names, self.types, self.ttls, self.values, strict=True)
        ]


#: Integers already seen, shared: 100,000 TTLs of a plan are a handful of distinct numbers, and each
#: decoded one is otherwise its own 32-byte object held by its record set for the plan's lifetime.
def shared_ints(ints: Iterable[int]) -> list[int]:
    """`ints` with equal numbers as one object each (the first of them)."""
    seen: dict[int, int] = {}
    return list(map(seen.setdefault, ints, ints)) if isinstance(ints, list) else [seen.setdefault(i, i) for i in ints]


if msgspec is not None:  # pragma: no branch - a dependency
    _SimpleType = Literal["A", "AAAA", "CNAME", "TXT", "MX", "SRV", "CAA", "NS"]

    class _SimpleRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        """One record in the simple form; any other key, a missing one or another type is refused."""

        name: str
        type: _SimpleType  # a supported type as written (each decoded as one shared object)
        ttl: int
        values: tuple[str, ...]

    class _SimpleDocument(msgspec.Struct, forbid_unknown_fields=True, gc=False):
        """A plan document whose records are all in the simple form; the other keys as decoded."""

        records: list[_SimpleRecord]
        zone: Any = msgspec.UNSET
        generation: Any = msgspec.UNSET
        owner: Any = msgspec.UNSET
        checksum: Any = msgspec.UNSET
        signature: Any = msgspec.UNSET
        retire: Any = msgspec.UNSET
        canary: Any = msgspec.UNSET

    _simple_decode: Any = msgspec.json.Decoder(_SimpleDocument).decode
    _DOCUMENT_KEYS = tuple(f for f in _SimpleDocument.__struct_fields__ if f != "records")
else:  # pragma: no cover
    _simple_decode = None


def _simple_json(text: str | bytes) -> dict[str, Any] | None:
    """The document with its records as `SimpleRecords`, when msgspec can decode it so (typed: a
    record with another key, a missing key or another type of value makes it None, and the caller
    decodes as usual) and provably reads what the strict parser reads: the document's colons
    outside strings (one per key) must be the keys decoded, else a key was repeated (msgspec keeps
    its last value). Each record becomes four column entries; the decoded records are dropped."""
    if _simple_decode is None:  # pragma: no cover
        return None
    try:
        doc = _simple_decode(text)
    except Exception:
        return None
    records = doc.records
    names = list(map(_NAME_OF, records))
    types = list(map(_TYPE_OF, records))
    values = list(map(_VALUES_OF, records))
    ttls = shared_ints(list(map(_TTL_OF, records)))
    del records
    top = {k: v for k in _DOCUMENT_KEYS if (v := getattr(doc, k)) is not msgspec.UNSET}
    doc.records = []
    # Colons: one per key (4 per record and the top level's own, counted by re-encoding it) plus
    # those inside the records' strings; the text has more exactly when a key was repeated.
    keys = 4 * len(names) + json_encode({**top, "records": []}).count(b":")
    inside = sum(map(str.count, ("".join(names), "".join(types), "".join(itertools.chain.from_iterable(values))),
                     itertools.repeat(":")))
    if text.count(":" if isinstance(text, str) else b":") != keys + inside:  # type: ignore[arg-type]
        return None
    top["records"] = SimpleRecords(names, types, ttls, values)
    return top


_NAME_OF = operator.attrgetter("name")
_TYPE_OF = operator.attrgetter("type")
_TTL_OF = operator.attrgetter("ttl")
_VALUES_OF = operator.attrgetter("values")


# --------------------------------------------------------------------------- YAML

# libyaml's parser when present; the constructor stays Python, so the duplicate-key check works the same.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_SafeLoader):
    """`yaml.SafeLoader` that refuses duplicate keys: a repeated `values:` would otherwise
    silently drop the first list."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


    #: Whether the document may hold aliases (it has an '&': an alias needs an anchor).
    may_alias = True

    def construct_document(self, node: yaml.Node) -> Any:
        if self.may_alias:
            check_expansion(node)
        return super().construct_document(node)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def check_expansion(root: yaml.Node, limit: int = MAX_ALIAS_NODES) -> None:
    """Raise AliasBomb when the composed document, its aliases expanded, has more than `limit` nodes
    beyond its own, or when an alias refers to a node that contains it (a recursive document).

    The composed graph shares each anchored node among its aliases, so this walk (iterative,
    each node once) costs the document as written, never as expanded."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(c)] for c in _children(node))
            if total > limit + len(sizes) + 1:
                raise AliasBomb(f"aliases expand the document beyond {limit:,} more nodes than it holds")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise AliasBomb("an alias refers to itself (a recursive document)")
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise AliasBomb("an alias refers to itself (a recursive document)")
            if id(child) not in sizes:
                stack.append((child, False))
    if sizes.get(id(root), 0) > limit + len(sizes):
        raise AliasBomb(f"aliases expand the document beyond {limit:,} more nodes than it holds")


def strict_yaml(text: str) -> Any:
    """The reference: PyYAML's safe loader refusing duplicate keys (raises yaml.YAMLError), and
    alias bombs (AliasBomb) before anything is constructed."""
    loader = StrictLoader(text)  # a SafeLoader subclass: as safe as safe_load
    loader.may_alias = "&" in text
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


#: Constructs left to PyYAML wherever they appear (even inside quoted strings: a false alarm
#: costs only time): anchors, aliases, tags, directives, block scalars, merge keys, documents.
_RISKY_TEXT = ("&", "*", "!", "%", "|", ">", "@", "`", "\t", "\\", "<<", "---", "...", ".inf", ".nan")
#: A plain token (after a space, a line start or a flow indicator) that YAML 1.1 (PyYAML) and
#: YAML 1.2 (ryaml) may resolve differently: signs, leading zeros and 0b/0o/0x, sexagesimal
#: numbers, exponents, underscores in numbers, timestamps, integers beyond 64 bits, yes/no/on/off, `=`.
_RISKY_TOKEN = re.compile(
    r"[\s\[,{](?:[-+0][-+0-9.box_]"
    r"|[0-9][0-9_]*(?::[0-5]?[0-9])+(?=[\s,\]}#]|$)"
    r"|[0-9][0-9.]*[e_]"
    r"|[0-9]{4}-"
    r"|[0-9]{19}"
    r"|(?:yes|no|on|off|=)(?=[ \t]*(?:$|[,\]}#:])))",
    re.MULTILINE,
)


#: The first character that cannot be part of a risky plain token (see `_RISKY_TOKEN`).
_TOKEN_END = re.compile(r"[^0-9a-z_:.+=-]")


def yaml_is_plain(text: str) -> bool:
    """True when ryaml and PyYAML provably read `text` alike (see the module doc)."""
    low = text.lower()
    if any(s in low for s in _RISKY_TEXT) or _RISKY_TOKEN.search(low) is not None:
        return False
    # A token at the very start has no character before it: check it as if after a space
    # (without copying the whole text: a plan can be 30 MB).
    end = _TOKEN_END.search(low)
    head = low[: end.end() if end else len(low)]
    return _RISKY_TOKEN.search(" " + head) is None


#: `records:` alone on its line at the top level: a block sequence follows.
_RECORDS_KEY = re.compile(r"^records:[ \t]*(?:#.*)?$", re.MULTILINE)
#: The next top-level key (a line starting in column 0 with anything but a space, '#' or '-'), with
#: the newline before it: a literal first character lets the search skip from line to line (with
#: `^` it tried every character of a 30 MB plan).
_TOP_LINE = re.compile(r"\n[^\s#-]")
#: Items per chunk when the records are parsed piecewise.
YAML_CHUNK = 2000


def _records_block(text: str) -> tuple[int, int, str] | None:
    """The top-level `records:` block sequence: (where its key starts, where the block ends, the
    block's text), or None."""
    m = _RECORDS_KEY.search(text)
    if m is None:
        return None
    start = m.end() + 1
    end_m = _TOP_LINE.search(text, start - 1)
    end = end_m.start() + 1 if end_m else len(text)
    return m.start(), end, text[start:end]


def _records_span(text: str) -> tuple[int, int, int] | None:
    """Where the top-level `records:` block sequence's key starts, where its block starts and where
    it ends (see `_records_block`), without copying it."""
    m = _RECORDS_KEY.search(text)
    if m is None:
        return None
    start = m.end() + 1
    end_m = _TOP_LINE.search(text, start - 1)
    return m.start(), start, end_m.start() + 1 if end_m else len(text)


#: Characters of the records block read at once by `_block_yaml` (about 5,000 records).
_BLOCK_PIECE = 1 << 19


def _records_marker(text: str, block: str) -> str | None:
    """A plain scalar found nowhere in `text`, to stand where the records block was: parsing the
    rest must give it back as the records, else a quoted or flow scalar open across the block
    swallowed it (and another `records` key may be the real one)."""
    marker = "dnssg-records-" + hashlib.sha256(block.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return None if marker in text else marker


def _split_records(text: str) -> tuple[str, str, list[tuple[str, int]]] | None:
    """The document with its block of records replaced by `records: [<marker>]` (see
    `_records_marker`), the marker, and the block cut into
    chunks of whole items (each with its count of items); None when there is no such block.

    ryaml holds a whole document's intermediate tree (300 MB for 100,000 sets); chunk by chunk it
    holds one chunk's. Items are cut only where a line starts with the sequence's own `- `: an
    item that spans a cut (a quoted or flow scalar running on) leaves an unterminated chunk,
    which fails to parse, and a chunk whose item count differs from its cut count is refused."""
    span = _records_block(text)
    if span is None:
        return None
    key, end, block = span
    first = re.search(r"^( *)- ", block, re.MULTILINE)
    if first is None:
        return None
    starts = [i.start() for i in re.finditer("^" + first.group(1) + "- ", block, re.MULTILINE)]
    if block[: starts[0]].strip(" \n"):  # something other than blank lines before the first item
        return None
    bounds = [*starts[::YAML_CHUNK], len(block)]
    chunks = [
        (block[a:b], min(YAML_CHUNK, len(starts) - k * YAML_CHUNK))
        for k, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    marker = _records_marker(text, block)
    if marker is None:
        return None
    return text[:key] + f"records: [{marker}]\n" + text[end:], marker, chunks


def _fast_yaml(text: str) -> Any:
    """The document through ryaml, its records chunk by chunk; raises on anything unexpected."""
    split = _split_records(text)
    if split is None:
        return _yaml_loads(text)
    skeleton, marker, chunks = split
    top = _yaml_loads(skeleton)
    if not isinstance(top, dict) or top.get("records") != [marker]:
        raise ValueError("records block not where expected")
    records: list[Any] = []
    for chunk, count in chunks:
        items = _yaml_loads(chunk)
        if not isinstance(items, list) or len(items) != count:
            raise ValueError("records chunk does not hold whole items")
        records.extend(items)
    top["records"] = records
    return top


#: Flow nesting ([ and {) beyond which ryaml is not asked: it refuses beyond 128 levels anyway,
#: and its time grows with the square of the depth (100,000 levels of `{a: ` took minutes).
MAX_FAST_FLOW_DEPTH = 64
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def flow_depth(text: str) -> int:
    """An upper bound of the flow nesting depth of `text` (brackets in quoted text count too),
    in C-level passes: 15 ms for a 100,000-set plan."""
    if text.count("[") + text.count("{") <= MAX_FAST_FLOW_DEPTH:
        return text.count("[") + text.count("{")
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


# --------------------------------------------------------------- YAML: records in block style

#: A plain scalar of a name or type: letters, digits, '.', '_' and '-' (no indicator, no space).
_BLOCK_WORD = r"[A-Za-z0-9_][A-Za-z0-9._-]*"
#: A value inside `[...]`: a plain scalar (words of the same characters separated by single
#: spaces: never ',', ':', '#' or a quote), or a single-quoted one of printable ASCII ('' is a quote).
_BLOCK_VALUE = r"(?:[A-Za-z0-9_][A-Za-z0-9._-]*(?: [A-Za-z0-9._-]+)*|'(?:[ -&(-~]|'')*')"
_BLOCK_TTL = r"(?:0|[1-9][0-9]{0,17})"
_BLOCK_VALUES = f"{_BLOCK_VALUE}(?:, {_BLOCK_VALUE})*"


@functools.lru_cache(maxsize=8)
def _block_item(indent: int) -> tuple[re.Pattern[str], int]:
    """One record in the block style `yaml.dump` writes (and people do), at `indent` spaces:
    `- name: N`, `  type: T`, `  ttl: 300`, `  values: [V, V]`, each on its own line, in this order
    (groups: name, type, ttl, the values as written), each match from the newline before the item
    to the end of its last line, followed by a newline (the next match's first character: a literal
    first character lets the search skip from newline to newline, 2x faster); and its characters
    beside the groups. A match holds exactly 4 newlines (no group holds one)."""
    i = " " * indent
    keys = (f"\n{i}- name: ", f"\n{i}  type: ", f"\n{i}  ttl: ", f"\n{i}  values: [", "]")
    groups = (_BLOCK_WORD, _BLOCK_WORD, _BLOCK_TTL, _BLOCK_VALUES)
    pattern = "".join(re.escape(k) + f"({g})" for k, g in zip(keys, groups, strict=False)) + re.escape(keys[-1])
    return re.compile(pattern + "(?=\n)"), sum(map(len, keys))


#: One value of a `[...]` that holds a quoted one: (quoted content, plain value).
_QUOTED_OR_PLAIN = re.compile(r"'((?:[^']|'')*)'|([^,' ][^,']*)")


def _implicit_pattern() -> re.Pattern[str]:
    """PyYAML's implicit resolvers (bool, float, int, null, timestamp) for the first characters a
    block scalar may start with, as one pattern that finds a whole line of a newline-separated
    text: each `^(?:X)$` becomes `(?:X)` in `\\n(?=[first characters])(?:...)(?=\\n)` (a literal
    first character: the search skips from line to line; other lines fail at the lookahead).
    Each resolver is tried on every line, not only on lines starting with its own characters:
    stricter than PyYAML, never looser."""
    bodies: dict[str, None] = {}
    firsts: list[str] = []
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items():
        if first and not re.fullmatch(r"[A-Za-z0-9_]", first):
            continue
        firsts.append(first or "")
        for _tag, regexp in resolvers:
            body = regexp.pattern
            if not (body.startswith("^") and body.endswith("$")) or regexp.flags & ~(re.X | re.U):
                raise RuntimeError(f"unexpected PyYAML resolver pattern {body!r}")  # pragma: no cover
            bodies[body[1:-1]] = None
    # '' (an empty scalar resolves to null): no line of ours is empty, but keep it honest.
    lead = "".join(re.escape(f) for f in firsts if f)
    alternatives = "|".join(f"(?:{b})" for b in bodies)
    # A line starting with a digit and holding two dots (an IPv4 address, `10 mx.example.`) is
    # skipped at once when no resolver matches two dots (none does: numbers and timestamps hold
    # one at most), instead of trying each resolver on it: 4x faster over a plan's addresses.
    skip = r"(?![0-9][^\n.]*\.[^\n.]*\.)" if all(_most_dots(b) <= 1 for b in bodies) else ""
    return re.compile(r"\n(?=[" + lead + r"]|\n)" + skip + r"(?:" + alternatives + r")(?=\n)", re.X)


def _most_dots(pattern: str) -> float:
    """The most '.' characters a match of `pattern` (verbose syntax) can hold (inf: unbounded or
    unknown), from the pattern's parse tree."""
    try:
        import re._parser as parser  # type: ignore[import-not-found]  # Python 3.11+
    except ImportError:  # pragma: no cover
        try:
            import sre_parse as parser
        except ImportError:
            return math.inf
    dot = ord(".")

    def can_be_dot(op: Any, av: Any) -> bool:
        if op is parser.LITERAL:
            return bool(av == dot)
        if op is parser.NOT_LITERAL:
            return bool(av != dot)
        if op is parser.RANGE:
            return bool(av[0] <= dot <= av[1])
        return True  # ANY, CATEGORY, NEGATE, anything else: it may

    def most(items: Any) -> float:
        total = 0.0
        for op, av in items:
            if op in (parser.LITERAL, parser.NOT_LITERAL, parser.ANY):
                total += can_be_dot(op, av)
            elif op is parser.IN:
                negate = any(o is parser.NEGATE for o, _ in av)
                total += 1 if negate or any(can_be_dot(o, a) for o, a in av) else 0
            elif op is parser.SUBPATTERN:
                total += most(av[-1])
            elif op is parser.BRANCH:
                total += max(most(branch) for branch in av[1])
            elif op in (parser.MAX_REPEAT, parser.MIN_REPEAT):
                _low, high, sub = av
                inner = most(sub)
                total += 0 if inner == 0 else (math.inf if high is parser.MAXREPEAT else high * inner)
            elif op in (parser.AT, parser.ASSERT, parser.ASSERT_NOT):
                continue  # anchors and lookarounds hold no character of the match
            else:
                return math.inf
        return total

    try:
        return most(parser.parse(pattern, re.X))
    except Exception:  # pragma: no cover - another parser: no shortcut
        return math.inf


_IMPLICIT = _implicit_pattern()


def _all_strings(scalars: Iterable[str]) -> bool:
    """True when PyYAML resolves every plain scalar in `scalars` (none holds a newline) to a string
    (no int, float, bool, null or timestamp): by its own resolver patterns, over all at once."""
    return _IMPLICIT.search("\n" + "\n".join(scalars) + "\n") is None


def _block_yaml(text: str) -> Any:
    """The document, when its records are a block sequence of records of the simple form only (see
    `_block_item`): the records read by regular expressions, the rest of the document by
    `strict_yaml`. None whenever anything differs from that form (the caller parses as usual).

    The records read so are what PyYAML reads: the form admits no anchors, aliases, tags, comments,
    blank lines, tabs or non-ASCII text; every key is one of four, once each; a quoted value is
    single-quoted (`''` is a quote); a plain scalar is a string unless PyYAML's own resolvers say
    otherwise (then None: `yes`, `1_000`, `null`, `1.5` are not strings). The rest of the document
    is parsed with a marker where the block was, which must come back as the records: a quoted or
    flow scalar open across the block would swallow it."""
    span = _records_span(text)
    if span is None:
        return None
    key, start, end = span
    head = text[start : start + 20]
    indent = len(head) - len(head.lstrip(" "))
    if indent > 16 or not head.startswith("- ", indent):
        return None
    item, _overhead = _block_item(indent)
    names: list[str] = []
    types: list[str] = []
    ttls: list[int] = []
    split: list[tuple[str, ...]] = []
    kinds: dict[str, str] = {}  # each type written once: a plan's types are a handful of words
    numbers: dict[str, int] = {}  # equal TTLs as one number
    # Piece by piece (cut where a line starts a new item), so that only one piece's matches are
    # held at once beside the columns: all 100,000 at once were 30 MB more at the peak.
    cut_at = "\n" + " " * indent + "- name: "
    pos = start
    while pos < end:
        cut = text.find(cut_at, pos + _BLOCK_PIECE, end)
        cut = end if cut < 0 else cut + 1
        rows = item.findall(text, pos - 1, cut)  # text[pos - 1] is the newline before the piece
        if not rows:
            return None
        n, t, ttl, values = zip(*rows, strict=True)
        del rows
        # The items found tile the piece exactly: each holds 4 whole lines (from the newline before
        # its first to the end of its last; matches never overlap), and the piece has 4 lines per
        # item, all ended: no line, and no part of one, is left outside them.
        if text.count("\n", pos, cut) != 4 * len(n) or text[cut - 1] != "\n":
            return None
        # Tuples (a list each, freed at once): a set keeps its decoded values as they are.
        piece: list[Any] = list(map(tuple, map(str.split, values, itertools.repeat(", "))))
        quoted = list(itertools.compress(range(len(values)), map(operator.contains, values, itertools.repeat("'"))))
        plain: list[Iterable[str]] = [n, set(t).difference(kinds)]
        if quoted:
            plain_only = map(operator.not_, map(operator.contains, values, itertools.repeat("'")))
            plain.append(list(itertools.chain.from_iterable(itertools.compress(piece, plain_only))))
            unquoted: list[str] = []
            for i in quoted:
                v = values[i]
                # One quoted scalar, nothing else (its only quotes its own: no '' inside): as it stands.
                if v[0] == v[-1] == "'" and v.count("'") == 2:
                    piece[i] = (v[1:-1],)
                    continue
                parts = _QUOTED_OR_PLAIN.findall(v)
                piece[i] = tuple([p or q.replace("''", "'") for q, p in parts])
                unquoted += [p for _q, p in parts if p]
            plain.append(unquoted)
        else:
            plain.append(itertools.chain.from_iterable(piece))
        if not _all_strings(itertools.chain.from_iterable(plain)):
            return None
        kinds.update((k, k) for k in set(t).difference(kinds))
        names += n
        types += map(kinds.__getitem__, t)
        ttls += map(numbers.setdefault, ttl, map(int, ttl))
        split += piece
        pos = cut
    if not names:
        return None
    marker = _records_marker(text, text[start : start + 4096] + text[max(start, end - 4096) : end])
    if marker is None:
        return None
    top = strict_yaml(text[:key] + f"records: [{marker}]\n" + text[end:])
    if not isinstance(top, dict) or top.get("records") != [marker]:
        return None
    top["records"] = SimpleRecords(names, types, ttls, split)  # the columns as read: no mapping per record
    return top


def load_yaml(text: str) -> Any:
    """`strict_yaml(text)`: read directly when its records are all in the simple block form (see
    `_block_yaml`), else through ryaml when the result is provably the same."""
    data = decode_yaml(text)
    records = data.get("records") if isinstance(data, dict) else None
    if isinstance(records, SimpleRecords):
        data["records"] = records.dicts()
    return data


def decode_yaml(text: str) -> Any:
    """`load_yaml(text)`, except that records read by the block reader come as `SimpleRecords`."""
    try:
        fast = _block_yaml(text)
    except Exception:  # anything unexpected: the parsers below decide, errors included
        fast = None
    if fast is not None:
        return fast
    if _yaml_loads is None or not yaml_is_plain(text) or flow_depth(text) > MAX_FAST_FLOW_DEPTH:
        return strict_yaml(text)
    try:
        return _fast_yaml(text)
    except Exception:
        return strict_yaml(text)
