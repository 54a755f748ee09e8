"""DNS answers of the embedded state: the responder (UDP and TCP) answers what the model holds at
that moment; a resolver watching at every batch of an enactor never gets an empty answer; drift is
seen by the DNS check and gone after the enactor's next cycle."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
from _svc import Service

from safeguards.service.dnscheck import check_answers, check_live
from safeguards.service.dnsserver import DnsResponder


def _resolve(port: int, name: str, rtype: str = "A") -> list[str]:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port, r.lifetime = ["127.0.0.1"], port, 5.0
    return sorted(x.to_text() for x in r.resolve(name, rtype, raise_on_no_answer=False))


def test_a_resolver_sees_the_live_plan_never_empty_and_repairs_within_a_cycle(svc: Service) -> None:
    answers: list[tuple[str, dict[str, list[str]]]] = []
    with DnsResponder(svc.model, [svc.zone]) as responder:

        def watch(name: str, **ctx: Any) -> None:
            if name in ("batch.before", "batch.after"):
                got = {e.split(".")[0]: _resolve(responder.port, e) for e in svc.world.endpoints}
                answers.append((f"{name} {ctx.get('index')}/{ctx.get('total')}", got))

        a = svc.enactor("A", checkpoint=watch)
        assert check_live(a.applier, svc.zone, "127.0.0.1", port=responder.port) == []  # g1 answered
        svc.publish(2)
        a.run_once()
        # What a resolver got at each step: every name answered, the canary first.
        assert len(answers) == 4
        assert all(all(vals for vals in got.values()) for _, got in answers), answers
        assert answers[1][1]["ep1"] != answers[0][1]["ep1"] and answers[1][1]["regional"] == answers[0][1]["regional"]
        assert check_live(a.applier, svc.zone, "127.0.0.1", port=responder.port) == []
        assert _resolve(responder.port, svc.endpoint(2)) == sorted(svc.world.plan(2).records[-1].values)
        svc.vandalise(svc.endpoint(2), ("203.0.113.9",))
        problems = check_live(a.applier, svc.zone, "127.0.0.1", port=responder.port)
        assert len(problems) == 1 and "regional.example.com. A" in problems[0] and "203.0.113.9" in problems[0]
        a.run_once()
        assert check_live(a.applier, svc.zone, "127.0.0.1", port=responder.port) == []
        assert responder.queries > 10


def test_responder_codes_tcp_and_check_answers(svc: Service) -> None:
    with DnsResponder(svc.model, [svc.zone]) as responder:
        q = dns.message.make_query("nothing.example.com.", "A")
        r = dns.query.udp(q, "127.0.0.1", port=responder.port, timeout=5)
        assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA
        r = dns.query.udp(dns.message.make_query("example.org.", "A"), "127.0.0.1", port=responder.port, timeout=5)
        assert r.rcode() == dns.rcode.REFUSED
        r = dns.query.tcp(dns.message.make_query(svc.endpoint(0), "AAAA"), "127.0.0.1", port=responder.port, timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer  # the name exists, without AAAA
        r = dns.query.tcp(dns.message.make_query(svc.endpoint(0), "A"), "127.0.0.1", port=responder.port, timeout=5)
        assert sorted(x.to_text() for x in r.answer[0]) == sorted(svc.world.plan(1).records[0].values)
        plan = svc.world.plan(1)
        assert check_answers("127.0.0.1", plan.records, zone=svc.zone, port=responder.port) == []
        wrong = svc.world.plan(7).records[:1]
        [problem] = check_answers("127.0.0.1", wrong, zone=svc.zone, port=responder.port)
        assert "ep1.example.com. A" in problem and "expected" in problem
