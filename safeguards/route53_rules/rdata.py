"""Per-type RDATA checks, with Route 53's "FATAL problem" messages.

Route 53 parses every value of a CREATE/UPSERT by type and rejects the batch
(`InvalidChangeBatch`) naming the first problem of each value. TXT and SPF values must be
sequences of quoted character-strings of at most 255 characters each; other types are parsed by
dnspython as a DNS server would (names may omit the trailing dot).
"""

from __future__ import annotations

import ipaddress

#: Types Route 53 serves (its RRType enum); anything else is refused as InvalidInput.
TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP",
         "SVCB", "TLSA", "TXT")
MAX_CHARACTER_STRING = 255


def fatal(code: str, text: str, value: str) -> str:
    """Route 53's message for a malformed value."""
    return f"Invalid Resource Record: 'FATAL problem: {code} ({text}) encountered with '{value}''"


def character_strings(value: str) -> list[str] | str:
    """The quoted strings of a TXT/SPF value (escapes kept), or the FATAL message for it."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i].isspace():
            i += 1
            continue
        if value[i] != '"':
            return fatal("InvalidCharacterString", "Value should be enclosed in quotation marks", value)
        i += 1
        chars = 0
        while i < n and value[i] != '"':
            if value[i] == "\\":  # \" or \\ or \ooo: one character on the wire
                i += 4 if value[i + 1 : i + 4].isdigit() else 2
            else:
                i += 1
            chars += 1
        if i >= n:
            return fatal("UnbalancedQuotes", "Unbalanced quotation marks", value)
        i += 1
        if chars > MAX_CHARACTER_STRING:
            return fatal("CharacterStringTooLong", "Value is too long", value)
        out.append(value)
    if not out:
        return fatal("InvalidCharacterString", "Value should be enclosed in quotation marks", value)
    return out


def value_problem(rtype: str, value: str) -> str | None:
    """Why Route 53 refuses `value` for a set of `rtype`, or None."""
    if rtype == "A":
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            return fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", value)
        return None
    if rtype == "AAAA":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", value)
        return None
    if rtype in ("TXT", "SPF"):
        parsed = character_strings(value)
        return parsed if isinstance(parsed, str) else None
    return _dnspython_problem(rtype, value)


def _dnspython_problem(rtype: str, value: str) -> str | None:
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), value, origin=dns.name.root)
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return fatal(f"{rtype}RRDATAIllegal", reason, value)
    return None
