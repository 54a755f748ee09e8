"""The metrics live in a prometheus_client registry of their own: the text a scraper gets parses
with prometheus_client's own parser, OpenMetrics is served on request, and the series derived
from what the enactor reports (rollbacks, lease holder) say what they are."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from safeguards.service import Metrics, MetricsServer


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_each_metrics_has_its_own_registry_never_the_global_one() -> None:
    a, b = Metrics(enactor="a"), Metrics(enactor="b")
    a.inc("applies_total", zone="z.", outcome="applied")
    assert a.registry is not b.registry and a.registry is not REGISTRY
    assert b.get("applies_total", zone="z.", outcome="applied") == 0
    assert REGISTRY.get_sample_value("dnssg_applies_total", {"zone": "z.", "outcome": "applied"}) is None


def test_the_text_parses_and_has_no_created_samples() -> None:
    m = Metrics(enactor="a", clock=lambda: 100.0)
    m.inc("applies_total", zone="z.", outcome="applied")
    m.observe("batch_seconds", 0.2, zone="z.")
    m.set("live_generation", 7, zone="z.")
    text = m.render()
    assert "_created" not in text
    samples = _families(text)
    assert samples["dnssg_applies_total"] == {(("outcome", "applied"), ("zone", "z.")): 1.0}
    assert samples["dnssg_batch_seconds_count"] == {(("zone", "z."),): 1.0}
    assert samples["dnssg_batch_seconds_bucket"][(("le", "0.25"), ("zone", "z."))] == 1.0
    assert samples["dnssg_batch_seconds_bucket"][(("le", "0.1"), ("zone", "z."))] == 0.0
    assert samples["dnssg_live_generation"] == {(("zone", "z."),): 7.0}


def test_rollbacks_are_counted_from_what_the_enactor_reports() -> None:
    m = Metrics(enactor="a", clock=lambda: 1.0)
    m.error("z.", "VerificationFailed", "z. generation 5: stage 'canary' failed verification (x); restored the "
            "previous content (verified), live as g5.r1 (content of g4)")  # fmt: skip
    m.error("z.", "VerificationFailed", "z. generation 5: ...; this repair was not undone")  # nothing put back
    m.error("z.", "RestoreIncomplete", "z.: restore of generation 5 did not complete")
    m.inc("applies_total", zone="z.", outcome="rolled-back")
    assert m.get("rollbacks_total", zone="z.", result="restored") == 1
    assert m.get("rollbacks_total", zone="z.", result="incomplete") == 1
    assert m.get("rollbacks_total", zone="z.", result="rolled-back") == 1
    assert m.total("rollbacks_total") == 3
    assert 'dnssg_rollbacks_total{result="restored",zone="z."} 1\n' in m.render()


def test_lease_holder_is_this_enactors_view() -> None:
    m = Metrics(enactor="enactor-az1")
    m.report("z.", {"outcome": "busy", "error": "z.: lease held by enactor-az2 (epoch 4) for 12 s more"})
    assert m.get("lease_holder", zone="z.", holder="enactor-az2") == 1
    m.report("z.", {"outcome": "in-sync", "batches": 0})  # says nothing about the lease
    assert m.get("lease_holder", zone="z.", holder="enactor-az2") == 1
    m.report("z.", {"outcome": "applied", "batches": 2})
    assert m.get("lease_holder", zone="z.", holder="enactor-az1") == 1
    assert 'holder="enactor-az2"' not in m.render()  # one holder per zone at a time
    # The DynamoDB store's wording names the holder too.
    m.report("z.", {"outcome": "busy", "error": "z.: lease epoch 3 of enactor-az1 is no longer current "
                    "(enactor-az3 holds epoch 4); apply refused"})  # fmt: skip
    assert m.get("lease_holder", zone="z.", holder="enactor-az3") == 1
    assert m.status()["lease_holder"] == {"z.": "enactor-az3"}


def test_openmetrics_on_request_over_http() -> None:
    m = Metrics(enactor="a", clock=lambda: 1.0)
    m.inc("repairs_total", zone="z.")
    m.cycle_done()
    with MetricsServer(m, port=0) as server:
        url = f"http://127.0.0.1:{server.port}/metrics"
        plain = urllib.request.urlopen(url, timeout=10)
        assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert 'dnssg_repairs_total{zone="z."} 1\n' in plain.read().decode()
        req = urllib.request.Request(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        om = urllib.request.urlopen(req, timeout=10)
        assert om.headers["Content-Type"].startswith("application/openmetrics-text")
        body = om.read().decode()
        assert 'dnssg_repairs_total{zone="z."} 1.0' in body and body.endswith("# EOF\n")


def test_wrong_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        Metrics().inc("applies_total", zone="z.")
