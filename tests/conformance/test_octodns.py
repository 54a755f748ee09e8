"""octoDNS with its Route 53 provider (octodns-route53) against the backends it can reach over
HTTP: a zone of over 100 mixed records (every common type, an alias, a dynamic record with
weights, a geo rule and health checks), then a change set, a type change and a root-NS update;
after each sync a second plan finds nothing to do (what was written reads back equal).
Skipped when octoDNS is not installed (pip install octodns octodns-route53)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from safeguards.records import fqdn

if TYPE_CHECKING:
    from conftest import Target

pytest.importorskip("octodns_route53")


def zone_records(generation: int) -> dict[str, Any]:
    """The zone file: 40 A, 20 AAAA, 10 CNAME, 10 MX, 10 TXT, 5 SRV, 5 CAA, 3 delegations, an alias
    and a dynamic record; `generation` 2 changes ten values, 3 turns a CNAME into an A."""
    recs: dict[str, Any] = {"": [{"type": "A", "ttl": 300, "values": ["192.0.2.1", "192.0.2.2"]},
                                 {"type": "TXT", "ttl": 300, "values": ["v=spf1 -all"]}]}
    for i in range(40):
        moved = 100 if generation >= 2 and i < 10 else 0
        recs[f"a{i}"] = {"type": "A", "ttl": 300, "value": f"198.51.100.{i + moved}"}
    for i in range(20):
        recs[f"aaaa{i}"] = {"type": "AAAA", "ttl": 300, "value": f"2001:db8::{i + 1:x}"}
    for i in range(10):
        recs[f"c{i}"] = {"type": "CNAME", "ttl": 300, "value": f"a{i}.example.net."}
        recs[f"mx{i}"] = {"type": "MX", "ttl": 300, "values": [{"preference": 10, "exchange": f"mx{i}.example.net."}]}
        recs[f"txt{i}"] = {"type": "TXT", "ttl": 300, "values": [f"token-{i}", "second string"]}
    if generation >= 3:
        recs["c0"] = {"type": "A", "ttl": 300, "value": "203.0.113.9"}
    for i in range(5):
        recs[f"_sip._tcp.s{i}"] = {"type": "SRV", "ttl": 300, "values": [
            {"priority": 10, "weight": 5, "port": 5060, "target": f"sip{i}.example.net."}]}
        recs[f"caa{i}"] = {"type": "CAA", "ttl": 300, "values": [{"flags": 0, "tag": "issue", "value": "ca.example"}]}
    for i in range(3):
        recs[f"sub{i}"] = {"type": "NS", "ttl": 3600, "values": [f"ns{j}.sub{i}.example.net." for j in (1, 2)]}
    recs["alias"] = {"type": "Route53Provider/ALIAS", "value": {"name": "a1", "type": "A"}}
    recs["dyn"] = {
        "type": "A", "ttl": 60, "value": "192.0.2.250",
        "dynamic": {
            "pools": {
                "eu": {"values": [{"value": "192.0.2.11", "weight": 1}, {"value": "192.0.2.12", "weight": 2}]},
                "us": {"values": [{"value": "192.0.2.13"}]},
            },
            "rules": [{"geos": ["EU"], "pool": "eu"}, {"pool": "us"}],
        },
    }
    return recs


def sync(t: Target, tmp: Path, records: dict[str, Any], *, dry_run: bool, force: bool = False) -> int:
    from octodns.manager import Manager

    name = t.zone.rstrip(".")
    (tmp / "zones").mkdir(exist_ok=True)
    (tmp / "zones" / f"{name}.yaml").write_text(yaml.safe_dump(records))
    config = {
        "manager": {"max_workers": 1},
        "providers": {
            "config": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(tmp / "zones"),
                       "enforce_order": False},
            "route53": {"class": "octodns_route53.Route53Provider", "access_key_id": "testing",
                        "secret_access_key": "testing"},
        },
        "zones": {f"{name}.": {"sources": ["config"], "targets": ["route53"]}},
    }
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    return int(Manager(str(tmp / "config.yaml")).sync(dry_run=dry_run, force=force, plan_output_fh=io.StringIO()))


def test_octodns_syncs_a_mixed_zone_and_reads_it_back(target: Target, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    t = target
    if t.is_strict:
        pytest.skip("the embedded model has no HTTP endpoint for octoDNS")
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(t.backend.client.meta.endpoint_url))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for generation in (1, 2, 3):
        records = zone_records(generation)
        assert sum(1 for v in records.values() for _ in (v if isinstance(v, list) else [v])) >= 100
        assert sync(t, tmp_path, records, dry_run=False) > 0
        assert sync(t, tmp_path, records, dry_run=True) == 0, f"generation {generation} did not read back equal"
    # Root NS: octoDNS UPSERTs the apex NS set (only its DELETE is refused by Route 53).
    ns = [f"ns-{i}.awsdns-{i:02d}.net." for i in range(4)]
    records = {**zone_records(3), "": [*zone_records(3)[""], {"type": "NS", "ttl": 172800, "values": ns}]}
    assert sync(t, tmp_path, records, dry_run=False, force=True) > 0  # octoDNS asks to force root NS changes
    assert sync(t, tmp_path, records, dry_run=True) == 0
    listed = t.backend.list_record_sets(t.zone_id)
    (apex_ns,) = [r for r in listed if r.type == "NS" and r.name == fqdn(t.zone)]
    assert set(apex_ns.values) == set(ns)
