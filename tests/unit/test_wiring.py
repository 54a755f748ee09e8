"""wiring: how CLI settings become an applier (embedded default or boto3), endpoint checks, the
state directory's modes, and the gates the CLI adds."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.errors import CredentialsNotFound, InvalidInput
from safeguards.stores.sqlite import SqlitePlanStore
from safeguards.verify import DnsVerifier
from safeguards.wiring import build_applier, check_endpoint_url, is_emulator_endpoint


@dataclass
class Settings:
    state: Path
    backend: str = "embedded"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    plan_table: str | None = None
    lease_table: str = "leases"
    enactor_id: str = "wiring-test"
    create_zone: bool = False


def test_the_embedded_default_is_the_strict_model_and_sqlite_in_a_private_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "st"
    wiring = build_applier(Settings(state))
    assert isinstance(wiring.applier.backend, StrictRoute53)
    assert isinstance(wiring.applier.store, SqlitePlanStore)
    assert wiring.applier.options.create_zone  # first use: the plan's zone is created
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.iterdir()} == {
        "route53.sqlite": 0o600,
        "plans.sqlite": 0o600,
    }
    wiring.applier.backend.resolve_zone("example.com.", create=True)
    assert not build_applier(Settings(state)).applier.options.create_zone  # a state with a zone: never unasked


def test_endpoints_are_checked_and_emulators_recognised() -> None:
    assert check_endpoint_url(" http://localhost:4566 ") == "http://localhost:4566"
    for bad in ("not a url", "ftp://x", "http://", "http://h:0"):
        with pytest.raises(InvalidInput):
            check_endpoint_url(bad)
    assert is_emulator_endpoint("http://127.0.0.1:4566") and is_emulator_endpoint("http://localhost:5000")
    assert not is_emulator_endpoint("https://route53.amazonaws.com") and not is_emulator_endpoint(None)


def test_a_real_endpoint_without_credentials_is_refused_before_any_call(tmp_path: Path, monkeypatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsNotFound) as exc:
        build_applier(Settings(tmp_path, backend="aws", endpoint_url="https://route53.example.net"))
    assert exc.value.exit_code == 2


def test_gates_added_by_the_cli(tmp_path: Path) -> None:
    wiring = build_applier(Settings(tmp_path / "st"))
    wiring.add_dns_verifier("127.0.0.1:5353")
    (gate,) = wiring.applier.options.verifiers
    assert isinstance(gate, DnsVerifier) and (gate.nameserver, gate.port) == ("127.0.0.1", 5353)
    for bad in ("", "host:x", "host:70000"):
        with pytest.raises(InvalidInput, match="verify-dns"):
            wiring.add_dns_verifier(bad)
