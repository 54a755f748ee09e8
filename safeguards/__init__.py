"""dns-safeguards: make automated DNS changes to Route 53 safe.

The public API is listed in `__all__`; everything else is internal.
"""

from __future__ import annotations

from .applier import Applier, ApplyOptions, ApplyResult, Preview, ZoneStatus
from .backend import Route53Backend
from .backends.strict import Faults, StrictRoute53
from .checkpoints import CHECKPOINTS, NO_CHECKPOINTS, Checkpoint
from .clock import Clock, SystemClock, VirtualClock
from .diff import ChangeGroup, Diff, batch_groups, compute_diff
from .errors import (
    BackendError,
    BatchInvalid,
    BatchRejected,
    CircuitOpen,
    CredentialsMissing,
    EndpointUnavailable,
    FenceLost,
    GuardRefused,
    InvalidInput,
    LeaseLost,
    OutcomeUnknown,
    PlanIntegrityError,
    PlanInvalid,
    PriorRequestNotComplete,
    RestoreIncomplete,
    SafeguardsError,
    StaleGeneration,
    Superseded,
    Throttled,
    VerificationFailed,
    ZoneNotFound,
)
from .fence import Fence, ZoneView
from .guards import DEFAULT_GUARDS, Guard, GuardContext, GuardOptions, Verdict
from .health import HealthSource, HealthVerifier, StaticHealthSource, assess, prune_unhealthy
from .plan import Plan, load_plan, parse_plan, plan_to_document
from .planstore import Lease, PlanStore, ZoneState
from .records import Change, ChangeInfo, RecordSet
from .retry import Backoff, FullJitter, RetryPolicy, stop_after_attempt, stop_after_delay
from .signing import HmacSigner, Signer, sign_plan, verify_plan
from .stores.sqlite import SqlitePlanStore
from .verify import DnsVerifier, Verifier

__version__ = "0.1.0"

__all__ = [
    "CHECKPOINTS",
    "DEFAULT_GUARDS",
    "NO_CHECKPOINTS",
    "Applier",
    "ApplyOptions",
    "ApplyResult",
    "BackendError",
    "Backoff",
    "BatchInvalid",
    "BatchRejected",
    "Change",
    "ChangeGroup",
    "ChangeInfo",
    "Checkpoint",
    "CircuitOpen",
    "Clock",
    "CredentialsMissing",
    "Diff",
    "DnsVerifier",
    "EndpointUnavailable",
    "Faults",
    "Fence",
    "FenceLost",
    "FullJitter",
    "Guard",
    "GuardContext",
    "GuardOptions",
    "GuardRefused",
    "HealthSource",
    "HealthVerifier",
    "HmacSigner",
    "InvalidInput",
    "Lease",
    "LeaseLost",
    "OutcomeUnknown",
    "Plan",
    "PlanIntegrityError",
    "PlanInvalid",
    "PlanStore",
    "Preview",
    "PriorRequestNotComplete",
    "RecordSet",
    "RestoreIncomplete",
    "RetryPolicy",
    "Route53Backend",
    "SafeguardsError",
    "Signer",
    "SqlitePlanStore",
    "StaleGeneration",
    "StaticHealthSource",
    "StrictRoute53",
    "Superseded",
    "SystemClock",
    "Throttled",
    "Verdict",
    "VerificationFailed",
    "Verifier",
    "VirtualClock",
    "ZoneNotFound",
    "ZoneState",
    "ZoneStatus",
    "ZoneView",
    "assess",
    "batch_groups",
    "compute_diff",
    "load_plan",
    "parse_plan",
    "plan_to_document",
    "prune_unhealthy",
    "sign_plan",
    "stop_after_attempt",
    "stop_after_delay",
    "verify_plan",
]
