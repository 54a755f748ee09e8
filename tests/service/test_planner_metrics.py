"""Publishing (numbering, checksums, signatures; never Route 53) and the metrics an enactor
exposes (Prometheus text, /healthz, /readyz, /status), scraped over HTTP."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request

import pytest
from _svc import Service

from safeguards.errors import PlanIntegrityError, PlanInvalid, StaleGeneration
from safeguards.plan import load_plan
from safeguards.records import RecordSet
from safeguards.service import Metrics, MetricsServer, Planner
from safeguards.signing import HmacSigner, verify_plan
from safeguards.stores.sqlite import SqlitePlanStore

KEY = HmacSigner(b"0123456789abcdef-service", key_id="svc")


def test_publish_takes_the_next_generation_from_the_allocator_and_never_touches_route53(svc: Service) -> None:
    calls = sum(svc.model.calls.values())
    planner = Planner(svc.store)
    plan = svc.world.plan(1)
    assert [planner.publish(plan) for _ in range(3)] == [2, 3, 4]  # the same file, three new generations
    stored = svc.store.get_plan(svc.zone, 4)
    assert stored is not None and stored.checksum == plan.checksum and stored.declared_checksum == plan.checksum
    assert sum(svc.model.calls.values()) == calls


def test_publish_under_its_own_generation_is_verified_and_idempotent(svc: Service) -> None:
    planner = Planner(svc.store, renumber=False)
    assert planner.publish(svc.world.plan(5)) == 5
    assert planner.publish(svc.world.plan(5)) == 5  # the same plan again: no-op
    assert planner.publish_plan(svc.world.plan(5)).new is False
    with pytest.raises(StaleGeneration, match="generation 5 is already published"):
        planner.publish(svc.world.plan(4))
    other = dataclasses.replace(svc.world.plan(6), generation=5)
    with pytest.raises(StaleGeneration):
        planner.publish(other)  # generation 5 with other content
    assert svc.store.generations(svc.zone) == [1, 5]


def test_publish_refuses_an_invalid_plan_before_taking_a_number(svc: Service) -> None:
    bad = dataclasses.replace(
        svc.world.plan(2), records=(RecordSet("ep1.example.com.", "A", 60, ("300.1.1.1",)),), canary=()
    )
    with pytest.raises(PlanInvalid):
        Planner(svc.store).publish(bad)
    assert svc.store.generations(svc.zone) == [1]
    assert Planner(svc.store).publish(svc.world.plan(2)) == 2  # no number was burnt


def test_signed_publish_is_enacted_by_an_enactor_with_the_key_and_unsigned_is_refused(svc: Service) -> None:
    signed_gen = Planner(svc.store, signer=KEY).publish(svc.world.plan(1))
    stored = svc.store.get_plan(svc.zone, signed_gen)
    assert stored is not None
    verify_plan(stored, KEY)
    e = svc.enactor("A", options=dataclasses.replace(svc.world.options, signer=KEY))
    [r] = e.run_once()
    assert (r.outcome, r.live_generation) == ("applied", signed_gen)
    Planner(svc.store).publish(svc.world.plan(1))  # unsigned
    [refused] = e.run_once()
    assert refused.kind == PlanIntegrityError.__name__ and refused.exit_code == 3
    assert e.metrics.get("refusals_total", zone=svc.zone, guard="integrity") == 1


def test_publish_a_plan_file() -> None:
    store = SqlitePlanStore(":memory:")
    plan = load_plan("examples/example.com.yaml")
    published = Planner(store, signer=KEY).publish_plan(plan)
    assert published.to_dict() == {
        "zone": "example.com.",
        "generation": 1,
        "checksum": plan.checksum,
        "signed": True,
        "new": True,
    }


def test_metrics_are_scraped_over_http(svc: Service) -> None:
    e = svc.enactor("A")
    svc.publish(2)
    with MetricsServer(e.metrics, port=0) as server:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{base}/readyz", timeout=10)
        assert not_ready.value.code == 503 and b"no cycle completed yet" in not_ready.value.read()
        e.run_once()
        text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
        assert 'dnssg_live_generation{zone="example.com."} 2\n' in text
        assert 'dnssg_published_generation{zone="example.com."} 2\n' in text
        assert 'dnssg_applies_total{outcome="applied",zone="example.com."} 1\n' in text
        assert 'dnssg_circuit_open{zone="example.com."} 0\n' in text
        assert "# TYPE dnssg_applies_total counter" in text and "dnssg_cycles_total 1\n" in text
        # Histograms: one observation per batch (canary, then the rest), one per writing cycle.
        assert e.metrics.count("batch_seconds", zone=svc.zone) == 2 == e.metrics.get("batches_total", zone=svc.zone)
        assert 'dnssg_batch_seconds_bucket{zone="example.com.",le="+Inf"} 2\n' in text
        assert 'dnssg_batch_seconds_count{zone="example.com."} 2\n' in text
        assert 'dnssg_cycle_seconds_count{zone="example.com."} 1\n' in text
        assert urllib.request.urlopen(f"{base}/healthz", timeout=10).status == 200
        assert urllib.request.urlopen(f"{base}/readyz", timeout=10).read() == b"ok: ready\n"
        status = json.loads(urllib.request.urlopen(f"{base}/status", timeout=10).read())
        assert status["zones"]["example.com."]["outcome"] == "applied" and status["enactor"] == "A"
        # An enactor whose loop stopped turning is not healthy (three intervals without a cycle).
        svc.clock.advance(3 * svc.interval + 1)
        with pytest.raises(urllib.error.HTTPError) as unhealthy:
            urllib.request.urlopen(f"{base}/healthz", timeout=10)
        assert unhealthy.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/nothing", timeout=10)
        assert missing.value.code == 404


def test_metrics_text_format_escapes_labels_and_refuses_unknown_names() -> None:
    m = Metrics(clock=lambda: 5.0)
    m.inc("errors_total", zone='we"ird\\zone', kind="X")
    m.set("live_generation", 3.5, zone="z.")
    text = m.render()
    assert 'dnssg_errors_total{kind="X",zone="we\\"ird\\\\zone"} 1' in text
    assert 'dnssg_live_generation{zone="z."} 3.5' in text
    with pytest.raises(KeyError):
        m.inc("no_such_metric")
    m.set("live_generation", None, zone="z.")
    assert "dnssg_live_generation" not in m.render()
