"""One channel for what the applier does: every event is logged (structured: zone, generation,
checksum, enactor and fields), and the events the race harness can stop at (`CHECKPOINTS`) also
fire the checkpoint hook, so logging and checkpoints never drift apart."""

from __future__ import annotations

import logging
from typing import Any

from .checkpoints import CHECKPOINTS, Checkpoint

log = logging.getLogger("safeguards")
_STOPPABLE = frozenset(CHECKPOINTS)
_INFO = logging.INFO


class Events:
    """Logs events and fires checkpoints for one enactor."""

    def __init__(self, enactor: str, checkpoint: Checkpoint) -> None:
        self.enactor = enactor
        self.checkpoint = checkpoint

    def __call__(self, name: str, zone: str, generation: int | None = None, checksum: str = "", **fields: Any) -> None:
        """Record event `name` on `zone`; stop at it first if it is a checkpoint."""
        if name in _STOPPABLE:
            self.checkpoint(name, enactor=self.enactor, zone=zone, generation=generation, **fields)
        if not log.isEnabledFor(_INFO):
            return
        log.info(
            "%s zone=%s generation=%s checksum=%s %s",
            name,
            zone,
            generation,
            checksum[:12],
            " ".join(f"{k}={v}" for k, v in fields.items()),
            extra={
                "event": name,
                "zone": zone,
                "generation": generation,
                "checksum": checksum,
                "enactor": self.enactor,
                "fields": fields,
            },
        )
