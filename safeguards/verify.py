"""Rollout gates run after each stage: read-back is built into the applier; these are the
optional extra gates (DNS resolution against a nameserver, health sources)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .errors import InvalidInput
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

    def prepare(self) -> None:
        """Resolve the nameserver before the first write: a gate that cannot run must stop the
        apply while nothing is written (InvalidInput, exit 2), not after the batches landed."""
        import ipaddress
        import socket

        if not 0 < self.port < 65536:
            raise InvalidInput(f"--verify-dns {self.nameserver}: port {self.port} is not in 1..65535; nothing written")
        try:
            ipaddress.ip_address(self.nameserver)
            return
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(self.nameserver, self.port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            raise InvalidInput(
                f"--verify-dns {self.nameserver}: cannot resolve the nameserver's address ({exc}); nothing written"
            ) from exc
        self.nameserver = str(infos[0][4][0])

    def verify(self, zone: str, expected: Sequence[RecordSet]) -> list[str]:
        import dns.exception
        import dns.resolver

        self.prepare()  # idempotent: an address stays an address

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
