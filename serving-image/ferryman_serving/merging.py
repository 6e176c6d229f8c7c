"""Rows of concurrent infer requests merged into one session.run (opt-in: FERRYMAN_MERGE_MAX_ROWS).

A worker takes the requests that arrived during one event-loop iteration as one batch (workers.py).
Run one by one, each `session.run` hands the GIL to the event loop and has to win it back: about one
thread switch per request, the largest part of what the worker hand-off costs a small model
(bench/README.md). Merged, requests whose inputs agree on everything but the number of rows are
concatenated along the first axis, run once, and each gets its own rows of every output back.

That is only correct when the model computes each row from that row alone (trees, linear models,
most networks in inference mode), which no signature can prove: a model that normalises over the
batch or multiplies rows together would mix requests. Hence opt-in, and what the server can check it
does, turning merging off for the model with a warning when a check fails:
- every input has a free first dimension;
- every output of a merged run has one row per input row;
- the first `CHECKED_RUNS` merged runs are checked against a lone run of their first request, which
  must get the same rows (catches a model that mixes rows, as far as those runs show it);
- a merged run that fails where each request alone succeeds (a model that takes one row only).
Anything that goes wrong in a merged run (a refused input, a time limit) runs the requests again one
by one, so that each gets its own answer, as without merging.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Hashable
from typing import Any

import numpy as np
import onnxruntime as ort

from ferryman_serving.codec import encode_response
from ferryman_serving.dataplane import DataPlane, InferCall, PreparedInfer
from ferryman_serving.model import OnnxModel
from ferryman_serving.workers import Job, JobDone

log = logging.getLogger("ferryman_serving.merging")

# Merged runs per model that are checked against a lone run of their first request.
CHECKED_RUNS = 3
# How close a lone run's floating-point rows must be to the merged run's: kernels may sum in another
# order for another number of rows.
RTOL, ATOL = 1e-4, 1e-6

Prepared = tuple[Job[Any], PreparedInfer]


class RowMerger:
    """A BatchRunner for InferenceWorkers that merges compatible infer requests, up to `max_rows` rows."""

    def __init__(self, dataplane: DataPlane, max_rows: int) -> None:
        self.dataplane = dataplane
        self.max_rows = max_rows
        # Per model object (a model loaded again starts afresh): found unfit, and merged runs checked.
        self._refused: weakref.WeakSet[OnnxModel] = weakref.WeakSet()
        self._checked: weakref.WeakKeyDictionary[OnnxModel, int] = weakref.WeakKeyDictionary()

    def __call__(self, jobs: list[Job[Any]], done: JobDone) -> None:
        group: list[Prepared] = []
        group_key: Hashable = None
        group_rows = 0
        for job in jobs:
            prepared = self._prepare(job)
            if prepared is None:
                done(job)
                continue
            key, rows = self._merge_key(prepared)
            if group and (key is None or key != group_key or group_rows + rows > self.max_rows):
                self._run_group(group, done)
                group, group_rows = [], 0
            group.append((job, prepared))
            group_key, group_rows = key, group_rows + rows
        if group:
            self._run_group(group, done)

    def _prepare(self, job: Job[Any]) -> PreparedInfer | None:
        """The checked request; None when the job is over already (expired, refused, or not an infer)."""
        if job.expired:
            return None
        if not isinstance(job.work, InferCall):
            job.run()
            return None
        try:
            return job.work.prepare()
        except BaseException as error:  # handed to the awaiting request, which maps it
            job.error = error
            return None

    def _merge_key(self, prepared: PreparedInfer) -> tuple[Hashable, int]:
        """What requests must share to be merged, and this one's rows; (None, 0) when it cannot be."""
        model = prepared.model
        if model in self._refused or not all(spec.shape and spec.shape[0] < 0 for spec in model.inputs):
            return None, 0
        rows = -1
        signature = []
        for name, array in prepared.feeds.items():
            if array.ndim == 0 or (rows >= 0 and array.shape[0] != rows):
                return None, 0
            rows = array.shape[0]
            signature.append((name, array.dtype, array.shape[1:]))
        if rows <= 0:
            return None, 0
        return (id(model), tuple(prepared.run_names), tuple(signature)), rows

    def _run_group(self, group: list[Prepared], done: JobDone) -> None:
        merge_failed = False
        splits = None
        if len(group) > 1:
            try:
                splits = self._run_merged(group)
            except Exception:
                merge_failed = True
        if splits is None:
            for job, prepared in group:
                if not job.expired:
                    self._run_one(job, prepared)
            if merge_failed and not any(job.error or job.expired for job, _ in group):
                # Each request succeeds alone: a model that takes one row only behind a free dimension.
                self._refuse(group[0][1].model, "a merged run failed where each request alone succeeded")
        else:
            for index, (job, prepared) in enumerate(group):
                if not job.expired:
                    self._complete(job, prepared, [split[index] for split in splits])
        for job, _ in group:
            done(job)

    def _run_merged(self, group: list[Prepared]) -> list[list[np.ndarray]] | None:
        """Each output split into the requests' rows; None when the outputs show that the model must not
        be merged (the requests then run one by one). Raises what the merged run raised."""
        first = group[0][1]
        model = first.model
        feeds = {name: np.concatenate([p.feeds[name] for _, p in group]) for name in first.feeds}
        outputs = self._run_for_all(group, feeds)
        rows = [next(iter(p.feeds.values())).shape[0] for _, p in group]
        total = sum(rows)
        if any(output.ndim == 0 or output.shape[0] != total for output in outputs):
            self._refuse(model, f"outputs of shapes {[list(o.shape) for o in outputs]} for {total} rows")
            return None
        splits = [np.split(output, np.cumsum(rows)[:-1]) for output in outputs]
        if self._checked.get(model, 0) < CHECKED_RUNS and not self._lone_run_agrees(group[0], splits):
            return None
        return splits

    def _run_for_all(self, group: list[Prepared], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        first = group[0][1]
        options = ort.RunOptions()
        own = [job.run_options for job, _ in group]
        for job, _ in group:
            job.run_options = options  # a time limit reached by any of them stops the merged run
        try:
            return first.model.run(feeds, first.run_names, options)
        finally:
            for (job, _), options_of_job in zip(group, own, strict=True):
                job.run_options = options_of_job

    def _lone_run_agrees(self, head: Prepared, splits: list[list[np.ndarray]]) -> bool:
        job, prepared = head
        model = prepared.model
        self._checked[model] = self._checked.get(model, 0) + 1
        try:
            alone = prepared.model.run(prepared.feeds, prepared.run_names, job.run_options)
        except Exception:
            return False  # answered one by one; a lone run that fails says nothing against merging
        merged = [split[0] for split in splits]
        for name, lone_rows, merged_rows in zip(prepared.run_names, alone, merged, strict=True):
            if not _same_rows(lone_rows, merged_rows):
                self._refuse(model, f"output {name!r} of a request differs when run with others")
                return False
        return True

    def _refuse(self, model: OnnxModel, why: str) -> None:
        self._refused.add(model)
        log.warning(
            "requests are no longer merged for this model: %s; the model must compute each row from that "
            "row alone (FERRYMAN_MERGE_MAX_ROWS)", why,
        )  # fmt: skip

    def _run_one(self, job: Job[Any], prepared: PreparedInfer) -> None:
        try:
            results = self.dataplane.run(prepared, job.run_options)
        except BaseException as error:
            job.error = error
            return
        self._complete(job, prepared, results)

    def _complete(self, job: Job[Any], prepared: PreparedInfer, results: list[np.ndarray]) -> None:
        try:
            job.result = encode_response(self.dataplane.complete(prepared, results))
        except BaseException as error:
            job.error = error


def _same_rows(lone: np.ndarray, merged: np.ndarray) -> bool:
    if lone.shape != merged.shape or lone.dtype != merged.dtype:
        return False
    if lone.dtype.kind in "fc":
        return bool(np.allclose(lone, merged, rtol=RTOL, atol=ATOL, equal_nan=True))
    return bool(np.array_equal(lone, merged))
