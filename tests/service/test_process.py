"""Enactors as real OS processes on the embedded state: SIGTERM stops between batches and gives
the lease back; kill -9 mid-apply is taken over by another enactor at once (same host); the CLI's
``publish`` then ``enact --once``; a long-running ``enact`` scraped over HTTP, then SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from safeguards.backends.strict import StrictRoute53
from safeguards.fence import Fence, find_fence, parse_fence
from safeguards.service import Enactor, Planner
from safeguards.stores.sqlite import SqlitePlanStore
from safeguards.testing.world import World, generation_of

ZONE = "example.com."
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0
EXAMPLES = ROOT / "examples"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
for _var in ("DNSSG_SIGNING_KEY", "DNSSG_SIGNING_KEY_FILE", "DNS_SAFEGUARDS_STATE"):
    ENV.pop(_var, None)
CLI = [sys.executable, "-m", "safeguards"]  # the installed CLI, service commands registered by safeguards/cli.py

CHILD = """
import sys
from safeguards.backends.strict import StrictRoute53
from safeguards.service import Enactor
from safeguards.stores.sqlite import SqlitePlanStore
from safeguards.testing.world import default_options

state = sys.argv[1]
holder = {}

def pause(name, **ctx):
    # Parks after the first batch of generation 2 until a stop is requested (SIGTERM) or forever (kill -9).
    if name == "batch.after" and ctx.get("index") == 1 and ctx.get("generation") == 2:
        print("PAUSED", flush=True)
        holder["e"].stopper.wait(600)

e = holder["e"] = Enactor.create(
    StrictRoute53(path=state + "/route53.sqlite", insync_after=0.0),
    SqlitePlanStore(state + "/plans.sqlite"),
    ["example.com."],
    enactor_id="proc-a",
    options=default_options(),  # every plan may move every endpoint, as in the race harness
    checkpoint=pause,
    interval=0.2,
)
e.install_signal_handlers()
e.run()
print("STOPPED", flush=True)
"""


def _world() -> World:
    return World.create("guarded", 3)


def _state(tmp_path: Path) -> tuple[StrictRoute53, SqlitePlanStore, World]:
    """The embedded state with g1 live and g2 published (g2's two batches: canary ep1, then the rest)."""
    model = StrictRoute53(path=tmp_path / "route53.sqlite", insync_after=0.0)
    model.resolve_zone(ZONE, create=True)
    store = SqlitePlanStore(tmp_path / "plans.sqlite")
    plans = _world()
    Planner(store, renumber=False).publish(plans.plan(1))
    Enactor.create(model, store, [ZONE], enactor_id="boot", options=plans.options).run_once()
    Planner(store, renumber=False).publish(plans.plan(2))
    return model, store, plans


def _fence(model: StrictRoute53) -> Fence | None:
    return parse_fence(find_fence(model.list_record_sets(model.resolve_zone(ZONE)), ZONE))


def _generations(model: StrictRoute53) -> dict[str, int | None]:
    sets = model.list_record_sets(model.resolve_zone(ZONE))
    return {r.name.split(".")[0]: generation_of(r.values) for r in sets if r.type == "A"}


def _lease(tmp_path: Path) -> tuple[str, int, float]:
    with sqlite3.connect(tmp_path / "plans.sqlite") as db:
        row = db.execute("SELECT holder, epoch, expires_at FROM leases WHERE zone=?", (ZONE,)).fetchone()
    return str(row[0]), int(row[1]), float(row[2])


class Lines:
    """A process's stdout, line by line, each wait bounded (a reader thread: nothing can hang)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")  # EOF

    def next(self) -> str:
        try:
            line = self.lines.get(timeout=WAIT)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"no line within {WAIT} s; so far: {self.seen}") from None
        self.seen.append(line)
        return line

    def rest(self) -> str:
        out = []
        while (line := self.next()) != "":
            out.append(line)
        return "".join(out)


def _child(tmp_path: Path) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip
    lines = Lines(proc)
    line = lines.next()  # the child parks after its first batch of g2
    if line.strip() != "PAUSED":
        proc.kill()
        raise AssertionError(f"child did not pause: {line!r}; stderr: {proc.communicate(timeout=WAIT)[1][-2000:]}")
    return proc, lines


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_stops_between_batches_and_releases_the_lease(tmp_path: Path, signum: int) -> None:
    model, store, plans = _state(tmp_path)
    proc, lines = _child(tmp_path)
    fence = _fence(model)
    assert fence is not None and (fence.generation, fence.done) == (2, False)
    holder, epoch, expires = _lease(tmp_path)
    assert holder == "proc-a" and expires > time.time()  # held while it works
    proc.send_signal(signum)
    out = lines.rest()
    assert proc.wait(WAIT) == 0, proc.stderr.read() if proc.stderr else ""
    assert out.strip().endswith("STOPPED")
    # Stopped before batch 2: g2 is half applied (canary only), nothing after the stop was written.
    fence = _fence(model)
    assert fence is not None and (fence.generation, fence.done, fence.writer) == (2, False, "proc-a")
    assert _generations(model) == {"ep1": 2, "ep2": 1, "regional": 1}
    # The lease was given back (expired now, same epoch), not left to run out.
    assert _lease(tmp_path) == ("proc-a", epoch, 0.0)
    # Any enactor finishes it.
    [report] = Enactor.create(model, store, [ZONE], enactor_id="b", options=plans.options).run_once()
    assert report.outcome == "resumed"
    assert _generations(model) == {"ep1": 2, "ep2": 2, "regional": 2}


def test_kill_9_mid_apply_is_taken_over_at_once_by_another_enactor(tmp_path: Path) -> None:
    model, store, plans = _state(tmp_path)
    proc, _ = _child(tmp_path)
    proc.kill()
    proc.wait(WAIT)
    holder, _, expires = _lease(tmp_path)
    assert holder == "proc-a" and expires > time.time()  # a dead holder cannot give its lease back
    started = time.monotonic()
    [report] = Enactor.create(model, store, [ZONE], enactor_id="b", options=plans.options).run_once()
    took = time.monotonic() - started
    assert report.outcome == "resumed", report.line()
    assert _generations(model) == {"ep1": 2, "ep2": 2, "regional": 2}
    # Bound: the holder's process is provably gone (same host), so no wait for the 30 s TTL.
    assert took < 10.0


def _cli(tmp_path: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    # cwd: the test's own directory, so nothing can land in the working tree whatever --state does.
    result = subprocess.run([*CLI, *args, "--state", str(tmp_path / "st")], capture_output=True, text=True,
                            cwd=tmp_path, env=ENV, timeout=WAIT)  # fmt: skip
    if check is not None:
        assert result.returncode == check, (result.stdout, result.stderr)
    return result


def test_cli_publish_then_enact_once(tmp_path: Path) -> None:
    first = _cli(tmp_path, "publish", str(EXAMPLES / "example.com.yaml"))
    assert first.stdout.startswith("published: example.com. generation 1 (checksum 7d4cb556b7cd")
    second = json.loads(_cli(tmp_path, "publish", str(EXAMPLES / "example.com.v2.yaml"), "--json").stdout)
    assert (second["zone"], second["generation"], second["signed"]) == ("example.com.", 2, False)
    enacted = _cli(tmp_path, "enact", "--zone", "example.com", "--once")
    assert enacted.stdout.strip() == "example.com. apply: applied, live g2, published g2"
    again = json.loads(_cli(tmp_path, "enact", "-z", "example.com", "--once", "--json").stdout)
    assert (again["action"], again["outcome"], again["live_generation"]) == ("check", "in-sync", 2)
    other = json.loads(_cli(tmp_path, "enact", "-z", "example.com", "--once", "--json", "--owner", "team-a").stdout)
    assert (other["action"], other["outcome"]) == ("idle", "nothing published")  # team-a has no plans
    status = json.loads(_cli(tmp_path, "status", "-z", "example.com", "--json").stdout)
    assert status["generation"] == 2 and status["complete"] is True
    # A plan file's own generation, kept: refused when not newer than what is published (exit 4).
    older = tmp_path / "older.yaml"
    older.write_text((EXAMPLES / "example.com.yaml").read_text().replace("192.0.2.40", "192.0.2.41"))
    stale = _cli(tmp_path, "publish", str(older), "--keep-generation", "--json", check=4)
    assert json.loads(stale.stdout)["kind"] == "StaleGeneration"


def test_cli_signed_publish_and_enact(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("a-key-of-at-least-16-bytes\n")
    _cli(tmp_path, "publish", str(EXAMPLES / "example.com.yaml"), "--signing-key-file", str(key))
    _cli(tmp_path, "publish", str(EXAMPLES / "example.com.v2.yaml"))  # unsigned: refused by a keyed enactor
    refused = _cli(tmp_path, "enact", "-z", "example.com", "--once", "--signing-key-file", str(key), "--json", check=3)
    assert json.loads(refused.stdout)["kind"] == "PlanIntegrityError"


def test_cli_enact_runs_until_sigterm_and_serves_metrics(tmp_path: Path) -> None:
    _cli(tmp_path, "publish", str(EXAMPLES / "example.com.yaml"))
    proc = subprocess.Popen(
        [*CLI, "enact", "-z", "example.com", "--interval", "0.2", "--metrics-port", "0", "--json",
         "--state", str(tmp_path / "st")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        port = json.loads(lines.next())["metrics_port"]
        reports = [json.loads(lines.next()) for _ in range(3)]  # three full cycles
        assert [r["outcome"] for r in reports] == ["applied", "in-sync", "in-sync"]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        assert 'dnssg_live_generation{zone="example.com."} 1' in text
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10).status == 200
        proc.send_signal(signal.SIGTERM)
        out = lines.rest()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert proc.wait(WAIT) == 0, proc.stderr.read() if proc.stderr else ""
    assert json.loads(out.strip().splitlines()[-1])["stopped"]


@pytest.mark.parametrize("args", [["enact", "--once"], ["enact", "-z", "example.com", "--interval", "0"]])
def test_cli_enact_usage_errors_are_one_line_exit_2(tmp_path: Path, args: Any) -> None:
    result = _cli(tmp_path, *args, check=2)
    assert len(result.stderr.strip().splitlines()) == 1 and os.path.exists(ROOT)


def test_cli_serve_dns_answers_the_embedded_state_until_sigterm(tmp_path: Path) -> None:
    import dns.resolver

    _cli(tmp_path, "publish", str(EXAMPLES / "example.com.yaml"))
    _cli(tmp_path, "enact", "-z", "example.com", "--once")
    proc = subprocess.Popen(
        [*CLI, "serve-dns", "-z", "example.com", "--port", "0", "--json", "--state", str(tmp_path / "st")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV,
    )  # fmt: skip
    lines = Lines(proc)
    try:
        where = json.loads(lines.next())
        r = dns.resolver.Resolver(configure=False)
        r.nameservers, r.port, r.lifetime = [where["host"]], where["port"], 5.0
        assert sorted(x.to_text() for x in r.resolve("api.example.com", "A")) == [
            "192.0.2.20", "192.0.2.21", "192.0.2.22",
        ]  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
