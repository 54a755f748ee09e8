"""Race tests under pytest-xdist: the explorations' own process pools share the cores with the
other xdist workers, so each test gets its share (cores / xdist workers, at least 1) unless
DNSSG_RACE_WORKERS says otherwise. Two pools of two on two cores would only add process start-up
and, for the exhaustive search, the sleep sets a split search loses between its parts."""

from __future__ import annotations

import os

_xdist_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
if _xdist_workers > 1 and "DNSSG_RACE_WORKERS" not in os.environ:
    os.environ["DNSSG_RACE_WORKERS"] = str(max(1, len(os.sched_getaffinity(0)) // _xdist_workers))
