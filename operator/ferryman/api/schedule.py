"""Cron schedules of recurring TrainingJobs: one reading of the text, shared by validation and the timer.

Five fields (minute hour day-of-month month day-of-week) as a CronJob takes them, evaluated in UTC, or one
of the macros below. Day-of-month and day-of-week combine as in Vixie cron (either matches when both are
restricted), which is what cronsim implements.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}


def cron_expression(schedule: str) -> str:
    """The five-field expression of a schedule (macros expanded)."""
    return MACROS.get(schedule.strip(), schedule.strip())


def schedule_error(schedule: str) -> str | None:
    """Why spec.schedule cannot be evaluated, naming the field and the fix; None when it can."""
    try:
        CronSim(cron_expression(schedule), datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        return (
            f"spec.schedule {schedule!r} is not a cron schedule ({error}): give five fields (minute hour "
            f"day-of-month month day-of-week, UTC), e.g. '0 3 * * *', or one of {', '.join(MACROS)}"
        )
    return _beyond_cronjob_syntax(schedule)


def _beyond_cronjob_syntax(schedule: str) -> str | None:
    # cronsim also reads L, W, # and a Sunday written 7; a Kubernetes CronJob (robfig/cron's standard
    # parser) refuses them, so a batch schedule using one was stored and then never ran.
    fields = cron_expression(schedule).split()
    if any(mark in fields[2] + fields[4] for mark in "LW#"):
        return (
            f"spec.schedule {schedule!r}: L, W and # are not Kubernetes CronJob syntax; use plain values, "
            "ranges, lists and steps"
        )
    values = [v for part in fields[4].split(",") for v in part.split("/")[0].split("-")]
    if "7" in values:
        return f"spec.schedule {schedule!r}: a CronJob's day-of-week runs 0-6; write Sunday as 0"
    open_steps = [
        part for part in fields[4].split(",") if "/" in part and part.split("/")[0] not in ("*", "?")
    ]
    if any("-" not in part.split("/")[0] for part in open_steps):
        # 1/2: a CronJob steps through 1-6 (Mon, Wed, Fri), cronsim through 1-7 (and Sunday too).
        return (
            f"spec.schedule {schedule!r}: a day-of-week step needs a range (1-6/2, not 1/2), which a "
            "CronJob and cron read alike"
        )
    return None
