"""The alias cache: one registry request per alias per poll period, shared by every handler thread.

The registry here is a fake of the one-method protocol the cache needs (alias_target), and the clock is
a number the test moves: what is tested is the cache's bookkeeping, not MLflow (see
tests/cluster/test_registry_mlflow.py for that).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType

import pytest

from ferryman.registry.cache import AliasCache
from ferryman.registry.mlflow import AliasNotFound, AliasTarget, RegistryError
from ferryman_testing.clock import FakeClock
from ferryman_testing.polling import wait_for

pytestmark = pytest.mark.unit

POLL = 30.0
MODEL, ALIAS = "fraud", "production"


class FakeRegistry:
    """Answers version N on its Nth request, or raises `failure`; `gate`, when set, holds each request."""

    def __init__(self) -> None:
        self.calls = 0
        self.failure: Exception | None = None
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def alias_target(self, model: str, alias: str) -> AliasTarget:
        with self._lock:
            self.calls += 1
            number = self.calls
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if self.failure is not None:
            raise self.failure
        return AliasTarget(model, alias, str(number), MappingProxyType({"call": str(number)}))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def cache(registry: FakeRegistry, clock: FakeClock) -> AliasCache:
    return AliasCache(registry, poll_seconds=POLL, clock=clock)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=16) as executor:
        yield executor


def outage() -> RegistryError:
    return RegistryError("MLflow registry GET http://mlflow/api/2.0/mlflow/x failed: HTTP 503", status=503)


def lookups_in_flight(
    pool: ThreadPoolExecutor,
    clock: FakeClock,
    registry: FakeRegistry,
    call: Callable[[], AliasTarget],
    n: int,
) -> list[AliasTarget]:
    """Run `call` n times at once while the registry holds its first request, then let it answer.

    The gate opens only once every lookup has read the clock (each does on arrival, before it decides),
    so all n have decided to wait for the request in flight before it ends.
    """
    registry.gate = threading.Event()
    reads_before = clock.reads
    futures = [pool.submit(call) for _ in range(n)]
    assert registry.entered.wait(10)
    wait_for(f"{n} lookups to arrive", lambda: clock.reads - reads_before >= n, timeout=10, every=0.01)
    registry.gate.set()
    return [future.result(timeout=10) for future in futures]


def test_many_threads_share_one_request_per_poll_period(
    cache: AliasCache, registry: FakeRegistry, clock: FakeClock, pool: ThreadPoolExecutor
) -> None:
    """However many handler threads ask, the registry hears one request for the alias per poll period."""
    results = list(pool.map(lambda _: cache.lookup(MODEL, ALIAS), range(200)))
    assert registry.calls == 1
    assert {target.version for target in results} == {"1"}
    clock.now += POLL - 0.1
    assert cache.lookup(MODEL, ALIAS).version == "1"
    clock.now += 0.1
    results = list(pool.map(lambda _: cache.lookup(MODEL, ALIAS), range(200)))
    assert registry.calls == 2
    assert {target.version for target in results} == {"2"}


def test_concurrent_fresh_lookups_coalesce_into_the_request_in_flight(
    cache: AliasCache, registry: FakeRegistry, clock: FakeClock, pool: ThreadPoolExecutor
) -> None:
    """Callers that want a fresh answer while one is being fetched wait for it instead of asking again."""
    results = lookups_in_flight(pool, clock, registry, lambda: cache.lookup(MODEL, ALIAS, fresh=True), 16)
    assert registry.calls == 1
    assert {target.version for target in results} == {"1"}


def test_concurrent_callers_share_the_failure_of_the_request_in_flight(
    cache: AliasCache, registry: FakeRegistry, clock: FakeClock, pool: ThreadPoolExecutor
) -> None:
    """A failed request fails every caller that waited for it, each with the registry's error."""
    registry.failure = outage()

    def lookup() -> AliasTarget:
        with pytest.raises(RegistryError, match="HTTP 503") as raised:
            cache.lookup(MODEL, ALIAS)
        assert raised.value.status == 503
        return AliasTarget(MODEL, ALIAS, "failed", {})

    lookups_in_flight(pool, clock, registry, lookup, 16)
    assert registry.calls == 1


def test_keys_are_separate(cache: AliasCache, registry: FakeRegistry) -> None:
    """Each (model, alias) has its own period: another alias of the same model is asked for itself."""
    assert cache.lookup(MODEL, ALIAS).alias == ALIAS
    assert cache.lookup(MODEL, "staging").alias == "staging"
    assert cache.lookup("other", ALIAS).model == "other"
    assert registry.calls == 3


def test_fresh_asks_now_and_refreshes_the_shared_answer(cache: AliasCache, registry: FakeRegistry) -> None:
    """fresh=True (a spec edit) asks at once; later lookups get that newer answer for a full period."""
    assert cache.lookup(MODEL, ALIAS).version == "1"
    assert cache.lookup(MODEL, ALIAS, fresh=True).version == "2"
    assert cache.lookup(MODEL, ALIAS).version == "2"
    assert registry.calls == 2


def test_invalidate_makes_the_next_lookup_ask(cache: AliasCache, registry: FakeRegistry) -> None:
    """A webhook delivery (invalidate) is seen by the next lookup, without waiting for the period."""
    cache.lookup(MODEL, ALIAS)
    cache.invalidate(MODEL, ALIAS)
    assert cache.lookup(MODEL, ALIAS).version == "2"
    assert cache.lookup(MODEL, ALIAS).version == "2"
    assert registry.calls == 2


def test_invalidate_of_an_alias_never_looked_up_is_a_no_op(cache: AliasCache, registry: FakeRegistry) -> None:
    cache.invalidate("unknown", "alias")
    assert registry.calls == 0


def test_a_move_during_a_request_is_not_hidden_by_that_request(
    cache: AliasCache, registry: FakeRegistry, pool: ThreadPoolExecutor
) -> None:
    """The answer of a request sent before the alias moved may be old: the next lookup asks again."""
    registry.gate = threading.Event()
    first = pool.submit(cache.lookup, MODEL, ALIAS)
    assert registry.entered.wait(10)
    cache.invalidate(MODEL, ALIAS)
    registry.gate.set()
    assert first.result(timeout=10).version == "1"
    assert cache.lookup(MODEL, ALIAS).version == "2"
    assert cache.lookup(MODEL, ALIAS).version == "2"
    assert registry.calls == 2


def test_failures_back_off_doubling_up_to_the_poll_period(registry: FakeRegistry, clock: FakeClock) -> None:
    """After each failure the key waits 1 s, 2 s, 4 s ... (at most the poll period) before asking again;
    meanwhile lookups raise the last error without a request."""
    cache = AliasCache(registry, poll_seconds=10.0, clock=clock)
    registry.failure = outage()
    for expected_wait in (1.0, 2.0, 4.0, 8.0, 10.0, 10.0):
        calls = registry.calls
        with pytest.raises(RegistryError):
            cache.lookup(MODEL, ALIAS)
        assert registry.calls == calls + 1
        clock.now += expected_wait - 0.01
        with pytest.raises(RegistryError, match="HTTP 503"):
            cache.lookup(MODEL, ALIAS)
        assert registry.calls == calls + 1, f"asked again before {expected_wait} s"
        clock.now += 0.01


def test_a_failed_refresh_never_returns_the_previous_answer(
    cache: AliasCache, registry: FakeRegistry, clock: FakeClock
) -> None:
    """Once a refresh is due and fails, lookups raise until the registry answers again: no stale version."""
    assert cache.lookup(MODEL, ALIAS).version == "1"
    clock.now += POLL
    registry.failure = outage()
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS)
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS)
    registry.failure = None
    clock.now += 1.0
    assert cache.lookup(MODEL, ALIAS).version == "3"


def test_a_success_resets_the_backoff(cache: AliasCache, registry: FakeRegistry, clock: FakeClock) -> None:
    registry.failure = outage()
    for wait in (1.0, 2.0):
        with pytest.raises(RegistryError):
            cache.lookup(MODEL, ALIAS)
        clock.now += wait
    registry.failure = None
    cache.lookup(MODEL, ALIAS)
    clock.now += POLL
    registry.failure = outage()
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS)
    calls = registry.calls
    clock.now += 1.0
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS)
    assert registry.calls == calls + 1, "the backoff started again at 1 s"


def test_fresh_may_try_during_a_backoff_but_at_most_once_a_second(
    registry: FakeRegistry, clock: FakeClock
) -> None:
    """A spec edit need not wait out a long backoff, but fresh lookups cannot hammer a registry that is
    down: while failing, a key is asked at most once a second whoever asks."""
    cache = AliasCache(registry, poll_seconds=300.0, clock=clock)
    registry.failure = outage()
    for wait in (1.0, 2.0, 4.0, 8.0, 16.0, 0.0):  # each failure's backoff; the last one's is 32 s
        with pytest.raises(RegistryError):
            cache.lookup(MODEL, ALIAS)
        clock.now += wait
    calls = registry.calls
    clock.now += 1.0
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS)
    assert registry.calls == calls, "a plain lookup waits out the backoff"
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS, fresh=True)
    assert registry.calls == calls + 1, "a fresh lookup tries once"
    clock.now += 0.5
    with pytest.raises(RegistryError):
        cache.lookup(MODEL, ALIAS, fresh=True)
    assert registry.calls == calls + 1, "not twice within a second"
    registry.failure = None
    clock.now += 0.5
    assert cache.lookup(MODEL, ALIAS, fresh=True).version == str(calls + 2)


def test_invalidate_during_a_backoff_asks_at_once(
    cache: AliasCache, registry: FakeRegistry, clock: FakeClock
) -> None:
    """The webhook says the alias was just set: that is worth asking even while backing off."""
    registry.failure = AliasNotFound("registered model 'fraud' has no alias 'production'", status=400)
    with pytest.raises(AliasNotFound):
        cache.lookup(MODEL, ALIAS)
    registry.failure = None
    cache.invalidate(MODEL, ALIAS)
    assert cache.lookup(MODEL, ALIAS).version == "2"


def test_a_repeated_error_keeps_its_type_message_and_status(
    cache: AliasCache, registry: FakeRegistry
) -> None:
    """Lookups during a backoff raise the same kind of error (a copy, so tracebacks do not pile up)."""
    registry.failure = AliasNotFound("registered model 'fraud' has no alias 'production'", status=400)
    with pytest.raises(AliasNotFound) as first:
        cache.lookup(MODEL, ALIAS)
    with pytest.raises(AliasNotFound) as again:
        cache.lookup(MODEL, ALIAS)
    assert str(again.value) == str(first.value)
    assert again.value.status == 400
    assert again.value is not first.value
    assert registry.calls == 1


def test_the_shared_tags_cannot_be_changed_by_one_caller(cache: AliasCache) -> None:
    target = cache.lookup(MODEL, ALIAS)
    with pytest.raises(TypeError):
        target.tags["call"] = "changed"  # type: ignore[index]
