"""Durations as users write them in specs (``30s``, ``10m``, ``1h30m``, ``500ms``) and their parsing.

Kubernetes users know Go-style durations from Flagger, Argo Rollouts and kubectl flags. We accept the
subset that reads unambiguously: one or more ``<digits><unit>`` groups with units ms, s, m, h.
Each group has at most six digits (999999h is 114 years) and the whole at most 32 characters, so every
duration the schema accepts fits in a Python timedelta: no spec can make validation overflow.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

MAX_GROUP_DIGITS = 6
MAX_DURATION_LENGTH = 32
DURATION_PATTERN = rf"^([0-9]{{1,{MAX_GROUP_DIGITS}}}(ms|s|m|h))+$"
DURATION_FORM = (
    f"digits followed by a unit ms, s, m or h (at most {MAX_GROUP_DIGITS} digits each), "
    "e.g. 500ms, 30s, 10m, 1h30m"
)

_WHOLE = re.compile(DURATION_PATTERN)
_GROUP = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


def parse_duration(text: str) -> timedelta:
    """The timedelta that ``text`` (e.g. ``1h30m``) stands for; ValueError naming the text if malformed."""
    if not isinstance(text, str) or len(text) > MAX_DURATION_LENGTH or not _WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {text!r}: expected {DURATION_FORM}")
    return sum((int(count) * _UNIT[unit] for count, unit in _GROUP.findall(text)), timedelta())


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": MAX_DURATION_LENGTH}),
]
"""A duration string such as ``30s``; kept as text so the API round-trips what the user wrote."""

# A duration is longer than zero exactly when one of its digits is not 0: a check the API server's CEL
# can make without parsing (its duration() overflows where the pattern still accepts).
LONGER_THAN_ZERO = "must be longer than 0s, e.g. 30s"


def _check_positive(text: str) -> str:
    if parse_duration(text) <= timedelta():
        raise ValueError(LONGER_THAN_ZERO)
    return text


PositiveDuration = Annotated[
    str,
    AfterValidator(_check_positive),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "maxLength": MAX_DURATION_LENGTH,
            "x-kubernetes-validations": [{"rule": "self.matches('[1-9]')", "message": LONGER_THAN_ZERO}],
        }
    ),
]
"""A Duration that must not be 0s (a window, interval or deadline of nothing is a mistake)."""
