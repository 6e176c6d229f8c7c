"""Where each tracked alias points, asked of the registry at most once per poll period per alias.

Many ModelDeployments may track one alias, and Kopf runs their handlers on many threads: they share one
entry per (model, alias), and callers that need a fresh answer while a request is in flight wait for that
request instead of sending their own.

Failures back off per key (1 s, 2 s, 4 s ... capped at the poll period); while backing off, `lookup`
raises the last error without asking. A failed refresh forgets the previous answer: a caller must never
act on a version the registry may no longer name.

`fresh=True` (a person just edited a spec) asks now, and also during a backoff, so nobody waits up to a
poll period after fixing the registry; but while failing a key is still asked at most once per
MIN_BACKOFF_SECONDS, so handler retries that all pass fresh=True cannot hammer a registry that is down.
"""

from __future__ import annotations

import copy
import enum
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ferryman.registry.mlflow import AliasTarget, RegistryError

MIN_BACKOFF_SECONDS = 1.0
# 2**30 s is far above any poll period; the cap only keeps the power from overflowing a float.
_MAX_DOUBLINGS = 30


class AliasRegistry(Protocol):
    def alias_target(self, model: str, alias: str) -> AliasTarget: ...


class _Plan(enum.Enum):
    CACHED = "cached"  # the last answer is still good
    FAILED = "failed"  # backing off: the last error stands
    ASK = "ask"  # a request is needed (or one in flight will do)


class _Flight:
    """One registry request in progress; callers that arrive meanwhile wait for its outcome."""

    def __init__(self, generation: int) -> None:
        self.generation = generation  # the entry's generation when the request was sent
        self.done = threading.Event()
        self.target: AliasTarget | None = None
        self.error: Exception | None = None

    def outcome(self) -> AliasTarget:
        if self.target is not None:
            return self.target
        if self.error is not None:
            raise _copy_of(self.error)
        raise RegistryError("the registry request was abandoned before it answered")


@dataclass(slots=True)
class _Entry:
    target: AliasTarget | None = None  # the last answer; None after a failure
    error: Exception | None = None  # the last failure; None after a success
    next_due: float = -math.inf  # the registry must be asked again from then on
    last_attempt: float = -math.inf
    failures: int = 0  # consecutive
    generation: int = 0  # bumped by invalidate(): an answer from an older request is not kept for long
    flight: _Flight | None = field(default=None)

    def plan(self, now: float, fresh: bool) -> _Plan:
        if self.error is not None:
            if now >= self.next_due or (fresh and now - self.last_attempt >= MIN_BACKOFF_SECONDS):
                return _Plan.ASK
            return _Plan.FAILED
        if self.target is not None and now < self.next_due and not fresh:
            return _Plan.CACHED
        return _Plan.ASK

    def answered(self, target: AliasTarget, now: float, generation: int, poll_seconds: float) -> None:
        self.target, self.error, self.failures = target, None, 0
        self.next_due = now + poll_seconds
        self._distrust_if_invalidated(generation, now)

    def failed(self, error: Exception, now: float, generation: int, poll_seconds: float) -> None:
        self.target, self.error = None, error
        self.failures += 1
        backoff = MIN_BACKOFF_SECONDS * 2 ** min(self.failures - 1, _MAX_DOUBLINGS)
        self.next_due = now + min(backoff, poll_seconds)
        self._distrust_if_invalidated(generation, now)

    def _distrust_if_invalidated(self, generation: int, now: float) -> None:
        # The alias moved while the request was in flight: its answer may predate the move, so the
        # callers that waited get it, but the next lookup asks again.
        if generation != self.generation:
            self.next_due = now


class AliasCache:
    """Alias lookups shared by every handler thread; invalidate() is what the webhook receiver calls."""

    def __init__(
        self, registry: AliasRegistry, poll_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._registry = registry
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # One entry per alias ever looked up: bounded by the aliases the cluster's objects track.
        self._entries: dict[tuple[str, str], _Entry] = {}

    def lookup(self, model: str, alias: str, fresh: bool = False) -> AliasTarget:
        """Where model@alias points; raises the RegistryError of the last attempt when it failed."""
        with self._lock:
            entry = self._entries.setdefault((model, alias), _Entry())
            now = self._clock()
            plan = entry.plan(now, fresh)
            if plan is _Plan.CACHED and entry.target is not None:
                return entry.target
            flight = entry.flight
            if flight is None:
                if plan is _Plan.FAILED and entry.error is not None:
                    raise _copy_of(entry.error)
                flight = entry.flight = _Flight(entry.generation)
                entry.last_attempt = now
                owner = True
            else:
                owner = False
        if owner:
            self._ask(model, alias, entry, flight)
        else:
            # Bounded: the owner's request has the registry client's timeout.
            flight.done.wait()
        return flight.outcome()

    def invalidate(self, model: str, alias: str) -> None:
        """The alias moved: the next lookup asks the registry (even while backing off)."""
        with self._lock:
            entry = self._entries.get((model, alias))
            if entry is not None:
                entry.generation += 1
                entry.next_due = -math.inf

    def _ask(self, model: str, alias: str, entry: _Entry, flight: _Flight) -> None:
        """Send the flight's request and record its outcome; waiters are released whatever happens."""
        try:
            target = self._registry.alias_target(model, alias)
        except Exception as error:
            with self._lock:
                entry.failed(error, self._clock(), flight.generation, self._poll_seconds)
                flight.error = error
        else:
            with self._lock:
                entry.answered(target, self._clock(), flight.generation, self._poll_seconds)
                flight.target = target
        finally:
            with self._lock:
                entry.flight = None
            flight.done.set()


def _copy_of(error: Exception) -> Exception:
    """A copy to raise: re-raising one stored exception from many threads and many times would grow its
    traceback with every raise (and race on it)."""
    try:
        duplicate = copy.copy(error)
    except Exception:  # an exception type that cannot be rebuilt from its args
        return error
    duplicate.__cause__ = error.__cause__
    return duplicate
