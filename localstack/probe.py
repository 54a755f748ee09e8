"""Probe a LocalStack gateway for localstack/start (stdlib only: runs under any Python >= 3.8).

Usage: probe.py ENDPOINT PROVIDER SERVICE[,SERVICE...] [STAMP]

Exit codes (start acts on them):
  0  healthy: every SERVICE is available/running and the Route 53 provider is PROVIDER
  1  nothing answers on ENDPOINT
  2  a LocalStack answers but is not ready yet (a service missing, starting, or in error)
  3  a ready LocalStack answers but runs another Route 53 provider (or cannot tell: no dns-safeguards plugin)
  4  something that is not LocalStack answers
  5  a service is in state "error" (its provider failed to load: see LocalStack's log)
  6  ready with the right provider, but started from other sources (its install stamp is not STAMP)
A one-line reason goes to stdout.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

READY_STATES = {"available", "running"}


def _get_json(url: str) -> tuple[int, object]:
    """GET url; return (status, parsed JSON or None). Raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def probe(endpoint: str, provider: str, services: list[str], stamp: str = "") -> tuple[int, str]:
    """Return (exit code, reason) for the LocalStack at endpoint; see the module docstring."""
    try:
        status, health = _get_json(f"{endpoint}/_localstack/health")
    except OSError as error:
        return 1, f"nothing answers on {endpoint} ({error})"
    if status != 200 or not isinstance(health, dict) or "services" not in health:
        return 4, f"{endpoint} answers but is not LocalStack (GET /_localstack/health -> HTTP {status})"
    states = health["services"]
    for service in services:
        state = states.get(service)
        if state == "error":
            return 5, f"service {service} failed to load (state error)"
        if state not in READY_STATES:
            # A provider that failed to load makes the service vanish from health (or show "error").
            return 2, f"service {service} is {state or 'missing'}"
    try:
        status, info = _get_json(f"{endpoint}/_dnssg/info")
    except OSError as error:
        return 1, f"{endpoint} stopped answering ({error})"
    running = info.get("route53_provider") if status == 200 and isinstance(info, dict) else None
    if running is None:
        # A LocalStack without our plugin (e.g. the Docker image) can only be the stock provider.
        if provider == "stock":
            return 0, f"ready (LocalStack {health.get('version', '?')} without the dns-safeguards plugin)"
        return 3, f"the LocalStack on {endpoint} has no dns-safeguards plugin, so it cannot run route53:{provider}"
    if running != provider:
        return 3, f"the LocalStack on {endpoint} runs route53 provider {running!r}, not {provider!r}"
    if stamp and info.get("stamp") and info["stamp"] != stamp:
        return 6, f"the LocalStack on {endpoint} predates the last change to requirements.txt or the plugin"
    return 0, f"ready (LocalStack {health.get('version', '?')}, route53 provider {running})"


def main(argv: list[str]) -> int:
    """Command-line entry point: print the reason, return the exit code."""
    if len(argv) not in (4, 5):
        print(__doc__.strip().splitlines()[2])
        return 64
    stamp = argv[4] if len(argv) == 5 else ""
    code, reason = probe(argv[1].rstrip("/"), argv[2], [s for s in argv[3].split(",") if s], stamp)
    print(reason)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
