"""Is this webhook delivery from our MLflow server, recent, and new? (pure: no I/O, no clock)

MLflow (3.x, mlflow/webhooks/delivery.py) signs each delivery the Standard Webhooks way:
X-MLflow-Signature is "v1,<base64 HMAC-SHA256>" of "<delivery id>.<timestamp>.<body>" keyed with the
webhook's secret, X-MLflow-Timestamp is unix seconds and X-MLflow-Delivery-Id a fresh UUID. The timestamp
bounds how long a captured delivery can be replayed; the ReplayGuard closes that window.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import math
import threading
from collections.abc import Mapping

SIGNATURE_HEADER = "X-MLflow-Signature"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300.0


class DeliveryRejected(ValueError):
    """The delivery is not to be trusted; the message says why (never the signature or the secret)."""


class ReplayGuard:
    """The delivery ids accepted recently, each kept until its timestamp leaves the tolerance window
    (after that the timestamp check rejects a replay on its own; the signature binds id and timestamp).

    Memory is bounded by `max_ids`: beyond it the id closest to expiry is forgotten first. Only senders
    that know the secret can fill it, and a replayed alias event only makes the operator ask the registry
    once more, so forgetting beats refusing genuine deliveries.
    """

    def __init__(self, max_ids: int = 100_000) -> None:
        self._max_ids = max_ids
        self._expiry: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def check_and_remember(self, delivery_id: str, expires_at: float, now: float) -> None:
        """Remember the id until `expires_at`; DeliveryRejected if it was seen and has not expired."""
        with self._lock:
            self._forget_expired(now)
            if delivery_id in self._expiry:
                raise DeliveryRejected(f"delivery {delivery_id!r} was already received (replay)")
            self._expiry[delivery_id] = expires_at
            heapq.heappush(self._by_expiry, (expires_at, delivery_id))
            while len(self._expiry) > self._max_ids:
                self._forget_first()

    def forget(self, delivery_id: str) -> None:
        """Accept this id again (its delivery was not acted on, and the sender will retry it)."""
        with self._lock:
            self._expiry.pop(delivery_id, None)

    def _forget_expired(self, now: float) -> None:
        while self._by_expiry and self._by_expiry[0][0] < now:
            self._forget_first()

    def _forget_first(self) -> None:
        expires_at, delivery_id = heapq.heappop(self._by_expiry)
        # A forgotten and re-remembered id has a newer heap entry too: only the current one counts.
        if self._expiry.get(delivery_id) == expires_at:
            del self._expiry[delivery_id]


def verify_delivery(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    guard: ReplayGuard,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return if the delivery is signed with `secret`, stamped within tolerance of `now` and not seen
    before (it is then remembered); raise DeliveryRejected saying why otherwise."""
    lowered = {name.lower(): value for name, value in headers.items()}
    delivery_id = _required(lowered, DELIVERY_ID_HEADER)
    stamp = _required(lowered, TIMESTAMP_HEADER)
    signatures = _required(lowered, SIGNATURE_HEADER)
    timestamp = _unix_seconds(stamp)
    if not _signed_by(secret, signatures, f"{delivery_id}.{stamp}.".encode() + body):
        raise DeliveryRejected(f"{SIGNATURE_HEADER} does not match the body and the webhook secret")
    age = now - timestamp
    if abs(age) > tolerance_seconds:
        when = "old" if age > 0 else "in the future"
        raise DeliveryRejected(
            f"{TIMESTAMP_HEADER} is {abs(age):.0f} s {when} (tolerance {tolerance_seconds:g} s): stale or "
            "replayed, or the clocks disagree"
        )
    guard.check_and_remember(delivery_id, timestamp + tolerance_seconds, now)


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower(), "").strip()
    if not value:
        raise DeliveryRejected(f"header {name} is missing")
    if not value.isascii():  # an undecodable byte arrives as a surrogate, which .encode() raised on (a 500)
        raise DeliveryRejected(f"header {name} is not ASCII")
    return value


def _unix_seconds(stamp: str) -> float:
    try:
        timestamp = float(stamp)
    except ValueError:
        timestamp = math.nan
    if not math.isfinite(timestamp):
        raise DeliveryRejected(f"{TIMESTAMP_HEADER} is not unix seconds")
    return timestamp


def _signed_by(secret: str, signatures: str, signed_content: bytes) -> bool:
    """Whether any "v1,<base64>" entry (space separated, as Standard Webhooks allow) matches."""
    digest = hmac.new(secret.encode(), signed_content, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    matched = False
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        # No early exit: every candidate costs the same comparison whatever matched before.
        matched |= version == SIGNATURE_VERSION and hmac.compare_digest(expected, encoded.encode())
    return matched
