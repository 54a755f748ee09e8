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
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

try:  # pragma: no cover - exercised when installed (a dependency); the fallback keeps imports safe
    import msgspec

    _json_decode: Any = msgspec.json.decode
    json_encode: Any = msgspec.json.encode
except ImportError:  # pragma: no cover
    _json_decode = json_encode = None

try:  # pragma: no cover
    import ryaml

    _yaml_loads: Any = ryaml.loads
except ImportError:  # pragma: no cover
    _yaml_loads = None



@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk build of acyclic objects (a 100,000-set plan
    makes over a million; each automatic collection would walk them all again: half the time
    of a parse). Reference counting frees as usual; the previous state is restored."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- JSON


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def strict_json(text: str) -> Any:
    """The reference: `json.loads` refusing duplicate keys (JSONDecodeError or ValueError)."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def load_json(text: str) -> Any:
    """`strict_json(text)`, through msgspec when the result is provably the same."""
    if _json_decode is None or "\\u" in text:  # an escaped ':' would hide from the count below
        return strict_json(text)
    try:
        data = _json_decode(text)
    except Exception:
        return strict_json(text)
    # Every key is followed by exactly one structural colon; colons inside strings appear in the
    # re-encoded document as often as in the input (no escapes for ':' without '\u'). So the two
    # counts differ exactly when a key was repeated and msgspec kept only its last value.
    if text.count(":") != json_encode(data).count(b":"):
        return strict_json(text)
    return data


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


def strict_yaml(text: str) -> Any:
    """The reference: PyYAML's safe loader refusing duplicate keys (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass: as safe as safe_load


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


def yaml_is_plain(text: str) -> bool:
    """True when ryaml and PyYAML provably read `text` alike (see the module doc)."""
    low = " " + text.lower()
    return not any(s in low for s in _RISKY_TEXT) and _RISKY_TOKEN.search(low) is None


#: `records:` alone on its line at the top level: a block sequence follows.
_RECORDS_KEY = re.compile(r"^records:[ \t]*(?:#.*)?$", re.MULTILINE)
#: The next top-level key (a line starting in column 0 with anything but a space, '#' or '-').
_TOP_LINE = re.compile(r"^[^\s#-]", re.MULTILINE)
#: Items per chunk when the records are parsed piecewise.
YAML_CHUNK = 2000


def _split_records(text: str) -> tuple[str, list[tuple[str, int]]] | None:
    """The document with its block of records replaced by `records: []`, and the block cut into
    chunks of whole items (each with its count of items); None when there is no such block.

    ryaml holds a whole document's intermediate tree (300 MB for 100,000 sets); chunk by chunk it
    holds one chunk's. Items are cut only where a line starts with the sequence's own `- `: an
    item that spans a cut (a quoted or flow scalar running on) leaves an unterminated chunk,
    which fails to parse, and a chunk whose item count differs from its cut count is refused."""
    m = _RECORDS_KEY.search(text)
    if m is None:
        return None
    start = m.end() + 1
    end_m = _TOP_LINE.search(text, start)
    end = end_m.start() if end_m else len(text)
    block = text[start:end]
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
    return text[: m.start()] + "records: []\n" + text[end:], chunks


def _fast_yaml(text: str) -> Any:
    """The document through ryaml, its records chunk by chunk; raises on anything unexpected."""
    split = _split_records(text)
    if split is None:
        return _yaml_loads(text)
    skeleton, chunks = split
    top = _yaml_loads(skeleton)
    if not isinstance(top, dict) or top.get("records") != []:
        raise ValueError("records block not where expected")
    records: list[Any] = []
    for chunk, count in chunks:
        items = _yaml_loads(chunk)
        if not isinstance(items, list) or len(items) != count:
            raise ValueError("records chunk does not hold whole items")
        records.extend(items)
    top["records"] = records
    return top


def load_yaml(text: str) -> Any:
    """`strict_yaml(text)`, through ryaml when the result is provably the same."""
    if _yaml_loads is None or not yaml_is_plain(text):
        return strict_yaml(text)
    try:
        return _fast_yaml(text)
    except Exception:
        return strict_yaml(text)
