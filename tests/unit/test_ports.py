"""Ports: an equal small read shares its view (the view `ZoneView.of` would build), and the
ranged-listing check answers as `isinstance(backend, RangedListing)` does."""

from __future__ import annotations

from typing import Any

import pytest

from safeguards import fence, ports
from safeguards.backend import RangedListing
from safeguards.backends.strict import StrictRoute53
from safeguards.fence import Fence, ZoneView, marker
from safeguards.plan import DEFAULT_OWNER
from safeguards.records import RecordSet

ZONE = "example.com."


def _sets(gen: int = 3) -> list[RecordSet]:
    f = Fence(gen, "a" * 64, DEFAULT_OWNER, "e1", 2, True)
    return [
        RecordSet(f"www.{ZONE}", "A", 60, ("10.0.0.1", "10.0.0.2")),
        marker(f"www.{ZONE}", DEFAULT_OWNER),
        f.render(ZONE),
        RecordSet(ZONE, "NS", 172800, ("ns-1.example.net.",)),
    ]


def test_an_equal_read_gets_the_view_a_fresh_read_builds() -> None:
    first = ports.view_of(ZONE, _sets())
    again = ports.view_of(ZONE, _sets())  # equal sets, other objects
    assert again is first
    assert again == ZoneView.of(ZONE, _sets())
    assert again.fence is not None and again.fence.generation == 3
    assert ports.view_of(ZONE, _sets(4)).fence.generation == 4  # type: ignore[union-attr]
    assert ports.view_of(ZONE, _sets(), "other") == ZoneView.of(ZONE, _sets(), "other")
    assert ports.view_of(ZONE, _sets()[::-1]) == ZoneView.of(ZONE, _sets()[::-1])  # order is part of a read


def test_reads_that_cannot_be_kept_are_viewed_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = [*_sets()[:-1], RecordSet(ZONE, "NS", 172800, ["ns-1.example.net."])]  # type: ignore[arg-type]
    assert ports.view_of(ZONE, odd) is not ports.view_of(ZONE, odd)  # unhashable: not kept
    assert ports.view_of(ZONE, odd).fence == ZoneView.of(ZONE, odd).fence
    monkeypatch.setattr(ports, "VIEW_MEMO_SETS", 2)
    assert ports.view_of(ZONE, _sets()) is not ports.view_of(ZONE, _sets())  # too large: not kept


def test_a_replaced_fence_parser_is_used_for_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ports.view_of(ZONE, _sets()).fence is not None
    monkeypatch.setattr(fence, "parse_fence", lambda rrset: None)  # a safeguard taken out
    assert ports.view_of(ZONE, _sets()).fence is None
    monkeypatch.undo()
    assert ports.view_of(ZONE, _sets()).fence is not None


class _Proxy:
    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)


class _Whole:
    def list_record_sets(self, zone_id: str) -> list[RecordSet]:
        return []


class _Blocked(StrictRoute53):
    list_record_sets_page = None  # type: ignore[assignment]


@pytest.mark.parametrize(
    "backend", [StrictRoute53(), _Proxy(StrictRoute53()), _Whole(), _Proxy(_Whole()), _Blocked()],
    ids=["strict", "proxy", "whole", "proxy-whole", "blocked"],
)  # fmt: skip
def test_ranged_listing_is_what_the_protocol_check_says(backend: Any) -> None:
    assert ports._has_ranged_listing(backend) is isinstance(backend, RangedListing)
