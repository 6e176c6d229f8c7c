"""A clock the test sets, for code that takes `clock: Callable[[], float]` (monotonic seconds)."""

from __future__ import annotations

import threading


class FakeClock:
    """Returns `now`, which the test moves; counts reads, so a test can tell that lookups have arrived."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.reads += 1
        return self.now
