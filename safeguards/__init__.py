"""dns-safeguards: make automated DNS changes to Route 53 safe.

The public API is listed in `__all__`; everything else is internal.
"""

from __future__ import annotations

from .backend import Route53Backend
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
from .plan import Plan
from .planstore import Lease, PlanStore, ZoneState
from .records import Change, ChangeInfo, RecordSet

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BatchRejected",
    "Change",
    "ChangeInfo",
    "CircuitOpen",
    "CredentialsMissing",
    "EndpointUnavailable",
    "FenceLost",
    "GuardRefused",
    "InvalidInput",
    "Lease",
    "OutcomeUnknown",
    "Plan",
    "PlanInvalid",
    "PlanStore",
    "PriorRequestNotComplete",
    "RecordSet",
    "Route53Backend",
    "SafeguardsError",
    "StaleGeneration",
    "Throttled",
    "VerificationFailed",
    "ZoneNotFound",
    "ZoneState",
]
