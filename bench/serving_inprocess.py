"""Ferryman serving's cost per infer request without HTTP: the ASGI app driven in-process.

    .venv/bin/python bench/serving_inprocess.py [--requests 20000] [--concurrency 16] [--inline] [--profile]

The same model and one-row request as bench/serving.py, sent as ASGI calls from `--concurrency`
coroutines on uvloop (receive/send are no-ops), so only the app's own work is counted: routing,
admission, metrics, the hand-off to the worker thread, decode, session.run, drift histograms, encode.
Prints CPU and wall time per request. `--inline` runs the work on the event loop instead of the
worker (what the hand-off costs; never a serving mode: it stalls probes for as long as a model
computes). `--profile` adds a cProfile table of the event-loop thread (with `--inline`: of everything).
Noisy on a shared machine: compare variants in alternating runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort
import uvloop

from ferryman_serving.app import ServingApp, create_app
from ferryman_serving.settings import Settings
from ferryman_testing.models import FEATURES, make_gradient_boosting_model

WARM_UP_REQUESTS = 2000


class InlineRunner:
    """Stands in for InferenceWorkers: runs the work on the calling (event-loop) thread."""

    async def run(self, work: Callable[[ort.RunOptions], Any], deadline: float, message: str) -> Any:
        return work(ort.RunOptions())

    def stop(self) -> None:
        pass


def request_body() -> bytes:
    values = [round(0.1 * i - 1.0, 3) for i in range(FEATURES)]
    inputs = [{"name": "features", "shape": [1, FEATURES], "datatype": "FP32", "data": values}]
    return json.dumps({"inputs": inputs}).encode()


def build_app(model_dir: Path, inline: bool) -> ServingApp:
    settings = Settings(model_uri=f"file://{model_dir}/model.onnx", model_name="model", log_level="WARNING")
    app = create_app(settings)
    app.repository.load()
    if inline:
        app.workers.stop()
        app.rest.workers = InlineRunner()  # type: ignore[assignment]
    return app


async def drive(app: ServingApp, body: bytes, requests: int, concurrency: int) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v2/models/model/infer",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_: Any) -> None:
        pass

    async def client(count: int) -> None:
        for _ in range(count):
            await app(scope, receive, send)

    await asyncio.gather(*(client(requests // concurrency) for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--inline", action="store_true", help="run the work on the event loop (reference)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferryman-inprocess-") as workdir:
        model_dir = make_gradient_boosting_model(Path(workdir) / "model").directory
        app = build_app(model_dir, args.inline)
        body = request_body()
        uvloop.run(drive(app, body, WARM_UP_REQUESTS, args.concurrency))
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        uvloop.run(drive(app, body, args.requests, args.concurrency))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        app.workers.stop()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    mode = "inline" if args.inline else "worker thread"
    print(
        f"{mode}, {args.concurrency} concurrent: {cpu / args.requests * 1e6:.1f} us CPU and "
        f"{wall / args.requests * 1e6:.1f} us wall per request"
    )


if __name__ == "__main__":
    main()
