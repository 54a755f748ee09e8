"""Plan signing: planners sign, enactors configured with the key refuse unsigned or wrongly
signed plans, whether they come from a file or from the plan store (rollback, repair)."""

from __future__ import annotations

import pytest

from safeguards.applier import Applier, ApplyOptions
from safeguards.backends.strict import StrictRoute53
from safeguards.clock import VirtualClock
from safeguards.errors import InvalidInput, PlanIntegrityError
from safeguards.plan import Plan, parse_plan, plan_from_json, plan_to_document
from safeguards.records import RecordSet
from safeguards.signing import HmacSigner, Signer, sign_plan, verify_plan
from safeguards.stores.sqlite import SqlitePlanStore

Z = "example.com."
KEY = HmacSigner(b"0123456789abcdef-planner-key", key_id="planner")


def plan(gen: int, ip: str = "192.0.2.1") -> Plan:
    return Plan(Z, gen, (RecordSet(f"api.{Z}", "A", 60, (ip,)),))


def test_a_signature_covers_zone_generation_and_content() -> None:
    signed = sign_plan(plan(1), KEY)
    assert isinstance(KEY, Signer) and signed.signature and signed.signature.startswith("hmac-sha256:planner:")
    verify_plan(signed, KEY)
    for forged in (
        Plan(Z, 1, plan(1, "192.0.2.66").records, signature=signed.signature),  # other content
        Plan(Z, 2, signed.records, signature=signed.signature),  # other number
    ):
        with pytest.raises(PlanIntegrityError, match="does not match"):
            verify_plan(forged, KEY)
    with pytest.raises(PlanIntegrityError, match="not signed"):
        verify_plan(plan(1), KEY)
    other = HmacSigner(b"another-key-of-16-bytes-or-more", key_id="planner")
    with pytest.raises(PlanIntegrityError, match="does not match"):
        verify_plan(signed, other)
    with pytest.raises(PlanIntegrityError, match="trusts hmac-sha256:elsewhere"):
        verify_plan(signed, HmacSigner(b"0123456789abcdef-planner-key", key_id="elsewhere"))


def test_the_signature_survives_plan_files_and_the_plan_store() -> None:
    signed = sign_plan(plan(3), KEY)
    again = parse_plan(plan_to_document(signed))
    assert again.signature == signed.signature
    verify_plan(again, KEY)
    verify_plan(plan_from_json(signed.to_json()), KEY)
    with pytest.raises(Exception, match="signature: must be"):
        parse_plan({**plan_to_document(signed), "signature": "nope"})


def test_keys_from_files_and_the_environment(tmp_path, monkeypatch) -> None:
    f = tmp_path / "planner.key"
    f.write_bytes(b"0123456789abcdef-planner-key\n")
    assert HmacSigner.from_file(f).sign(b"x") == KEY.sign(b"x")
    monkeypatch.delenv("DNSSG_SIGNING_KEY", raising=False)
    assert HmacSigner.from_env() is None
    monkeypatch.setenv("DNSSG_SIGNING_KEY", "0123456789abcdef-planner-key")
    env_key = HmacSigner.from_env()
    assert env_key is not None and env_key.sign(b"x") == KEY.sign(b"x")
    with pytest.raises(InvalidInput, match="at least 16 bytes"):
        HmacSigner(b"short")
    with pytest.raises(InvalidInput, match="signing key file"):
        HmacSigner.from_file(tmp_path / "missing.key")


def test_an_enactor_with_a_key_applies_only_signed_plans_and_rolls_back_only_to_them(tmp_path) -> None:
    clock = VirtualClock()
    model = StrictRoute53(clock=clock)
    zone_id = model.resolve_zone(Z, create=True)
    store = SqlitePlanStore(tmp_path / "p.sqlite", clock=clock)
    open_ = Applier(model, store, clock=clock)
    strict = Applier(model, store, clock=clock, options=ApplyOptions(signer=KEY))
    open_.apply(plan(1))  # stored unsigned, before signing was required
    before = model.snapshot(zone_id)
    with pytest.raises(PlanIntegrityError, match="not signed") as exc:
        strict.apply(plan(2, "192.0.2.2"))
    assert exc.value.exit_code == 3 and model.snapshot(zone_id) == before
    assert strict.apply(sign_plan(plan(2, "192.0.2.2"), KEY)).outcome == "applied"
    before = model.snapshot(zone_id)
    with pytest.raises(PlanIntegrityError, match="plan store"):
        strict.rollback(Z, to=1)  # generation 1 in the store is unsigned
    assert model.snapshot(zone_id) == before
