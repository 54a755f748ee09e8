"""What an enactor is doing, for people and for Prometheus.

`Metrics` holds counters and gauges (thread-safe), rendered in the Prometheus text exposition
format; `MetricsServer` serves them with the standard library's `http.server` on a local port:

- ``/metrics``  Prometheus text (version 0.0.4)
- ``/healthz``  200 while the enactor's loop is alive (it ran a cycle within three intervals)
- ``/readyz``   200 once a cycle completed and no zone's circuit is open; 503 with the reason
- ``/status``   one JSON object: per zone, the last report (what ``enact --json`` prints)

Metric names (all prefixed ``dnssg_``): ``live_generation``, ``live_revision``,
``published_generation``, ``live_complete``, ``circuit_open``, ``last_verified_apply_timestamp_seconds``,
``last_error_timestamp_seconds`` (gauges, label ``zone``); ``applies_total`` (``zone``, ``outcome``),
``refusals_total`` (``zone``, ``guard``), ``repairs_total``, ``stale_total``, ``conflicts_total``,
``lease_busy_total``, ``errors_total`` (``zone``, ``kind``), ``batches_total``, ``cleanup_deleted_total``
(counters), ``batch_seconds`` and ``cycle_seconds`` (histograms, ``zone``), ``cycles_total`` and
``stopping``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Labels = tuple[tuple[str, str], ...]
#: Histogram buckets (seconds): Route 53 batches take tens of milliseconds to seconds, INSYNC minutes.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_HELP: dict[str, tuple[str, str]] = {
    "live_generation": ("gauge", "Generation of the fence record live in Route 53."),
    "live_revision": ("gauge", "Revision inside the live generation (repairs and rollbacks)."),
    "live_content_generation": ("gauge", "Generation of the plan whose content is live."),
    "live_complete": ("gauge", "1 when the live fence says its content is complete."),
    "published_generation": ("gauge", "Newest generation published in the plan store."),
    "circuit_open": ("gauge", "1 while the zone's circuit breaker is open (enacting stopped)."),
    "last_verified_apply_timestamp_seconds": ("gauge", "When this enactor last finished a verified write."),
    "last_error_timestamp_seconds": ("gauge", "When this enactor last failed on the zone."),
    "applies_total": ("counter", "Operations carried out, by outcome (applied, resumed, repaired, noop...)."),
    "refusals_total": ("counter", "Plans refused by a guard, by guard."),
    "repairs_total": ("counter", "Self-repairs: drift or a half-applied generation put right."),
    "stale_total": ("counter", "Operations that found a newer generation live (nothing written)."),
    "conflicts_total": ("counter", "Compare-and-set conflicts: the zone moved after a decision's read."),
    "lease_busy_total": ("counter", "Cycles that found another enactor holding the zone's lease."),
    "errors_total": ("counter", "Failed cycles, by error class."),
    "batches_total": ("counter", "Change batches Route 53 accepted from this enactor."),
    "cleanup_deleted_total": ("counter", "Old plans deleted by clean-up."),
    "cycles_total": ("counter", "Enactor cycles run."),
    "batch_seconds": ("histogram", "From the decision to write a batch to Route 53 accepting it."),
    "cycle_seconds": ("histogram", "Duration of one zone's cycle that wrote something."),
    "stopping": ("gauge", "1 once a stop was requested."),
}


def _labels(labels: Mapping[str, object]) -> Labels:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters and gauges of one enactor process, plus the last report per zone."""

    def __init__(self, *, enactor: str = "", clock: Callable[[], float] = time.time) -> None:
        self.enactor = enactor
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, list[float]]] = {}  # bucket counts, then sum, then count
        self.reports: dict[str, dict[str, Any]] = {}
        self.last_error: dict[str, str] = {}
        self.last_cycle_at: float | None = None
        self.interval: float = 30.0

    # ------------------------------------------------------------------ recording

    def inc(self, name: str, amount: float = 1.0, **labels: object) -> None:
        self._check(name)
        with self._lock:
            series = self._values.setdefault(name, {})
            key = _labels(labels)
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float | None, **labels: object) -> None:
        self._check(name)
        with self._lock:
            series = self._values.setdefault(name, {})
            key = _labels(labels)
            if value is None:
                series.pop(key, None)
            else:
                series[key] = float(value)

    def observe(self, name: str, seconds: float, **labels: object) -> None:
        """One observation of a histogram."""
        self._check(name)
        with self._lock:
            series = self._histograms.setdefault(name, {})
            h = series.setdefault(_labels(labels), [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += seconds
            h[-1] += 1

    def count(self, name: str, **labels: object) -> int:
        """How many observations a histogram has (for tests and status lines)."""
        with self._lock:
            h = self._histograms.get(name, {}).get(_labels(labels))
            return int(h[-1]) if h else 0

    def get(self, name: str, **labels: object) -> float:
        """The current value (0 when never set): for tests and status lines."""
        with self._lock:
            return self._values.get(name, {}).get(_labels(labels), 0.0)

    def total(self, name: str) -> float:
        """The sum over every label set."""
        with self._lock:
            return sum(self._values.get(name, {}).values())

    def error(self, zone: str, kind: str, message: str) -> None:
        self.inc("errors_total", zone=zone, kind=kind)
        self.set("last_error_timestamp_seconds", self._clock(), zone=zone)
        with self._lock:
            self.last_error[zone] = f"{kind}: {message}"

    def report(self, zone: str, report: Mapping[str, Any]) -> None:
        with self._lock:
            self.reports[zone] = dict(report)

    def cycle_done(self) -> None:
        self.inc("cycles_total")
        with self._lock:
            self.last_cycle_at = self._clock()

    @staticmethod
    def _check(name: str) -> None:
        if name not in _HELP:
            raise KeyError(f"unknown metric {name!r}")

    # ------------------------------------------------------------------ reading

    def render(self) -> str:
        """The Prometheus text exposition format (0.0.4)."""
        lines: list[str] = []
        with self._lock:
            for name, (kind, help_text) in _HELP.items():
                full = f"dnssg_{name}"
                if kind == "histogram":
                    hists = self._histograms.get(name)
                    if hists:
                        lines.append(f"# HELP {full} {help_text}")
                        lines.append(f"# TYPE {full} histogram")
                        for labels, h in sorted(hists.items()):
                            lines.extend(_histogram_lines(full, labels, h))
                    continue
                series = self._values.get(name)
                if not series:
                    continue
                lines.append(f"# HELP {full} {help_text}")
                lines.append(f"# TYPE {full} {kind}")
                for labels, value in sorted(series.items()):
                    lines.append(_sample(full, labels, value))
        return "\n".join(lines) + "\n"

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
            open_zones = [dict(k)["zone"] for k, v in self._values.get("circuit_open", {}).items() if v]
            reports = dict(self.reports)
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
            }


def _number(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


def _sample(name: str, labels: Labels, value: float) -> str:
    shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}"


def _histogram_lines(name: str, labels: Labels, h: list[float]) -> list[str]:
    out = [_sample(f"{name}_bucket", (*labels, ("le", _number(b))), h[i]) for i, b in enumerate(BUCKETS)]
    out.append(_sample(f"{name}_bucket", (*labels, ("le", "+Inf")), h[-1]))
    out.append(_sample(f"{name}_sum", labels, h[-2]))
    out.append(_sample(f"{name}_count", labels, h[-1]))
    return out


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
            if path == "/metrics":
                self._send(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
            elif path in ("/healthz", "/readyz"):
                ok, why = metrics.healthy() if path == "/healthz" else metrics.ready()
                self._send(200 if ok else 503, f"{'ok' if ok else 'unavailable'}: {why}\n", "text/plain")
            elif path == "/status":
                self._send(200, json.dumps(metrics.status(), sort_keys=True) + "\n", "application/json")
            else:
                self._send(404, "not found: /metrics, /healthz, /readyz, /status\n", "text/plain")

        def _send(self, code: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # scrapes are not worth a log line

    return Handler
