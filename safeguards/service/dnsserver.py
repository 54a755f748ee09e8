"""DNS answers for a Route 53 backend: a small authoritative responder (dnspython; UDP and TCP on a
local port) serving the zones as the backend holds them, so gates (``--verify-dns``), watchers and
people (``dig @127.0.0.1 -p PORT api.example.com``) see real DNS answers of the embedded state.

Every query reads the zone from the backend (`list_record_sets`): what it answers is what Route 53
holds at that moment, never a cache. Answers are authoritative (AA): the records of the asked
name and type; a CNAME when the name holds one (not chased); NOERROR with no answer when the name
exists with other types; NXDOMAIN when it does not exist; REFUSED outside the served zones.
Routing policies are flattened: every member set's values are answered together (a resolver of
real Route 53 sees one member; the checks here compare whole sets).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable
from typing import Any

from ..backend import Route53Backend
from ..records import RecordSet, fqdn

__all__ = ["DnsResponder"]


class DnsResponder:
    """Answers DNS queries for `zones` from `backend` on `host`:`port` (0: any free port; the same
    port for UDP and TCP). Daemon threads; `close()` (or the context manager) stops it."""

    def __init__(self, backend: Route53Backend, zones: Iterable[str], *, host: str = "127.0.0.1", port: int = 0):
        self.backend = backend
        self.zones = sorted((fqdn(z) for z in zones), key=len, reverse=True)  # the longest suffix first
        self._zone_ids: dict[str, str] = {}
        self.queries = 0
        responder = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(responder.answer(data), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError):
                    while True:
                        head = _recv_exact(self.request, 2)
                        if head is None:
                            return
                        query = _recv_exact(self.request, struct.unpack("!H", head)[0])
                        if query is None:
                            return
                        reply = responder.answer(query)
                        self.request.sendall(struct.pack("!H", len(reply)) + reply)

        self._udp = socketserver.ThreadingUDPServer((host, port), Udp)
        bound = self._udp.server_address[1]
        self._tcp = socketserver.ThreadingTCPServer((host, bound), Tcp, bind_and_activate=False)
        self._tcp.allow_reuse_address = True
        try:
            self._tcp.server_bind()
            self._tcp.server_activate()
        except OSError:
            self._udp.server_close()
            raise
        for server in (self._udp, self._tcp):
            server.daemon_threads = True
        self._threads = [
            threading.Thread(target=s.serve_forever, name=f"dnssg-dns-{n}", daemon=True)
            for n, s in (("udp", self._udp), ("tcp", self._tcp))
        ]

    @property
    def port(self) -> int:
        return int(self._udp.server_address[1])

    @property
    def host(self) -> str:
        return str(self._udp.server_address[0])

    def start(self) -> DnsResponder:
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> DnsResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ answering

    def answer(self, wire: bytes) -> bytes:
        """The response to one query in wire format (FORMERR for what is not a query)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype

        self.queries += 1
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return _formerr(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text().lower()
        zone = next((z for z in self.zones if name == z or name.endswith("." + z)), None)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        try:
            sets = [r for r in self.backend.list_record_sets(self._zone_id(zone)) if r.name == name]
        except Exception:  # the backend failed: SERVFAIL, as a real server would
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if not sets:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        qtype = dns.rdatatype.to_text(question.rdtype)
        chosen = [r for r in sets if r.type == qtype] or [r for r in sets if r.type == "CNAME"]
        for rrset in _merged(chosen):
            response.answer.append(_to_rrset(rrset))
        return response.to_wire()

    def _zone_id(self, zone: str) -> str:
        zid = self._zone_ids.get(zone)
        if zid is None:
            zid = self._zone_ids[zone] = self.backend.resolve_zone(zone)
        return zid


def _merged(sets: list[RecordSet]) -> list[RecordSet]:
    """One set per type: the members of a routing policy answered together."""
    by_type: dict[str, RecordSet] = {}
    for r in sets:
        if r.alias_target is not None:
            continue  # an alias has no values of its own to answer here
        seen = by_type.get(r.type)
        values = tuple(sorted({*(seen.values if seen else ()), *r.values}))
        by_type[r.type] = RecordSet(r.name, r.type, min(r.ttl, seen.ttl) if seen else r.ttl, values)
    return list(by_type.values())


def _to_rrset(r: RecordSet) -> Any:
    import dns.rrset

    return dns.rrset.from_text_list(r.name, r.ttl, "IN", r.type, list(r.values))


def _formerr(wire: bytes) -> bytes:
    if len(wire) < 2:
        return b""
    # Header only: the query's id, QR set, FORMERR.
    return wire[:2] + bytes([0x80, 0x01]) + b"\x00" * 8


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data
