"""Time as a dependency: the applier, the strict model and the retry policy take a `Clock`,
so tests and benchmarks run on virtual time (a 60 s PENDING costs nothing)."""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Wall-clock seconds and a way to wait."""

    def now(self) -> float:
        """Seconds since the epoch (or since the virtual start)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a virtual clock just advances)."""
        ...


class SystemClock:
    """Real time. Wall time, not monotonic: lease expiry is compared across processes."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class VirtualClock:
    """Deterministic time: `sleep` advances it; thread-safe; `slept` totals every wait."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._t = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def now(self) -> float:
        # One attribute read, atomic on its own: the lock guards the read-modify-write in
        # `advance` (the race harness reads the clock ~60 times a schedule).
        return self._t

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (negative values are ignored)."""
        if seconds <= 0:
            return
        with self._lock:
            self._t += seconds
            self.slept += seconds
