"""Record values in Route 53's wire form: one normalizer per type, pure.

Each normalizer returns the canonical value (what Route 53 stores and lists back, so a diff of
plan against live zone compares like with like) or raises `ValueError` with a short reason that
the plan validator prints after the record's name. Normalizing is idempotent: a canonical value
normalizes to itself, so a plan written back with `plan_to_document` parses to the same plan.

Host names here (and record names, via `check_name`) allow letters, digits, hyphens and
underscores (service labels such as `_sip._tcp`); record names may also be wildcards. Internationalized names
must be given in their ASCII (punycode) form.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from collections.abc import Callable

from .records import MAX_LABEL_OCTETS, MAX_NAME_OCTETS

#: Longest DNS character-string (RFC 1035): TXT text is split into chunks of this many octets.
TXT_CHUNK_OCTETS = 255
CAA_TAGS: tuple[str, ...] = ("issue", "issuewild", "iodef")

_LABEL = re.compile(r"[a-z0-9_-]+")
_UINT = re.compile(r"[0-9]+")
_PLAIN_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)+")


# --------------------------------------------------------------------------- names



#: Characters of input an error message quotes at most: a message never grows with the input.
SHOWN_CHARS = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 6, 6, 6, 6


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`repr(value)` for an error message, cut to about `limit` characters before it is built
    (a 20 MB string or a deeply nested list is never formatted whole); short values unchanged."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}...({len(value):,} characters)"
    try:
        return _REPR.repr(value)
    except Exception:  # an int beyond str()'s digit limit, a failing __repr__
        return f"<{type(value).__name__}>"


def name_octets(name: str) -> int:
    """Length of canonical FQDN `name` on the wire: a length octet per label, plus the root."""
    if name.isascii() and name.endswith(".") and name != "." and ".." not in name:
        return len(name) + 1  # each dot stands for the next label's length octet; +1 for the first
    labels = [label for label in name.split(".") if label]
    return sum(1 + len(label.encode()) for label in labels) + 1


def check_name(name: str, *, wildcard: bool = False, what: str = "name") -> None:
    """Raise ValueError unless canonical FQDN `name` obeys DNS label and length rules.

    With `wildcard`, a leftmost label of exactly `*` is allowed.
    """
    if not name.isascii():
        raise ValueError(f"{what} {shown(name)} is not ASCII (use the punycode form, xn--...)")
    if _PLAIN_NAME.fullmatch(name) and len(name) + 1 <= MAX_NAME_OCTETS:
        return  # the common case in one regex; the slow path below explains any problem
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if name in ("", ".") or any(label == "" for label in labels):
        raise ValueError(f"{what} {shown(name)} has an empty label")
    for i, label in enumerate(labels):
        if len(label) > MAX_LABEL_OCTETS:
            raise ValueError(
                f"{what} {shown(name)}: label {label[:20]!r}... is {len(label)} octets (max {MAX_LABEL_OCTETS})"
            )
        if label == "*" and wildcard and i == 0:
            continue
        if not _LABEL.fullmatch(label):
            bad = sorted({c for c in label if not _LABEL.fullmatch(c)})
            raise ValueError(f"{what} {shown(name)}: label {shown(label)} has invalid character(s) {''.join(bad)!r}")
    octets = name_octets(name)
    if octets > MAX_NAME_OCTETS:
        raise ValueError(f"{what} {name[:40]!r}... is {octets} octets on the wire (max {MAX_NAME_OCTETS})")


def hostname(value: str) -> str:
    """A host name as a value (CNAME, NS, MX and SRV targets): lower-case FQDN with a trailing dot."""
    text = value.strip()
    if not text:
        raise ValueError("empty host name")
    host = text.lower().rstrip(".") + "."
    if text.endswith("..") or host == ".":
        raise ValueError(f"bad host name {shown(text)}")
    check_name(host, what="host name")
    return host


# --------------------------------------------------------------------------- addresses


_DOTTED_QUAD = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")


def ipv4(value: str) -> str:
    """An IPv4 address in dotted-quad form (no leading zeros)."""
    if _DOTTED_QUAD.fullmatch(value):  # the common case, already canonical: skip ipaddress
        return value
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        raise ValueError(f"bad IPv4 address {shown(value)}") from None


def ipv6(value: str) -> str:
    """An IPv6 address, compressed and lower-case (Route 53 lists it that way)."""
    text = value.strip()
    try:
        if "%" in text:  # a scope id is meaningless in DNS
            raise ValueError(text)
        return compress_ipv6(int(ipaddress.IPv6Address(text)))
    except ValueError:
        raise ValueError(f"bad IPv6 address {shown(value)}") from None


def compress_ipv6(number: int) -> str:
    """RFC 5952 text of an IPv6 address, all hex: the longest run (first on a tie) of two or more
    zero groups becomes `::`. Python 3.13's `compressed` writes IPv4-mapped addresses as
    `::ffff:192.0.2.1` where 3.11 writes `::ffff:c000:201`; one form on every version keeps a plan's
    checksum the same for every enactor (the 3.11 form, so live fences stay valid)."""
    groups = [(number >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best_start, best_len, start = -1, 1, -1
    for i, g in enumerate([*groups, 1]):
        if g == 0 and start < 0:
            start = i
        elif g != 0 and start >= 0:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = -1
    text = [f"{g:x}" for g in groups]
    if best_start < 0:
        return ":".join(text)
    return ":".join(text[:best_start]) + "::" + ":".join(text[best_start + best_len :])


# --------------------------------------------------------------------------- quoted strings


def _escape(chunk: bytes) -> str:
    """One character-string in Route 53's quoted form: `"` and `\\` backslash-escaped, bytes
    outside printable ASCII as three-digit octal escapes (how Route 53 lists them)."""
    out = ['"']
    for b in chunk:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b <= 0x7E:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03o}")
    out.append('"')
    return "".join(out)


def _parse_quoted(text: str) -> list[bytes]:
    """Split `"a" "b\\"c"` into its character-strings (unescaped, as bytes). Raises ValueError
    when the text is not entirely a sequence of quoted strings."""
    chunks: list[bytes] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            return chunks
        if text[i] != '"':
            raise ValueError(f"text after a closing quote in {_short(text)} (quote every string, or none)")
        i += 1
        buf = bytearray()
        while True:
            if i >= n:
                raise ValueError(f"unterminated quote in {_short(text)}")
            c = text[i]
            if c == '"':
                i += 1
                break
            if c == "\\":
                if i + 1 >= n:
                    raise ValueError(f"dangling backslash in {_short(text)}")
                octal = text[i + 1 : i + 4]
                if len(octal) == 3 and all(d in "01234567" for d in octal) and int(octal, 8) <= 0xFF:
                    buf.append(int(octal, 8))
                    i += 4
                    continue
                buf += text[i + 1].encode()
                i += 2
                continue
            buf += c.encode()
            i += 1
        if i < n and not text[i].isspace():
            raise ValueError(f"missing space between quoted strings in {_short(text)}")
        chunks.append(bytes(buf))


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _split(data: bytes) -> list[bytes]:
    if not data:
        return [b""]
    return [data[i : i + TXT_CHUNK_OCTETS] for i in range(0, len(data), TXT_CHUNK_OCTETS)]


def txt(value: str) -> str:
    """A TXT value: plain text, or text already in quoted form (`"a" "b"`).

    Plain text is one string; quoted text keeps its strings. Any string longer than 255 octets
    is split into 255-octet chunks; every chunk is quoted and escaped as Route 53 lists it.
    """
    pieces = _parse_quoted(value) if value.lstrip().startswith('"') else [value.encode()]
    return " ".join(_escape(chunk) for piece in pieces for chunk in _split(piece))


# --------------------------------------------------------------------------- structured values


def _uint(field: str, text: str, maximum: int) -> int:
    if not _UINT.fullmatch(text) or int(text) > maximum:
        raise ValueError(f"{field} {shown(text)} is not an integer in 0..{maximum}")
    return int(text)


def _target(text: str) -> str:
    """A target host name, or "." (the null target of RFC 2782 / RFC 7505)."""
    return "." if text == "." else hostname(text)


def mx(value: str) -> str:
    """`PRIORITY HOST`, priority 0..65535."""
    parts = value.split()
    if len(parts) != 2:
        raise ValueError(f"MX value {shown(value)} must be 'PRIORITY HOST'")
    return f"{_uint('MX priority', parts[0], 65535)} {_target(parts[1])}"


def srv(value: str) -> str:
    """`PRIORITY WEIGHT PORT TARGET`, the numbers 0..65535."""
    parts = value.split()
    if len(parts) != 4:
        raise ValueError(f"SRV value {shown(value)} must be 'PRIORITY WEIGHT PORT TARGET'")
    prio, weight, port = (
        _uint(field, text, 65535)
        for field, text in zip(("SRV priority", "SRV weight", "SRV port"), parts[:3], strict=True)
    )
    return f"{prio} {weight} {port} {_target(parts[3])}"


def caa(value: str) -> str:
    """`FLAGS TAG "VALUE"`: flags 0..255, tag one of issue/issuewild/iodef; VALUE quoted on output."""
    parts = value.strip().split(maxsplit=2)
    if len(parts) != 3:
        raise ValueError(f"CAA value {shown(value)} must be 'FLAGS TAG \"VALUE\"'")
    flags = _uint("CAA flags", parts[0], 255)
    tag = parts[1].lower()
    if tag not in CAA_TAGS:
        raise ValueError(f"CAA tag {shown(parts[1])} is not one of {', '.join(CAA_TAGS)}")
    rest = parts[2].strip()
    if rest.startswith('"'):
        pieces = _parse_quoted(rest)
        if len(pieces) != 1:
            raise ValueError(f"CAA value {shown(value)} must have exactly one quoted string")
        data = pieces[0]
    else:
        data = rest.encode()
    if tag == "iodef" and not data.startswith((b"mailto:", b"http://", b"https://")):
        raise ValueError(f"CAA iodef value {data.decode(errors='replace')!r} must be a mailto: or http(s):// URL")
    return f"{flags} {tag} {_escape(data)}"


# --------------------------------------------------------------------------- dispatch

NORMALIZERS: dict[str, Callable[[str], str]] = {
    "A": ipv4,
    "AAAA": ipv6,
    "CNAME": hostname,
    "NS": hostname,
    "MX": mx,
    "SRV": srv,
    "CAA": caa,
    "TXT": txt,
}


def normalize_value(rtype: str, value: object) -> str:
    """The canonical Route 53 wire form of one value of a `rtype` record set.

    Raises ValueError with a short reason when the value is not valid for the type. Values must
    be strings: YAML turns unquoted `1.10`, `yes` or `0123` into other things, silently.
    """
    normalizer = NORMALIZERS.get(rtype)
    if normalizer is None:
        raise ValueError(f"unsupported type {shown(rtype)}")
    if not isinstance(value, str):
        raise ValueError(f"value {shown(value)} is a {type(value).__name__}, not a string (quote it)")
    return normalizer(value)
