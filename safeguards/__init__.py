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
    BatchRejected,
    CircuitOpen,
    CredentialsMissing,
    EndpointUnavailable,
    FenceLost,
    GuardRefused,
    InvalidInput,
    OutcomeUnknown,
    PlanInvalid,
    PriorRequestNotComplete,
    SafeguardsError,
    StaleGeneration,
    Throttled,
    VerificationFailed,
    ZoneNotFound,
)
from .guards import GuardOptions
from .health import HealthSource, HealthVerifier, StaticHealthSource, assess, prune_unhealthy
from .plan import Plan, load_plan, parse_plan, plan_to_document
from .planstore import Lease, PlanStore, ZoneState
from .records import Change, ChangeInfo, RecordSet
from .retry import Backoff
from .stores.sqlite import SqlitePlanStore
from .verify import DnsVerifier, Verifier

__version__ = "0.1.0"

__all__ = [
    "CHECKPOINTS",
    "NO_CHECKPOINTS",
    "Applier",
    "ApplyOptions",
    "ApplyResult",
    "BackendError",
    "Backoff",
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
    "FenceLost",
    "GuardOptions",
    "GuardRefused",
    "HealthSource",
    "HealthVerifier",
    "InvalidInput",
    "Lease",
    "OutcomeUnknown",
    "Plan",
    "PlanInvalid",
    "PlanStore",
    "Preview",
    "PriorRequestNotComplete",
    "RecordSet",
    "Route53Backend",
    "SafeguardsError",
    "SqlitePlanStore",
    "StaleGeneration",
    "StaticHealthSource",
    "StrictRoute53",
    "SystemClock",
    "Throttled",
    "VerificationFailed",
    "Verifier",
    "VirtualClock",
    "ZoneNotFound",
    "ZoneState",
    "ZoneStatus",
    "assess",
    "batch_groups",
    "compute_diff",
    "load_plan",
    "parse_plan",
    "plan_to_document",
    "prune_unhealthy",
]
