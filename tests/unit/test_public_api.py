"""The public surface, pinned (after httpx's test_exported_members): adding or removing a name
from `safeguards.__all__` is a decision, made here on purpose, never a side effect."""

from __future__ import annotations

import safeguards

PUBLIC = {
    # operations and results
    "Applier", "ApplyOptions", "ApplyResult", "Preview", "ZoneStatus",
    # plans
    "Plan", "load_plan", "parse_plan", "plan_to_document",
    # records, changes, the fence protocol
    "RecordSet", "Change", "ChangeInfo", "ChangeGroup", "Diff", "batch_groups", "compute_diff", "Fence", "ZoneView",
    # guards as data
    "Guard", "GuardContext", "GuardOptions", "Verdict", "DEFAULT_GUARDS",
    # seams: backends, stores, clocks, checkpoints, gates, signing
    "Route53Backend", "StrictRoute53", "Faults", "PlanStore", "SqlitePlanStore", "Lease", "ZoneState",
    "Clock", "SystemClock", "VirtualClock", "Checkpoint", "CHECKPOINTS", "NO_CHECKPOINTS",
    "Verifier", "DnsVerifier", "HealthSource", "HealthVerifier", "StaticHealthSource", "assess", "prune_unhealthy",
    "Signer", "HmacSigner", "sign_plan", "verify_plan",
    # retry policies
    "Backoff", "RetryPolicy", "FullJitter", "stop_after_attempt", "stop_after_delay",
    # the exception tree
    "SafeguardsError", "InvalidInput", "PlanInvalid", "ZoneNotFound", "BatchInvalid", "GuardRefused",
    "PlanIntegrityError", "StaleGeneration", "Superseded", "LeaseLost", "FenceLost", "VerificationFailed",
    "CircuitOpen", "RestoreIncomplete", "BackendError", "BatchRejected", "Throttled", "PriorRequestNotComplete",
    "OutcomeUnknown", "EndpointUnavailable", "CredentialsMissing",
}  # fmt: skip


def test_the_public_names_are_exactly_the_pinned_ones() -> None:
    assert set(safeguards.__all__) == PUBLIC
    assert len(safeguards.__all__) == len(set(safeguards.__all__))


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in safeguards.__all__:
        obj = getattr(safeguards, name)
        if callable(obj) and not isinstance(obj, tuple):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"


def test_every_library_error_maps_to_an_exit_code() -> None:
    errors = [getattr(safeguards, n) for n in safeguards.__all__]
    errors = [e for e in errors if isinstance(e, type) and issubclass(e, safeguards.SafeguardsError)]
    assert all(isinstance(e.exit_code, int) and 1 <= e.exit_code <= 8 for e in errors)
    assert safeguards.FenceLost is safeguards.LeaseLost  # the old name stays an alias
