"""Multi-source health validation: never trust a single signal.

A value may be removed from a record set because it is unhealthy only when at least `quorum`
independent sources say so and none says it is healthy; any disagreement keeps the value and is
reported. And whatever the sources say, a set never drops below its `min_values`: one wrong signal
(or two) must never empty an endpoint.

Sources implement the narrow `HealthSource` protocol: a static file, a TCP or HTTP probe, or
Route 53 health checks. `assess` and `prune_unhealthy` are pure given the sources' answers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import InvalidInput
from .plan import Plan
from .records import RecordSet

Health = Literal["healthy", "unhealthy", "unknown"]
_VALID: frozenset[str] = frozenset(("healthy", "unhealthy", "unknown"))


@runtime_checkable
class HealthSource(Protocol):
    """One independent opinion on whether a record value (an address, a host) is healthy."""

    name: str

    def check(self, rrset: RecordSet, value: str) -> Health:
        """'healthy', 'unhealthy', or 'unknown' when this source has no opinion (or failed)."""
        ...


# ---------------------------------------------------------------------------------- sources


class StaticHealthSource:
    """Opinions from a mapping {value: "healthy"|"unhealthy"} (e.g. an operator's override file)."""

    def __init__(self, statuses: Mapping[str, str], *, name: str = "static") -> None:
        bad = {v: s for v, s in statuses.items() if s not in _VALID}
        if bad:
            raise InvalidInput(f"health source {name}: unknown status {sorted(bad.items())[0]!r}")
        self.statuses: dict[str, Health] = {str(k): v for k, v in statuses.items()}  # type: ignore[misc]
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path) -> StaticHealthSource:
        """Read a JSON or YAML mapping {value: status}."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"health file {p}: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"health file {p}: expected a mapping of value to status")
        return cls({str(k): str(v) for k, v in data.items()}, name=f"file:{p.name}")

    def check(self, rrset: RecordSet, value: str) -> Health:
        return self.statuses.get(value, "unknown")


class TcpProbe:
    """Healthy when a TCP connection to value:port succeeds within `timeout` (A/AAAA values)."""

    def __init__(self, port: int, *, timeout: float = 2.0) -> None:
        self.port = port
        self.timeout = timeout
        self.name = f"tcp:{port}"

    def check(self, rrset: RecordSet, value: str) -> Health:
        if rrset.type not in ("A", "AAAA"):
            return "unknown"
        try:
            with socket.create_connection((value, self.port), timeout=self.timeout):
                return "healthy"
        except OSError:
            return "unhealthy"


class HttpProbe:
    """Healthy when GET of `url_template` (with `{value}` substituted) answers below 400."""

    def __init__(self, url_template: str, *, timeout: float = 2.0) -> None:
        if "{value}" not in url_template:
            raise InvalidInput(f"http probe {url_template!r}: the URL needs a {{value}} placeholder")
        self.url_template = url_template
        self.timeout = timeout
        self.name = f"http:{url_template}"

    def check(self, rrset: RecordSet, value: str) -> Health:
        # Imported here: urllib.request pulls in http.client and email (~20 ms of every CLI start).
        import urllib.error
        import urllib.request

        host = f"[{value}]" if rrset.type == "AAAA" else value
        try:
            with urllib.request.urlopen(self.url_template.format(value=host), timeout=self.timeout) as resp:
                return "healthy" if resp.status < 400 else "unhealthy"
        except urllib.error.HTTPError:
            return "unhealthy"
        except (urllib.error.URLError, OSError, ValueError):
            return "unhealthy"


class Route53HealthChecks:
    """Route 53 health check status (boto3 client) for values mapped to health check ids."""

    def __init__(self, client: Any, checks: Mapping[str, str]) -> None:
        self.client = client
        self.checks = dict(checks)
        self.name = "route53-health-checks"

    def check(self, rrset: RecordSet, value: str) -> Health:
        check_id = self.checks.get(value)
        if check_id is None:
            return "unknown"
        try:
            resp = self.client.get_health_check_status(HealthCheckId=check_id)
        except Exception:  # a failing source has no opinion; it must not count as a vote
            return "unknown"
        statuses = [o.get("StatusReport", {}).get("Status", "") for o in resp.get("HealthCheckObservations", [])]
        if not statuses:
            return "unknown"
        healthy = sum(s.startswith("Success") for s in statuses)
        return "healthy" if healthy * 2 > len(statuses) else "unhealthy"


def source_from_spec(spec: str) -> HealthSource:
    """Build a source from a CLI spec: `file:PATH`, `tcp:PORT` or `http:URL-with-{value}`."""
    kind, _, arg = spec.partition(":")
    if kind == "file" and arg:
        return StaticHealthSource.from_file(arg)
    if kind == "tcp" and arg.isdigit():
        return TcpProbe(int(arg))
    if kind == "http" and arg:
        return HttpProbe(arg)
    raise InvalidInput(f"--health {spec!r}: expected file:PATH, tcp:PORT or http:URL-with-{{value}}")


# ---------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ValueVerdict:
    """The votes on one value and what was decided."""

    name: str
    type: str
    value: str
    votes: dict[str, Health]
    decision: Literal["keep", "remove", "keep-disputed", "keep-minimum"]

    @property
    def unhealthy(self) -> int:
        return sum(v == "unhealthy" for v in self.votes.values())

    @property
    def healthy(self) -> int:
        return sum(v == "healthy" for v in self.votes.values())

    def line(self) -> str:
        votes = ", ".join(f"{k}={v}" for k, v in sorted(self.votes.items()))
        return f"{self.name} {self.type} {self.value}: {self.decision} ({votes})"


@dataclass
class HealthReport:
    """Every verdict; `removed` and `disputed` are what a person should look at."""

    verdicts: list[ValueVerdict] = field(default_factory=list)

    @property
    def removed(self) -> list[ValueVerdict]:
        return [v for v in self.verdicts if v.decision == "remove"]

    @property
    def disputed(self) -> list[ValueVerdict]:
        return [v for v in self.verdicts if v.decision in ("keep-disputed", "keep-minimum")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "removed": [v.line() for v in self.removed],
            "kept_despite_signals": [v.line() for v in self.disputed],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def assess(
    rrsets: Sequence[RecordSet],
    sources: Sequence[HealthSource],
    *,
    quorum: int = 2,
    min_values: Mapping[Any, int] | None = None,
) -> tuple[list[RecordSet], HealthReport]:
    """Each set with the values agreed unhealthy removed, plus the report.

    A value is removed only when at least `quorum` sources say unhealthy and none says healthy.
    A set keeps at least `min_values[key]` (default 1) values: if more are agreed unhealthy than
    that allows, the ones with the fewest unhealthy votes are kept and reported.
    """
    if quorum < 2:
        raise InvalidInput(f"health quorum must be at least 2 independent sources, got {quorum}")
    report = HealthReport()
    out: list[RecordSet] = []
    for rrset in rrsets:
        verdicts = []
        for value in rrset.values:
            votes: dict[str, Health] = {s.name: s.check(rrset, value) for s in sources}
            bad = sum(v == "unhealthy" for v in votes.values())
            good = sum(v == "healthy" for v in votes.values())
            if bad >= quorum and good == 0:
                decision = "remove"
            elif bad:
                decision = "keep-disputed"
            else:
                decision = "keep"
            verdicts.append(ValueVerdict(rrset.name, rrset.type, value, votes, decision))  # type: ignore[arg-type]
        floor = (min_values or {}).get(rrset.key, 1)
        removing = [v for v in verdicts if v.decision == "remove"]
        allowed = max(0, len(rrset.values) - floor)
        if len(removing) > allowed:
            # Keep the least-condemned values so the set never drops below its floor.
            spare = sorted(removing, key=lambda v: (v.unhealthy, v.value))[: len(removing) - allowed]
            spared = {v.value for v in spare}
            verdicts = [
                ValueVerdict(v.name, v.type, v.value, v.votes, "keep-minimum") if v.value in spared else v
                for v in verdicts
            ]
        report.verdicts += verdicts
        keep = [v.value for v in verdicts if v.decision != "remove"]
        out.append(rrset if len(keep) == len(rrset.values) else rrset.with_values(keep))
    return out, report


def prune_unhealthy(plan: Plan, sources: Sequence[HealthSource], *, quorum: int = 2) -> tuple[Plan, HealthReport]:
    """`plan` with the values agreed unhealthy removed (never below each set's minimum)."""
    records, report = assess(plan.records, sources, quorum=quorum, min_values=plan.min_values)
    if not report.removed:
        return plan, report
    pruned = Plan(
        plan.zone,
        plan.generation,
        tuple(sorted(records)),
        retire=plan.retire,
        min_values=plan.min_values,
        canary=plan.canary,
        owner=plan.owner,
    )
    return pruned, report


class HealthVerifier:
    """A rollout gate: after a stage, every value just published must not be agreed unhealthy
    by `quorum` sources (a single source's alarm is reported by `assess`, not acted on)."""

    name = "health"

    def __init__(self, sources: Sequence[HealthSource], *, quorum: int = 2) -> None:
        self.sources = list(sources)
        self.quorum = quorum

    def verify(self, zone: str, expected: Sequence[RecordSet]) -> list[str]:
        _, report = assess(expected, self.sources, quorum=self.quorum, min_values={r.key: 0 for r in expected})
        return [f"agreed unhealthy: {v.line()}" for v in report.removed]
