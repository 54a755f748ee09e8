"""The DNS gate: resolved and checked before the first write; compares answers with what a
stage published, through a real UDP nameserver (a tiny authoritative responder in the test)."""

from __future__ import annotations

import pytest

from safeguards.errors import InvalidInput
from safeguards.records import RecordSet
from safeguards.verify import DnsVerifier, Verifier


def test_a_gate_that_cannot_run_is_bad_input_before_anything_is_written() -> None:
    with pytest.raises(InvalidInput, match="cannot resolve the nameserver"):
        DnsVerifier("no-such-nameserver.invalid").prepare()
    with pytest.raises(InvalidInput, match="port 0"):
        DnsVerifier("127.0.0.1", port=0).prepare()
    gate = DnsVerifier("localhost")
    gate.prepare()
    assert gate.nameserver in ("127.0.0.1", "::1") and isinstance(gate, Verifier)


def test_answers_are_compared_with_what_was_published() -> None:
    import socket
    import threading

    import dns.message
    import dns.rrset

    answers = {"api.example.com.": ["192.0.2.1"]}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:  # a tiny authoritative responder: enough for the gate
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                data, addr = sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            q = query.question[0]
            values = answers.get(q.name.to_text(), [])
            if values:
                reply.answer.append(dns.rrset.from_text_list(q.name, 60, "IN", "A", values))
            sock.sendto(reply.to_wire(), addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        gate = DnsVerifier("127.0.0.1", port=port)
        ok = RecordSet("api.example.com.", "A", 60, ("192.0.2.1",))
        assert gate.verify("example.com.", [ok]) == []
        wrong = RecordSet("api.example.com.", "A", 60, ("192.0.2.9",))
        (problem,) = gate.verify("example.com.", [wrong])
        assert "answers ['192.0.2.1'], expected ['192.0.2.9']" in problem
        weighted = RecordSet("api.example.com.", "A", 60, ("192.0.2.9",), "blue", 10)
        assert gate.verify("example.com.", [weighted]) == []  # a resolver sees one member: skipped
    finally:
        stop.set()
        thread.join(2)
        sock.close()
