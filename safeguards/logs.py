"""Structured logging: every decision is logged with zone, name, generation and checksum.

`configure(json_lines=True)` writes one JSON object per line to stderr for machines; otherwise a
readable line per event."""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonLines(logging.Formatter):
    """One JSON object per record, with the applier's structured fields flattened in."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
        }
        for key in ("zone", "generation", "checksum", "enactor"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        out.update({k: v for k, v in getattr(record, "fields", {}).items()})
        return json.dumps(out, default=str, sort_keys=False)


def configure(*, verbose: bool = False, json_lines: bool = False) -> None:
    """Send the library's decision log to stderr (INFO when verbose, WARNING otherwise)."""
    logger = logging.getLogger("safeguards")
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        fmt.converter = time.gmtime
        handler.setFormatter(fmt)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if (verbose or json_lines) else logging.WARNING)
    logger.propagate = False
