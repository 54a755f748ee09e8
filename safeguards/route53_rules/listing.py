"""ListResourceRecordSets: Route 53's order and paging.

Order (API reference, ListResourceRecordSets): by DNS name with the labels reversed and the
trailing dot kept ("com.example.www."), compared character by character as listed, so a name
with a character below '.' (such as '-') sorts before its prefix: `a-b` before `a`. Then by type,
then by set identifier. A page that stops inside a name/type with set identifiers carries
`NextRecordIdentifier`; botocore's paginator (and the AWS CLI's --page-size) pass it back as
`StartRecordIdentifier`, and without it they see the same token twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from .names import canonical_name, listed_name
from .wire import RRSet, to_wire

#: Route 53's largest page.
MAX_ITEMS = 300


@functools.lru_cache(maxsize=1 << 16)
def reversed_name(name: str) -> str:
    """`www.example.com.` as Route 53 sorts it: `com.example.www.` (listed form, escapes kept).
    Kept per name (a pure function of it): sorting and paging a zone ask for the same names
    again and again."""
    labels = listed_name(name).rstrip(".").split(".")
    return ".".join(reversed(labels)) + "."


def order_key(rs: RRSet) -> tuple[str, str, str]:
    """Sort key of a set in ListResourceRecordSets."""
    return (reversed_name(rs.name), rs.type, rs.set_identifier or "")


def list_page(
    sets: Iterable[RRSet],
    *,
    start_name: str | None = None,
    start_type: str | None = None,
    start_identifier: str | None = None,
    max_items: int | str | None = None,
) -> dict[str, Any]:
    """One ListResourceRecordSets response (botocore's shape) over the zone's `sets`."""
    ordered = sorted(sets, key=order_key)
    limit = MAX_ITEMS if max_items in (None, "") else max(1, min(MAX_ITEMS, int(max_items)))
    begin = 0
    if start_name:
        start = (reversed_name(canonical_name(start_name)), (start_type or "").upper(), start_identifier or "")
        if not start_type:
            start = (start[0], "", "")
        begin = next((i for i, rs in enumerate(ordered) if order_key(rs) >= start), len(ordered))
    page = ordered[begin : begin + limit]
    out: dict[str, Any] = {
        "ResourceRecordSets": [to_wire(rs) for rs in page],
        "IsTruncated": begin + limit < len(ordered),
        "MaxItems": str(limit),
    }
    if out["IsTruncated"]:
        nxt = ordered[begin + limit]
        out["NextRecordName"] = listed_name(nxt.name)
        out["NextRecordType"] = nxt.type
        if nxt.set_identifier is not None:
            out["NextRecordIdentifier"] = nxt.set_identifier
    return out
