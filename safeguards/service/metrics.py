"""What an enactor is doing, for people and for Prometheus.

`Metrics` records counters, gauges and histograms in a `prometheus_client` `CollectorRegistry`
of its own (never the process-global one: several enactors in one process, or a test, each keep
theirs), plus the last report per zone; `MetricsServer` serves them with the standard library's
`http.server` on a local port:

- ``/metrics``  Prometheus text (version 0.0.4); OpenMetrics when the scraper asks for it
- ``/healthz``  200 while the enactor's loop is alive (it ran a cycle within three intervals)
- ``/readyz``   200 once a cycle completed and no zone's circuit is open; 503 with the reason
- ``/status``   one JSON object: per zone, the last report (what ``enact --json`` prints)

Metric names (all prefixed ``dnssg_``): ``live_generation``, ``live_revision``,
``published_generation``, ``live_complete``, ``circuit_open``, ``last_verified_apply_timestamp_seconds``,
``last_error_timestamp_seconds`` (gauges, label ``zone``); ``lease_holder`` (``zone``, ``holder``);
``applies_total`` (``zone``, ``outcome``), ``refusals_total`` (``zone``, ``guard``), ``rollbacks_total``
(``zone``, ``result``), ``repairs_total``, ``stale_total``, ``conflicts_total``, ``lease_busy_total``,
``errors_total`` (``zone``, ``kind``), ``batches_total``, ``cleanup_deleted_total`` (counters),
``batch_seconds`` and ``cycle_seconds`` (histograms, ``zone``), ``cycles_total`` and ``stopping``.

What is derived rather than measured, said plainly:

- ``rollbacks_total`` counts what the enactor is told: a failed gate whose automatic restore was
  verified (``result="restored"``, from the `VerificationFailed` it reports), one whose restore did
  not complete (``result="incomplete"``, `RestoreIncomplete`), and operations whose outcome was
  ``rolled-back`` (an embedding that calls `Applier.rollback`). The enactor itself never decides a
  rollback.
- ``lease_holder`` is this enactor's view, not a read of the lease table: 1 for itself after an
  operation of its own wrote, or for the enactor the plan store named when the lease was busy.
- INSYNC latency is not exported: Route 53's ``get_change`` polling happens inside the library's
  writer, which emits no event around it (``batch_seconds`` ends when Route 53 accepts a batch;
  the INSYNC wait and the read-back fall between ``batch.after`` and ``stage.verified``).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.openmetrics import exposition as openmetrics

#: Histogram buckets (seconds): Route 53 batches take tens of milliseconds to seconds, INSYNC minutes.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_Z = ("zone",)
#: name -> (kind, help, label names in exposition order: sorted, as the text always showed them).
_SPEC: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "live_generation": ("gauge", "Generation of the fence record live in Route 53.", _Z),
    "live_revision": ("gauge", "Revision inside the live generation (repairs and rollbacks).", _Z),
    "live_content_generation": ("gauge", "Generation of the plan whose content is live.", _Z),
    "live_complete": ("gauge", "1 when the live fence says its content is complete.", _Z),
    "published_generation": ("gauge", "Newest generation published in the plan store.", _Z),
    "circuit_open": ("gauge", "1 while the zone's circuit breaker is open (enacting stopped).", _Z),
    "last_verified_apply_timestamp_seconds": ("gauge", "When this enactor last finished a verified write.", _Z),
    "last_error_timestamp_seconds": ("gauge", "When this enactor last failed on the zone.", _Z),
    "lease_holder": (
        "gauge",
        "1 for the enactor this one last saw holding the zone's lease (itself after a write of its own, "
        "another when the lease was busy); not a read of the lease table.",
        ("holder", "zone"),
    ),
    "applies_total": (
        "counter",
        "Operations carried out, by outcome (applied, resumed, repaired, noop...).",
        ("outcome", "zone"),
    ),
    "refusals_total": ("counter", "Plans refused by a guard, by guard.", ("guard", "zone")),
    "rollbacks_total": (
        "counter",
        "Content put back: a failed gate's verified restore (restored), a restore that did not complete "
        "(incomplete), an operation whose outcome was rolled-back.",
        ("result", "zone"),
    ),
    "repairs_total": ("counter", "Self-repairs: drift or a half-applied generation put right.", _Z),
    "stale_total": ("counter", "Operations that found a newer generation live (nothing written).", _Z),
    "conflicts_total": ("counter", "Compare-and-set conflicts: the zone moved after a decision's read.", _Z),
    "lease_busy_total": ("counter", "Cycles that found another enactor holding the zone's lease.", _Z),
    "errors_total": ("counter", "Failed cycles, by error class.", ("kind", "zone")),
    "batches_total": ("counter", "Change batches Route 53 accepted from this enactor.", _Z),
    "cleanup_deleted_total": ("counter", "Old plans deleted by clean-up.", _Z),
    "cycles_total": ("counter", "Enactor cycles run.", ()),
    "batch_seconds": ("histogram", "From the decision to write a batch to Route 53 accepting it.", _Z),
    "cycle_seconds": ("histogram", "Duration of one zone's cycle that wrote something.", _Z),
    "stopping": ("gauge", "1 once a stop was requested.", ()),
}
#: Kept for callers that listed the names: name -> (kind, help).
_HELP: dict[str, tuple[str, str]] = {name: (kind, text) for name, (kind, text, _) in _SPEC.items()}

_HOLDER = re.compile(r"lease held by (\S+)|\((\S+) holds epoch")


class Metrics:
    """Counters, gauges and histograms of one enactor process (in `registry`, its own), plus the
    last report per zone."""

    def __init__(self, *, enactor: str = "", clock: Callable[[], float] = time.time) -> None:
        self.enactor = enactor
        self._clock = clock
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, Any] = {}
        for name, (kind, help_text, labels) in _SPEC.items():
            full = f"dnssg_{name}"
            if kind == "counter":
                self._metrics[name] = Counter(full, help_text, labels, registry=self.registry)
            elif kind == "gauge":
                self._metrics[name] = Gauge(full, help_text, labels, registry=self.registry)
            else:
                self._metrics[name] = Histogram(full, help_text, labels, registry=self.registry, buckets=BUCKETS)
        self._holder: dict[str, str] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self.last_error: dict[str, str] = {}
        self.last_cycle_at: float | None = None
        self.interval: float = 30.0

    # ------------------------------------------------------------------ recording

    def _child(self, name: str, labels: Mapping[str, object]) -> Any:
        metric = self._metrics.get(name)
        if metric is None:
            raise KeyError(f"unknown metric {name!r}")
        names = _SPEC[name][2]
        if set(labels) != set(names):
            raise ValueError(f"metric {name!r} takes labels {list(names)}, not {sorted(labels)}")
        return metric.labels(**{k: str(labels[k]) for k in names}) if names else metric

    def inc(self, name: str, amount: float = 1.0, **labels: object) -> None:
        self._child(name, labels).inc(amount)
        if name == "applies_total" and labels.get("outcome") == "rolled-back":
            self.inc("rollbacks_total", amount, zone=labels.get("zone", ""), result="rolled-back")

    def set(self, name: str, value: float | None, **labels: object) -> None:
        child = self._child(name, labels)
        if value is not None:
            child.set(float(value))
            return
        names = _SPEC[name][2]
        if names:
            with contextlib.suppress(KeyError):  # never set: nothing to remove
                self._metrics[name].remove(*(str(labels[k]) for k in names))

    def observe(self, name: str, seconds: float, **labels: object) -> None:
        """One observation of a histogram."""
        self._child(name, labels).observe(seconds)

    def count(self, name: str, **labels: object) -> int:
        """How many observations a histogram has (for tests and status lines)."""
        value = self.registry.get_sample_value(f"dnssg_{name}_count", _strs(labels))
        return int(value or 0)

    def get(self, name: str, **labels: object) -> float:
        """The current value (0 when never set): for tests and status lines."""
        return float(self.registry.get_sample_value(f"dnssg_{name}", _strs(labels)) or 0.0)

    def total(self, name: str) -> float:
        """The sum over every label set."""
        full = f"dnssg_{name}"
        return sum(s.value for family in self.registry.collect() for s in family.samples if s.name == full)

    def error(self, zone: str, kind: str, message: str) -> None:
        self.inc("errors_total", zone=zone, kind=kind)
        self.set("last_error_timestamp_seconds", self._clock(), zone=zone)
        if kind == "VerificationFailed" and "restored the previous content" in message:
            self.inc("rollbacks_total", zone=zone, result="restored")
        elif kind == "RestoreIncomplete":
            self.inc("rollbacks_total", zone=zone, result="incomplete")
        with self._lock:
            self.last_error[zone] = f"{kind}: {message}"

    def report(self, zone: str, report: Mapping[str, Any]) -> None:
        holder: str | None = None
        if report.get("outcome") == "busy" and report.get("error"):
            found = _HOLDER.search(str(report["error"]))
            holder = (found.group(1) or found.group(2)) if found else None
        elif report.get("batches"):
            holder = self.enactor or "self"
        with self._lock:
            self.reports[zone] = dict(report)
            previous = self._holder.get(zone)
            if holder is not None:
                self._holder[zone] = holder
        if holder is not None and holder != previous:
            if previous is not None:
                self.set("lease_holder", None, zone=zone, holder=previous)
            self.set("lease_holder", 1, zone=zone, holder=holder)

    def cycle_done(self) -> None:
        self.inc("cycles_total")
        with self._lock:
            self.last_cycle_at = self._clock()

    # ------------------------------------------------------------------ reading

    def render(self) -> str:
        """The Prometheus text exposition format (0.0.4), from the registry: series never set are
        left out, and so are the ``_created`` samples (scrapers of 0.0.4 do not use them)."""
        lines: list[str] = []
        for family in self.registry.collect():
            samples = [s for s in family.samples if not s.name.endswith("_created")]
            if not samples:
                continue
            name = family.name + "_total" if family.type == "counter" else family.name
            lines.append(f"# HELP {name} {_escape_help(family.documentation)}")
            lines.append(f"# TYPE {name} {family.type}")
            lines.extend(_sample(s.name, s.labels, s.value) for s in samples)
        return "\n".join(lines) + "\n"

    def render_openmetrics(self) -> bytes:
        """The OpenMetrics text format, as prometheus_client writes it."""
        return bytes(openmetrics.generate_latest(self.registry))

    def healthy(self) -> tuple[bool, str]:
        """Alive: a cycle ran within three intervals (or none is due yet)."""
        with self._lock:
            last = self.last_cycle_at
        if last is None:
            return True, "starting"
        age = self._clock() - last
        if age > 3 * max(self.interval, 1.0):
            return False, f"no cycle for {age:.0f} s (interval {self.interval:g} s)"
        return True, f"last cycle {age:.1f} s ago"

    def ready(self) -> tuple[bool, str]:
        """Ready: a cycle completed and no zone's circuit is open."""
        with self._lock:
            if self.last_cycle_at is None:
                return False, "no cycle completed yet"
            reports = dict(self.reports)
        open_zones = [
            s.labels["zone"]
            for family in self.registry.collect()
            for s in family.samples
            if s.name == "dnssg_circuit_open" and s.value
        ]
        if open_zones:
            why = "; ".join(f"{z}: {reports.get(z, {}).get('reason', 'circuit open')}" for z in sorted(open_zones))
            return False, f"circuit open: {why}"
        return True, "ready"

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enactor": self.enactor,
                "zones": {z: dict(r) for z, r in sorted(self.reports.items())},
                "last_error": dict(self.last_error),
                "lease_holder": dict(self._holder),
            }


def _strs(labels: Mapping[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in labels.items()}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value) if value != int(value) else str(int(value))


def _sample(name: str, labels: Mapping[str, str], value: float) -> str:
    shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}"


class MetricsServer:
    """`Metrics` over HTTP on a local port (0: any free port; see `port`). A daemon thread."""

    def __init__(self, metrics: Metrics, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.metrics = metrics
        handler = _handler(metrics)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dnssg-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dns-safeguards-enactor"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics" and "application/openmetrics-text" in (self.headers.get("Accept") or ""):
                self._send(200, metrics.render_openmetrics(), openmetrics.CONTENT_TYPE_LATEST)
            elif path == "/metrics":
                self._send(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            elif path in ("/healthz", "/readyz"):
                ok, why = metrics.healthy() if path == "/healthz" else metrics.ready()
                self._send(200 if ok else 503, f"{'ok' if ok else 'unavailable'}: {why}\n", "text/plain")
            elif path == "/status":
                self._send(200, json.dumps(metrics.status(), sort_keys=True) + "\n", "application/json")
            else:
                self._send(404, "not found: /metrics, /healthz, /readyz, /status\n", "text/plain")

        def _send(self, code: int, body: str | bytes, content_type: str) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # scrapes are not worth a log line

    return Handler
