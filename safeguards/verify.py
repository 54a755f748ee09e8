"""Rollout gates run after each stage: read-back is built into the applier; these are the
optional extra gates (DNS resolution against a nameserver, health sources)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .records import RecordSet


@runtime_checkable
class Verifier(Protocol):
    """A gate: returns problems (one line each); an empty list passes."""

    name: str

    def verify(self, zone: str, expected: Sequence[RecordSet]) -> list[str]: ...


class DnsVerifier:
    """Resolves each expected simple set against `nameserver` with dnspython and compares the
    answer with the expected values. Weighted sets are skipped: a resolver sees one member."""

    name = "dns"

    def __init__(self, nameserver: str, *, port: int = 53, timeout: float = 2.0) -> None:
        self.nameserver = nameserver
        self.port = port
        self.timeout = timeout

    def verify(self, zone: str, expected: Sequence[RecordSet]) -> list[str]:
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [self.nameserver]
        resolver.port = self.port
        resolver.lifetime = self.timeout
        problems = []
        for rrset in expected:
            if rrset.set_identifier is not None or rrset.type not in ("A", "AAAA", "CNAME", "TXT", "MX"):
                continue
            try:
                answer = resolver.resolve(rrset.name, rrset.type, raise_on_no_answer=False)
                got = sorted(r.to_text() for r in answer)
            except dns.exception.DNSException as exc:
                problems.append(f"{rrset.name} {rrset.type}: resolution failed at {self.nameserver}: {exc}")
                continue
            want = sorted(v.lower() for v in rrset.values) if rrset.type == "CNAME" else sorted(rrset.values)
            if got != want:
                problems.append(f"{rrset.name} {rrset.type}: {self.nameserver} answers {got}, expected {want}")
        return problems
