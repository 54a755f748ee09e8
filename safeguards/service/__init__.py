"""The planner/enactor system as it runs in production, built on the library's public API.

- `Planner` (`planner`): publishes numbered, checksummed, signed plans into the plan store; never
  writes Route 53.
- `Enactor` (`enactor`): long-running; applies the newest published generation of each zone,
  cleans up, repairs drift every interval; several run at once on one store.
- `Metrics`, `MetricsServer` (`metrics`): counters and gauges, Prometheus text, ``/healthz``,
  ``/readyz`` and ``/status`` on a local port.
- `check_answers` (`dnscheck`): what a nameserver answers for the live records.

See docs/service.md.
"""

from __future__ import annotations

from .enactor import Enactor, EnactorStopped, Stopper, ZoneReport
from .metrics import Metrics, MetricsServer
from .planner import Planner, Published

__all__ = ["Enactor", "EnactorStopped", "Metrics", "MetricsServer", "Planner", "Published", "Stopper", "ZoneReport"]
