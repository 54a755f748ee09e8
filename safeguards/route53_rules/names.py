"""Record names as Route 53 treats them: case-insensitive, octal escapes, listed lower-case.

Route 53 stores a name lower-case with every character other than a-z, 0-9, '-', '_' and '.'
as a three-digit octal escape (`*` is listed as `\\052`), and treats `*.w` and `\\052.w` as one
name. `canonical_name` is the comparable form (escapes decoded), `listed_name` the listed one.
"""

from __future__ import annotations

import re

MAX_NAME_OCTETS = 255
MAX_LABEL_OCTETS = 63
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_ESCAPE = re.compile(r"\\([0-7]{3})")
_ALL_PLAIN = re.compile(r"[a-z0-9\-_.]*")  # every character in _PLAIN: checked in C


def canonical_name(name: str) -> str:
    """Lower-case, escapes decoded, exactly one trailing dot."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name) if "\\" in name else name
    return text.lower().rstrip(".") + "."


def listed_name(name: str) -> str:
    """The name as ListResourceRecordSets returns it: lower-case, octal escapes (`\\052` for `*`)."""
    canon = canonical_name(name)
    if _ALL_PLAIN.fullmatch(canon):
        return canon
    return "".join(c if c in _PLAIN else f"\\{ord(c) & 0xFF:03o}" for c in canon)


def name_problem(name: str) -> str | None:
    """Why Route 53 refuses `name` as a record name (raw, as sent), or None."""
    canon = canonical_name(name)
    labels = canon[:-1].split(".")
    if canon == "." or any(not label for label in labels):
        return f"Domain name {name} is invalid: a label is empty"
    if any(len(label) > MAX_LABEL_OCTETS for label in labels):
        return f"Domain name {name} is invalid: a label is longer than {MAX_LABEL_OCTETS} characters"
    if sum(len(label) + 1 for label in labels) + 1 > MAX_NAME_OCTETS:
        return f"Domain name {name} is invalid: longer than {MAX_NAME_OCTETS} octets"
    raw = _ESCAPE.sub("x", name)  # escaped characters are fine; unescaped ones must be printable, no space
    bad = sorted({c for c in raw if c.isspace() or not c.isprintable() or not c.isascii()})
    if bad:
        return f"Domain name {name} is invalid: it contains {''.join(bad)!r} (escape it as \\ooo)"
    return None


def in_zone(name: str, zone: str) -> bool:
    """True when canonical `name` is canonical `zone` or below it."""
    return name == zone or name.endswith("." + zone)
