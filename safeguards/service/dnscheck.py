"""What a resolver gets: the live records of a zone checked against a nameserver's answers,
with the library's own DNS gate (`safeguards.verify.DnsVerifier`).

    problems = check_live(applier, "example.com.", "127.0.0.1", port=5353)   # [] when it answers the plan

The expected records are the live plan's (the plan whose content the fence names), read from the
plan store; simple sets of A, AAAA, CNAME, TXT and MX are compared (as `DnsVerifier` does).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..applier import Applier
from ..plan import DEFAULT_OWNER
from ..planstore import scope
from ..records import RecordSet, fqdn
from ..verify import DnsVerifier

__all__ = ["check_answers", "check_live"]


def check_answers(nameserver: str, records: Sequence[RecordSet], *, zone: str = "", port: int = 53,
                  timeout: float = 2.0) -> list[str]:  # fmt: skip
    """Problems (one line each) where `nameserver` does not answer `records`' values; [] if it does."""
    verifier = DnsVerifier(nameserver, port=port, timeout=timeout)
    verifier.prepare()
    return verifier.verify(zone, list(records))


def check_live(
    applier: Applier, zone: str, nameserver: str, *, port: int = 53, timeout: float = 2.0, owner: str = DEFAULT_OWNER
) -> list[str]:
    """`check_answers` for `owner`'s content live on `zone` (per its fence) as the plan store holds it."""
    zone = fqdn(zone)
    status = applier.status(zone, owner=owner)
    if status.fence is None:
        return [f"{zone}: nothing of ours is live (no fence record)"]
    plan = applier.store.get_plan(scope(zone, owner), status.fence.content)
    if plan is None:
        return [f"{zone}: the live content g{status.fence.content} is not in the plan store"]
    return check_answers(nameserver, plan.records, zone=zone, port=port, timeout=timeout)
