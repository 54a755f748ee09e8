"""Multi-source health validation: one wrong signal never removes a value, agreement of two does,
and nothing ever drops a set below its minimum. Probes run against real local sockets."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from safeguards.applier import Applier, ApplyOptions
from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import InvalidInput, VerificationFailed
from safeguards.health import (
    HealthVerifier,
    HttpProbe,
    StaticHealthSource,
    TcpProbe,
    assess,
    prune_unhealthy,
    source_from_spec,
)
from safeguards.plan import Plan
from safeguards.records import RecordSet
from safeguards.stores.sqlite import SqlitePlanStore

Z = "example.com."
API = RecordSet("api.example.com.", "A", 60, ("192.0.2.1", "192.0.2.2", "192.0.2.3"))


def src(name: str, **statuses: str) -> StaticHealthSource:
    return StaticHealthSource({k.replace("_", "."): v for k, v in statuses.items()}, name=name)


def test_one_unhealthy_signal_keeps_the_value_and_reports_it() -> None:
    (out,), report = assess([API], [src("a", **{"192_0_2_1": "unhealthy"}), src("b")])
    assert out == API
    assert [v.value for v in report.disputed] == ["192.0.2.1"] and not report.removed


def test_two_agreeing_sources_remove_the_value() -> None:
    bad = {"192_0_2_1": "unhealthy"}
    (out,), report = assess([API], [src("a", **bad), src("b", **bad)])
    assert out.values == ("192.0.2.2", "192.0.2.3")
    assert [v.value for v in report.removed] == ["192.0.2.1"]


def test_disagreement_keeps_the_value() -> None:
    bad = {"192_0_2_1": "unhealthy"}
    sources = [src("a", **bad), src("b", **bad), src("c", **{"192_0_2_1": "healthy"})]
    (out,), report = assess([API], sources)
    assert out == API and report.disputed[0].decision == "keep-disputed"


def test_agreement_on_every_value_never_empties_the_set() -> None:
    everything = {v.replace(".", "_"): "unhealthy" for v in API.values}
    plan = Plan(Z, 2, (API,), min_values={API.key: 2})
    pruned, report = prune_unhealthy(plan, [src("a", **everything), src("b", **everything)])
    (rec,) = pruned.records
    assert len(rec.values) == 2 and len(report.removed) == 1
    assert sum(v.decision == "keep-minimum" for v in report.verdicts) == 2


def test_a_quorum_of_one_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least 2"):
        assess([API], [src("a")], quorum=1)


def test_tcp_probe_against_a_real_socket() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    rec = RecordSet("svc.example.com.", "A", 60, ("127.0.0.1",))
    assert TcpProbe(port, timeout=1).check(rec, "127.0.0.1") == "healthy"
    listener.close()
    assert TcpProbe(port, timeout=1).check(rec, "127.0.0.1") == "unhealthy"


def test_http_probe_against_a_real_server() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        rec = RecordSet("svc.example.com.", "A", 60, ("127.0.0.1",))
        assert HttpProbe(f"http://{{value}}:{port}/ok", timeout=2).check(rec, "127.0.0.1") == "healthy"
        assert HttpProbe(f"http://{{value}}:{port}/down", timeout=2).check(rec, "127.0.0.1") == "unhealthy"
    finally:
        server.shutdown()


def test_spec_parsing(tmp_path) -> None:
    f = tmp_path / "h.yaml"
    f.write_text("192.0.2.1: unhealthy\n")
    assert source_from_spec(f"file:{f}").check(API, "192.0.2.1") == "unhealthy"
    assert isinstance(source_from_spec("tcp:443"), TcpProbe)
    with pytest.raises(InvalidInput):
        source_from_spec("carrier-pigeon:1")
    bad = tmp_path / "bad.yaml"
    bad.write_text("192.0.2.1: sickly\n")
    with pytest.raises(InvalidInput, match="unknown status"):
        source_from_spec(f"file:{bad}")


def test_health_gate_rolls_back_a_stage_two_sources_condemn(tmp_path) -> None:
    clock = VirtualClock()
    model = StrictRoute53(clock=clock, insync_after=0)
    zone_id = model.resolve_zone(Z, create=True)
    store = SqlitePlanStore(tmp_path / "p.sqlite", clock=clock)
    good = Applier(model, store, options=ApplyOptions(), clock=clock)
    good.apply(Plan(Z, 1, (API,)))
    before = {r.key: r for r in model.list_record_sets(zone_id)}[API.key]
    new = API.with_values(("192.0.2.9", "192.0.2.2", "192.0.2.3"))
    gate = HealthVerifier([src("a", **{"192_0_2_9": "unhealthy"}), src("b", **{"192_0_2_9": "unhealthy"})])
    gated = Applier(model, store, options=ApplyOptions(verifiers=(gate,)), clock=clock)
    with pytest.raises(VerificationFailed, match="agreed unhealthy"):
        gated.apply(Plan(Z, 2, (new,)))
    assert {r.key: r for r in model.list_record_sets(zone_id)}[API.key] == before
    # One source alone does not fail the gate.
    lone = HealthVerifier([src("a", **{"192_0_2_9": "unhealthy"}), src("b")])
    Applier(model, store, options=ApplyOptions(verifiers=(lone,)), clock=clock).apply(Plan(Z, 5, (new,)))
    assert {r.key: r for r in model.list_record_sets(zone_id)}[API.key] == new
