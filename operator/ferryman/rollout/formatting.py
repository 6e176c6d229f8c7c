"""Numbers as a person at the terminal reads them: 4.1%, 820ms, 2m30s."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """90 -> '1m30s', 600 -> '10m', 3900 -> '1h5m'."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"


def format_percent(fraction: float) -> str:
    """0.041 -> '4.1%', 0.003 -> '0.3%', 0.01 -> '1%', 0.25 -> '25%'."""
    percent = fraction * 100.0
    if percent == 0.0:
        return "0%"
    if percent >= 10.0:
        return f"{percent:.0f}%"
    if percent >= 1.0:
        return f"{percent:.1f}".rstrip("0").rstrip(".") + "%"
    if percent < 0.01:
        return "<0.01%"
    return f"{percent:.2g}%"


def format_latency(seconds: float) -> str:
    """0.82 -> '820ms', 1.25 -> '1.25s'."""
    if seconds < 1.0:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.3g}s"
