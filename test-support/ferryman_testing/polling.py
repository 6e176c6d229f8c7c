"""The one way tests, the demo and the benchmarks wait for something: poll a probe until it answers.

    pod = wait_for("the web pod to be Ready", ready_pod, timeout=60)
    wait_for("Prometheus ready", is_ready, timeout=30, tolerate=(OSError,))

`probe()` is called every `every` seconds until it returns something truthy, which `wait_for` returns.
When time runs out it fails with `what` and the last value the probe returned (or the last tolerated
exception), so a failure says what was awaited and what was seen instead. A probe that wants to say what
it saw (a status code, a query result) raises `NotYet(seen)` instead of returning a falsy value.
Any other exception from the probe propagates at once, unless the caller names its type in `tolerate`:
a probe that crashes is a bug to see, not a reason to keep waiting; only the caller knows which errors
mean "not yet".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(Exception):
    """Raised by a probe: the condition does not hold yet; the argument is what it saw instead."""


class WaitTimeout(AssertionError):
    """The condition never held in time; the message names it and the last value seen."""


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 60.0,
    every: float = 0.5,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `probe` until it returns something truthy and return that; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    not_yet: tuple[type[BaseException], ...] = (NotYet, *tolerate)
    last: object = None
    while True:
        try:
            value = probe()
        except not_yet as error:
            value, last = None, error
        else:
            last = value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what} (last seen: {last!r})")
        time.sleep(every)
