"""Structured logging: every decision is logged with zone, name, generation and checksum.

`configure(json_lines=True)` writes one JSON object per line to stderr for machines; otherwise a
readable line per event. Either way the user-info of a URL (``user:password@``) never reaches the
log: it is written as ``***@``."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact(text: str) -> str:
    """`text` with every URL's ``user:password@`` written as ``***@``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v) for v in value)
    return value


class Redact(logging.Filter):
    """Rewrites a record's message and fields so that no URL credentials are logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key in ("event", "fields"):
            if hasattr(record, key):
                setattr(record, key, _redacted(getattr(record, key)))
        return True


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
    handler.addFilter(Redact())
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        fmt.converter = time.gmtime
        handler.setFormatter(fmt)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if (verbose or json_lines) else logging.WARNING)
    logger.propagate = False
