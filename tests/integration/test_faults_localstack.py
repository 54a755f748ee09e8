"""Faults against a LocalStack of this module's own (strict provider, its own port and data dir):
throttling injected at the HTTP layer (the plugin's POST /_dnssg/faults) and LocalStack stopped
in the middle of a multi-batch apply.

Its own instance because both faults are global to a LocalStack: an armed throttle hits the next
ChangeResourceRecordSets of whoever calls, and a stop ends everyone's session. The port is
DNSSG_LOCALSTACK_FAULTS_PORT (default 4590).

Community LocalStack keeps no state across a restart (PERSISTENCE=1 is a Pro feature; measured:
zones and tables are gone), so a stopped apply cannot be resumed on the same instance: the tests
assert on what the error path did and on the zone as it stood when LocalStack went down (nothing
can change it afterwards).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _support import Actor, Env, Events, Gate, make_env, pending_throttles, plan, route53, rs
from botocore.exceptions import EndpointConnectionError

from safeguards.backends.boto3_route53 import Boto3Route53
from safeguards.errors import EndpointUnavailable, OutcomeUnknown, Throttled, ZoneNotFound
from safeguards.fence import parse_fence
from safeguards.records import fence_name, owner_name
from safeguards.retry import Backoff
from safeguards.testing.localstack import LocalStack, LocalStackUnavailable, boto3_client, inject_throttling

pytestmark = pytest.mark.dnssg_localstack

PORT = int(os.environ.get("DNSSG_LOCALSTACK_FAULTS_PORT", "4590"))
BIG = 600  # names in the multi-batch plan: 600 sets + 600 markers = 2 batches of at most 1000


class Dedicated:
    """This module's LocalStack: started on first use, restartable, stopped at the end."""

    def __init__(self) -> None:
        self.manager = LocalStack()
        self.url = ""

    def start(self) -> str:
        try:
            self.url = self.manager.ensure_running("strict", port=PORT)
        except LocalStackUnavailable as exc:
            pytest.fail(f"LocalStack for the fault tests (port {PORT}) is unavailable: {exc}", pytrace=False)
        return self.url

    def stop(self) -> None:
        self.manager.stop(PORT)


@pytest.fixture(scope="module")
def dedicated(localstack_strict: str) -> Iterator[Dedicated]:
    # localstack_strict: only so that the suite's switch (--dnssg-localstack, CI) decides, as for every test here.
    instance = Dedicated()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def up(dedicated: Dedicated) -> str:
    """The dedicated instance's URL, restarted if a test stopped it."""
    return dedicated.start()


def base(zone: str) -> tuple:
    return (rs(zone, "api", "192.0.2.1", "192.0.2.2"), rs(zone, "www", "192.0.2.10"))


def bumped(zone: str) -> tuple:
    return (rs(zone, "api", "192.0.2.1", "192.0.2.3"), rs(zone, "www", "192.0.2.10"))


def bare_client(endpoint: str) -> Boto3Route53:
    """A backend without botocore's own retries: every injected fault reaches the applier."""
    return Boto3Route53(boto3_client("route53", endpoint, max_attempts=1))


# ---------------------------------------------------------------------- throttling


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_throttled_batches_are_retried_with_backoff_then_succeed(up: str, code: str) -> None:
    env = make_env(up)
    env.applier().apply(plan(env.zone, 1, *base(env.zone)))
    inject_throttling(up, 3, code)
    slept = env.clock.slept
    with Events() as events:
        result = env.applier(backend=bare_client(up)).apply(plan(env.zone, 2, *bumped(env.zone)))
    assert result.outcome == "applied" and env.live() == 2
    assert env.sets()[bumped(env.zone)[0].key] == bumped(env.zone)[0]
    retries = events.named("retry")
    assert [r["attempt"] for r in retries] == [1, 2, 3]
    wanted = "PriorRequestNotComplete" if code == "PriorRequestNotComplete" else "Throttled"
    assert {r["error"] for r in retries} == {wanted}
    assert env.clock.slept > slept  # it waited (full jitter: each wait in [0, base * 2**attempt])
    assert all(0 <= r["wait"] <= Backoff().base * 2**i for i, r in enumerate(retries))
    assert pending_throttles(up) == 0  # all three faults were consumed by our batch


def test_throttling_with_the_production_client_retries_at_both_layers(up: str) -> None:
    """make_route53_client's botocore retries (3 attempts in all) absorb three throttles; the
    fourth reaches the applier, which retries once more."""
    env = make_env(up)
    env.applier().apply(plan(env.zone, 1, *base(env.zone)))
    inject_throttling(up, 4)
    with Events() as events:
        result = env.applier(backend=route53(up)).apply(plan(env.zone, 2, *bumped(env.zone)))
    assert result.outcome == "applied" and env.live() == 2
    assert [r["error"] for r in events.named("retry")] == ["Throttled"]
    assert pending_throttles(up) == 0


def test_persistent_throttling_gives_up_cleanly_and_changes_nothing(up: str) -> None:
    env = make_env(up)
    env.applier().apply(plan(env.zone, 1, *base(env.zone)))
    before = env.snapshot()
    inject_throttling(up, 100)
    try:
        with pytest.raises(Throttled) as exc:
            env.applier(backend=bare_client(up), backoff=Backoff(base=0.1, cap=1.0, max_attempts=3)).apply(
                plan(env.zone, 2, *bumped(env.zone))
            )
    finally:
        inject_throttling(up, 0)
    assert "throttled" in str(exc.value) and "\n" not in str(exc.value)
    assert env.snapshot() == before
    state = env.store.state(env.zone)
    assert state.consecutive_failures == 1 and state.applied_generation == 1


# ---------------------------------------------------------------------- LocalStack stopped mid-apply


def stop_between_batches(env: Env, dedicated: Dedicated, big: tuple) -> tuple[BaseException | None, dict]:
    """Apply `big` (two batches) in an enactor thread; when it is about to send batch 2, read the
    zone (what batch 1 left), stop LocalStack, let the enactor go on. Its error and that zone."""
    gate = Gate("batch.before", lambda ctx: ctx["index"] == 2)
    applier = env.applier("A", checkpoint=gate, backoff=Backoff(base=0.05, cap=0.2, max_attempts=3))
    a = Actor("A", lambda: applier.apply(plan(env.zone, 1, *big)))
    assert gate.wait()["total"] == 2
    at_stop = env.sets()
    dedicated.stop()
    with pytest.raises(EndpointConnectionError):
        env.backend.client.list_hosted_zones()  # really gone
    gate.release()
    a.join()
    return a.error, at_stop


def assert_prefix_of_whole_names(env: Env, big: tuple, at_stop: dict) -> list[str]:
    """The zone as batch 1 left it: the fence says generation 1 "applying", and the names present
    are a prefix (in batch order) of the plan's names, each complete with its ownership marker."""
    fence = parse_fence(at_stop[(fence_name(env.zone), "TXT", None)])
    assert fence is not None and (fence.generation, fence.seq, fence.done) == (1, 1, False)
    names = [r.name for r in big]  # sorted, as the applier batches them
    present = [n for n in names if (n, "A", None) in at_stop]
    assert 0 < len(present) < len(names)
    assert present == names[: len(present)]
    for r in big:
        has_set, has_marker = r.key in at_stop, (owner_name(r.name), "TXT", None) in at_stop
        assert has_set == has_marker, r.name
        if has_set:
            assert at_stop[r.key] == r
    return present


def test_route53_endpoint_stopped_mid_apply(up: str, dedicated: Dedicated, localstack_strict: str) -> None:
    """Route 53 (the dedicated LocalStack) goes down between batches; the plan store lives on
    another endpoint, so the error path can be seen: failure counted, lease released."""
    env = make_env(up, store_endpoint=localstack_strict)
    big = tuple(sorted(rs(env.zone, f"n{i:04d}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(BIG)))
    error, at_stop = stop_between_batches(env, dedicated, big)

    assert isinstance(error, (EndpointUnavailable, OutcomeUnknown)), repr(error)
    message = str(error)
    assert "\n" not in message and up in message and "ChangeResourceRecordSets" in message
    present = assert_prefix_of_whole_names(env, big, at_stop)
    # Batch 1: 1000 records less the new fence's CREATE and one spare, then whole names of 2 records
    # (the set's one value and its marker).
    assert len(present) == (1000 - 2) // 2

    state = env.store.state(env.zone)
    assert state.consecutive_failures == 1 and state.circuit_reason == message
    assert state.applied_generation is None  # never recorded as applied
    assert env.store.generations(env.zone) == [1]  # stored before writing, so a retry resumes it
    lease = env.store.acquire_lease(env.zone, "B", 60.0)  # released by A's error path: free at once
    assert lease.epoch == 2


def test_whole_localstack_stopped_mid_apply(up: str, dedicated: Dedicated) -> None:
    """Route 53 and the plan store go down together; the error is still one clear line. Then a
    restart on the same data dir: community LocalStack comes back empty (no persistence)."""
    env = make_env(up)
    big = tuple(sorted(rs(env.zone, f"n{i:04d}", f"10.2.{i // 250}.{i % 250 + 1}") for i in range(BIG)))
    error, at_stop = stop_between_batches(env, dedicated, big)

    assert isinstance(error, (EndpointUnavailable, OutcomeUnknown)), repr(error)
    assert "\n" not in str(error) and up in str(error)
    # The plan store is down too, so counting the failure fails as well: the error reported is
    # still the batch's own, naming the call that could not be made.
    assert "ChangeResourceRecordSets" in str(error) and "record failure" not in str(error)
    assert_prefix_of_whole_names(env, big, at_stop)

    dedicated.start()
    with pytest.raises(ZoneNotFound):
        route53(up).resolve_zone(env.zone)  # the partial zone did not survive the restart
