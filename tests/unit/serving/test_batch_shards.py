"""Shard planning: every row of every file is scored by exactly one shard, for any shards and files."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferryman_serving.batch.shards import InputFile, WorkUnit, plan_shards, shard_of

pytestmark = pytest.mark.unit

files_strategy = st.lists(st.lists(st.integers(0, 50), min_size=0, max_size=5), min_size=1, max_size=7).map(
    lambda groups: [InputFile(f"in/part-{i:03d}.parquet", tuple(g)) for i, g in enumerate(groups)]
)


def rows_covered(units: list[WorkUnit], files: list[InputFile]) -> Counter[tuple[str, int, int]]:
    """(file, row group, row) for every row a list of units reads."""
    by_path = {f.path: f for f in files}
    covered: Counter[tuple[str, int, int]] = Counter()
    for unit in units:
        groups = unit.row_groups if unit.row_groups is not None else range(len(by_path[unit.path].row_groups))
        for group in groups:
            for row in range(by_path[unit.path].row_groups[group]):
                covered[(unit.path, group, row)] += 1
    return covered


@settings(max_examples=300, deadline=None)
@given(files=files_strategy, shards=st.integers(1, 9))
def test_every_row_is_in_exactly_one_shard(files: list[InputFile], shards: int) -> None:
    """The shards' units together read each row once: none missed, none twice."""
    plan = plan_shards(files, shards)
    assert len(plan) == shards
    covered = rows_covered([u for units in plan for u in units], files)
    expected = {(f.path, g, r) for f in files for g, n in enumerate(f.row_groups) for r in range(n)}
    assert set(covered) == expected
    assert all(count == 1 for count in covered.values())


@settings(max_examples=100, deadline=None)
@given(files=files_strategy, shards=st.integers(1, 9))
def test_the_plan_does_not_depend_on_listing_order(files: list[InputFile], shards: int) -> None:
    """Each pod lists the input on its own; any order of the same listing gives the same plan."""
    assert plan_shards(list(reversed(files)), shards) == plan_shards(files, shards)


def test_with_fewer_files_than_shards_row_groups_are_spread() -> None:
    """One file of four row groups and two shards: two row groups each, in file order."""
    plan = plan_shards([InputFile("a.parquet", (10, 10, 10, 10))], 2)
    assert [[u.row_groups for u in units] for units in plan] == [[(0,), (2,)], [(1,), (3,)]]


def test_with_enough_files_whole_files_are_balanced_by_rows() -> None:
    """Largest file first to the least-loaded shard: 100 alone, 60 + 30 + 10 together."""
    files = [InputFile("a", (100,)), InputFile("b", (60,)), InputFile("c", (30,)), InputFile("d", (10,))]
    plan = plan_shards(files, 2)
    assert [[u.path for u in units] for units in plan] == [["a"], ["b", "c", "d"]]
    assert all(u.row_groups is None for units in plan for u in units)


def test_a_shard_index_outside_the_run_is_refused() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        shard_of([InputFile("a", (1,))], 2, 2)
