"""Fault injection for tests, and a route that says which Route 53 provider this LocalStack runs.

Routes (added to LocalStack's gateway at start-up by the ``on_infra_start`` hook below):

- ``GET /_dnssg/info`` -> ``{"route53_provider": "strict"|"stock", "stamp": ..., "pending_faults": {...}}``
- ``POST /_dnssg/faults`` with ``{"throttle": n}`` (optional ``"code"``: ``"Throttling"`` (default)
  or ``"PriorRequestNotComplete"``): the next n ChangeResourceRecordSets calls fail with that
  error (HTTP 400) and change nothing. ``{"throttle": 0}`` clears. Answers 409 under the stock
  provider, which cannot inject faults.
- ``DELETE /_dnssg/faults`` clears pending faults.
- ``GET/POST /_dnssg/settings`` with ``{"insync_after": seconds, "sets_per_zone": n}``: how long a
  change stays PENDING (default ``DNSSG_ROUTE53_INSYNC_AFTER`` or 0) and the zone's set quota.

Why an HTTP hook: the tests run in another process (another venv) than LocalStack, and an
environment variable would fix the faults for the lifetime of the process.
"""

from __future__ import annotations

import json
import os
import threading

from localstack.http import Request, Response
from localstack.runtime import hooks

FAULT_CODES = ("Throttling", "PriorRequestNotComplete")


class FaultPlan:
    """Pending faults for ChangeResourceRecordSets; thread-safe (the gateway serves requests concurrently)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining = 0
        self._code = FAULT_CODES[0]

    def arm(self, count: int, code: str) -> None:
        """Make the next count calls fail with code (count 0 clears)."""
        with self._lock:
            self._remaining = count
            self._code = code

    def take(self) -> str | None:
        """Consume one pending fault: its error code, or None when none is pending."""
        with self._lock:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
            return self._code

    def pending(self) -> dict[str, object]:
        """The pending faults, for GET /_dnssg/info and /_dnssg/faults."""
        with self._lock:
            return {"throttle": self._remaining, "code": self._code}


FAULTS = FaultPlan()


class Settings:
    """Tunable Route 53 behaviour of the strict provider (plain attributes: assignments are atomic)."""

    def __init__(self) -> None:
        self.insync_after = float(os.environ.get("DNSSG_ROUTE53_INSYNC_AFTER", "0") or 0)
        self.sets_per_zone = 10000

    def quotas(self) -> object:
        from dnssg_route53_rules import Quotas

        return Quotas(sets_per_zone=self.sets_per_zone)

    def as_dict(self) -> dict[str, object]:
        return {"insync_after": self.insync_after, "sets_per_zone": self.sets_per_zone}


SETTINGS = Settings()


def route53_provider() -> str:
    """The Route 53 provider this process was started with, as localstack/start names it."""
    override = os.environ.get("PROVIDER_OVERRIDE_ROUTE53", "").strip()
    return "strict" if override == "strict" else "stock"


def _json(document: object, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


def info(request: Request, **_: object) -> Response:
    """GET /_dnssg/info."""
    # stamp: localstack/start's hash of requirements + plugin sources, to spot a stale instance.
    stamp = os.environ.get("DNSSG_PLUGIN_STAMP", "")
    return _json({"route53_provider": route53_provider(), "stamp": stamp, "pending_faults": FAULTS.pending()})


def faults(request: Request, **_: object) -> Response:
    """GET/POST/DELETE /_dnssg/faults (see the module docstring)."""
    if request.method == "GET":
        return _json(FAULTS.pending())
    if request.method == "DELETE":
        FAULTS.arm(0, FAULT_CODES[0])
        return _json(FAULTS.pending())
    if route53_provider() != "strict":
        return _json({"error": "fault injection needs the strict Route 53 provider (localstack/start)"}, 409)
    try:
        body = json.loads(request.get_data() or b"{}")
        count = int(body.get("throttle", 0))
        code = str(body.get("code", FAULT_CODES[0]))
    except (ValueError, TypeError, AttributeError):
        return _json({"error": 'expected JSON {"throttle": <int>, "code": "Throttling"}'}, 400)
    if count < 0 or code not in FAULT_CODES:
        return _json({"error": f"throttle must be >= 0 and code one of {list(FAULT_CODES)}"}, 400)
    FAULTS.arm(count, code)
    return _json(FAULTS.pending())


def settings(request: Request, **_: object) -> Response:
    """GET/POST /_dnssg/settings (see the module docstring)."""
    if request.method == "POST":
        try:
            body = json.loads(request.get_data() or b"{}")
            if "insync_after" in body:
                SETTINGS.insync_after = max(0.0, float(body["insync_after"]))
            if "sets_per_zone" in body:
                SETTINGS.sets_per_zone = max(1, int(body["sets_per_zone"]))
        except (ValueError, TypeError, AttributeError):
            return _json({"error": 'expected JSON {"insync_after": <seconds>, "sets_per_zone": <int>}'}, 400)
    return _json(SETTINGS.as_dict())


@hooks.on_infra_start()
def register_routes() -> None:
    """Add the /_dnssg routes to the gateway before it serves requests."""
    from localstack.services.edge import ROUTER

    ROUTER.add("/_dnssg/info", endpoint=info, methods=["GET"])
    ROUTER.add("/_dnssg/faults", endpoint=faults, methods=["GET", "POST", "DELETE"])
    ROUTER.add("/_dnssg/settings", endpoint=settings, methods=["GET", "POST"])
