"""Which shard scores which part of the input: a pure plan every shard computes the same way.

Each shard of an Indexed Job lists the same input and plans alone, so the plan must depend only on the
listing (sorted paths and row counts) and the number of shards. Units are whole files when there are at
least as many files as shards, otherwise Parquet row groups (CSV files have one unit each: no row groups).
Units go to the least-loaded shard, largest first, ties to the lower index (deterministic LPT), so
shards get about the same number of rows; within a shard, units keep input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file and the row count of each of its row groups (a CSV file: one group)."""

    path: str
    row_groups: tuple[int, ...]

    @property
    def rows(self) -> int:
        return sum(self.row_groups)


@dataclass(frozen=True, slots=True)
class WorkUnit:
    """Rows a shard reads: the given row groups of one file (None = the whole file)."""

    path: str
    row_groups: tuple[int, ...] | None
    rows: int
    order: int  # position in the input, so a shard reads its units in input order


def _units(files: Sequence[InputFile], shards: int) -> list[WorkUnit]:
    ordered = sorted(files, key=lambda f: f.path)
    if len(ordered) >= shards:
        return [WorkUnit(f.path, None, f.rows, i) for i, f in enumerate(ordered)]
    units: list[WorkUnit] = []
    for f in ordered:
        for group, rows in enumerate(f.row_groups):
            units.append(WorkUnit(f.path, (group,), rows, len(units)))
    return units


def plan_shards(files: Sequence[InputFile], shards: int) -> list[list[WorkUnit]]:
    """The units of each of `shards` shards; every row of every file is in exactly one unit."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    loads = [0] * shards
    plan: list[list[WorkUnit]] = [[] for _ in range(shards)]
    for unit in sorted(_units(files, shards), key=lambda u: (-u.rows, u.order)):
        target = min(range(shards), key=lambda s: (loads[s], s))
        plan[target].append(unit)
        loads[target] += unit.rows
    return [sorted(units, key=lambda u: u.order) for units in plan]


def shard_of(files: Sequence[InputFile], shards: int, index: int) -> list[WorkUnit]:
    """The units of shard `index` (0-based)."""
    if not 0 <= index < shards:
        raise ValueError(f"shard index {index} is outside 0..{shards - 1}")
    return plan_shards(files, shards)[index]
