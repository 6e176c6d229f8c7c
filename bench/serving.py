"""Serving benchmark: Ferryman (default, and with requests merged) vs MLServer (default, tuned, and tuned
with adaptive batching) vs a bare ASGI endpoint, same model, same request, one run.

    .venv/bin/python bench/serving.py [--duration 15] [--connections 16] [--pin]

Builds the GradientBoosting model (100 trees, 20 features, skl2onnx), starts each server in turn on
127.0.0.1, warms it up, drives it with wrk (Debian package `wrk`, see scripts/install-bench-tools) with
the same JSON request from a Lua script, and prints req/s, p50, p99 and the ratios. MLServer pins its own
dependencies, so it lives in a separate venv cached under ~/.cache/ferryman/bench-mlserver-<version>/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MLSERVER_VERSION = "1.7.1"
MLSERVER_VENV = Path.home() / ".cache" / "ferryman" / f"bench-mlserver-{MLSERVER_VERSION}"
MODEL_NAME = "model"
# Rows per merged run for ferryman-merged and mlserver-batched; MLServer's wait for more requests.
MERGE_ROWS = 64
MLSERVER_BATCH_SECONDS = 0.001
# MLServer as its docs advise for small, fast models (mlserver-tuned, and under mlserver-batched).
MLSERVER_TUNED: dict[str, object] = {"parallel_workers": 0, "debug": False}
# uvloop 0.22 removed the implicit event loop that MLServer 1.7's parallel workers ask for
# (RuntimeError in mlserver/parallel/worker.py), so the uvloop of MLServer 1.7's time is pinned.
MLSERVER_PACKAGES = (f"mlserver=={MLSERVER_VERSION}", "uvloop<0.22", "onnxruntime", "numpy")

MLSERVER_RUNTIME = '''
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    """The smallest honest MLServer runtime for an ONNX model: decode, session.run, encode."""

    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            self.settings.parameters.uri, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        features = NumpyCodec.decode_input(payload.inputs[0])
        results = self._session.run(self._outputs, {self._input: features})
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(n, r) for n, r in zip(self._outputs, results)],
        )
'''

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[%s]]
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("BENCH_RESULT %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    errors, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} not ready after {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def ensure_mlserver() -> Path:
    marker = MLSERVER_VENV / ".complete"
    if not marker.exists() or marker.read_text() != " ".join(MLSERVER_PACKAGES):
        print(f"installing MLServer {MLSERVER_VERSION} into {MLSERVER_VENV} (once)", flush=True)
        shutil.rmtree(MLSERVER_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        pip = str(MLSERVER_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", *MLSERVER_PACKAGES], check=True)
        marker.write_text(" ".join(MLSERVER_PACKAGES))
    return MLSERVER_VENV / "bin" / "mlserver"


def pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


def start_ferryman(model_dir: Path, port: int, cpus: str | None, workdir: Path) -> subprocess.Popen[bytes]:
    return _start_ferryman(model_dir, port, cpus, workdir, {})


def start_ferryman_merged(
    model_dir: Path, port: int, cpus: str | None, workdir: Path
) -> subprocess.Popen[bytes]:
    """Ferryman with the rows of concurrent requests merged into one session.run (opt-in; right for
    this model, whose rows are independent)."""
    return _start_ferryman(model_dir, port, cpus, workdir, {"FERRYMAN_MERGE_MAX_ROWS": str(MERGE_ROWS)})


def _start_ferryman(
    model_dir: Path, port: int, cpus: str | None, workdir: Path, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FERRYMAN_MODEL_URI": f"file://{model_dir}/model.onnx",
        "FERRYMAN_MODEL_NAME": MODEL_NAME,
        "FERRYMAN_PORT": str(port),
        "FERRYMAN_LOG_LEVEL": "WARNING",
        "FERRYMAN_DRAIN_SECONDS": "0",
        **extra_env,
    }
    command = pinned([sys.executable, "-m", "ferryman_serving"], cpus)
    return subprocess.Popen(command, env=env, cwd=workdir, start_new_session=True)


def start_bare(model_dir: Path, port: int, cpus: str | None, workdir: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, __file__, "--serve-bare", str(model_dir / "model.onnx"), "--port", str(port)]
    return subprocess.Popen(pinned(command, cpus), cwd=workdir, start_new_session=True)


def start_mlserver(model_dir: Path, port: int, cpus: str | None, workdir: Path) -> subprocess.Popen[bytes]:
    """MLServer with its default settings except ports, and the custom ONNX runtime above."""
    return _start_mlserver(model_dir, port, cpus, workdir / "mlserver", {})


def start_mlserver_tuned(
    model_dir: Path, port: int, cpus: str | None, workdir: Path
) -> subprocess.Popen[bytes]:
    """MLServer as its docs advise for small, fast models: inference in the server process (no
    parallel worker process and its IPC per request) and debug off."""
    return _start_mlserver(model_dir, port, cpus, workdir / "mlserver-tuned", MLSERVER_TUNED)


def start_mlserver_batched(
    model_dir: Path, port: int, cpus: str | None, workdir: Path
) -> subprocess.Popen[bytes]:
    """The tuned MLServer with its adaptive batching on, the counterpart of ferryman-merged: requests
    that arrive within `max_batch_time` are merged, up to `max_batch_size` rows."""
    batching = {"max_batch_size": MERGE_ROWS, "max_batch_time": MLSERVER_BATCH_SECONDS}
    return _start_mlserver(model_dir, port, cpus, workdir / "mlserver-batched", MLSERVER_TUNED, batching)


def _start_mlserver(
    model_dir: Path,
    port: int,
    cpus: str | None,
    root: Path,
    extra_settings: dict[str, object],
    model_settings: dict[str, object] | None = None,
) -> subprocess.Popen[bytes]:
    mlserver = ensure_mlserver()
    model_root = root / MODEL_NAME
    model_root.mkdir(parents=True, exist_ok=True)
    (model_root / "onnx_runtime.py").write_text(MLSERVER_RUNTIME)
    (model_root / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL_NAME,
                "implementation": "onnx_runtime.OnnxRuntime",
                "parameters": {"uri": str(model_dir / "model.onnx")},
                **(model_settings or {}),
            }
        )
    )
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        **extra_settings,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    command = pinned([str(mlserver), "start", str(root)], cpus)
    return subprocess.Popen(
        command, cwd=model_root, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def group_cpu_seconds(process_group: int) -> float:
    """User+system CPU seconds of every live process in a process group (MLServer forks workers).

    CPU per request is robust to other load on the machine, unlike req/s: a second, fairer view."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == process_group:  # field 5 (pgrp), counted after the command name
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def run_wrk(port: int, script: Path, seconds: int, connections: int, cpus: str | None) -> tuple[int, ...]:
    url = f"http://127.0.0.1:{port}/v2/models/{MODEL_NAME}/infer"
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    output = subprocess.run(pinned(command, cpus), check=True, capture_output=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("BENCH_RESULT"))
    return tuple(int(v) for v in line.split()[1:])


def measure_all(args: argparse.Namespace, model_dir: Path, workdir: Path) -> dict[str, Result]:
    """Start every server, then interleave wrk runs round by round (load from other processes on the
    machine then hits all servers alike); report each server's median round."""
    starters = {
        "ferryman": start_ferryman,
        "bare-asgi": start_bare,
        "mlserver": start_mlserver,
        "mlserver-tuned": start_mlserver_tuned,
        "ferryman-merged": start_ferryman_merged,
        "mlserver-batched": start_mlserver_batched,
    }
    names = args.servers.split(",")
    ports = {name: free_port() for name in names}
    processes = {}
    script = workdir / "request.lua"
    try:
        for name in names:
            processes[name] = starters[name](model_dir, ports[name], args.server_cpus, workdir)
        for name in names:
            wait_ready(ports[name], processes[name])
            run_wrk(ports[name], script, 3, args.connections, args.wrk_cpus)  # warm-up
        rounds: dict[str, list[Result]] = {name: [] for name in names}
        for round_number in range(1, args.rounds + 1):
            for name in names:
                print(f"round {round_number}/{args.rounds}: {name} for {args.duration} s", flush=True)
                cpu_before = group_cpu_seconds(processes[name].pid)
                requests, duration_us, errors, p50_us, p99_us = run_wrk(
                    ports[name], script, args.duration, args.connections, args.wrk_cpus
                )
                cpu_us = (group_cpu_seconds(processes[name].pid) - cpu_before) / max(requests, 1) * 1e6
                result = Result(
                    name, requests / (duration_us / 1e6), p50_us / 1000, p99_us / 1000, errors, cpu_us
                )
                print(
                    f"  {result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                    f"p99 {result.p99_ms:.2f} ms, errors {result.errors}, {cpu_us:.0f} server CPU us/request",
                    flush=True,
                )
                rounds[name].append(result)
    finally:
        for process in processes.values():
            stop(process)
    return {name: _median(results) for name, results in rounds.items()}


def _median(results: list[Result]) -> Result:
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def print_table(results: dict[str, Result]) -> None:
    # Ratios against the fastest MLServer set-up measured, so that they are not flattered.
    setups = [results[name] for name in ("mlserver", "mlserver-tuned", "mlserver-batched") if name in results]
    mlserver = max(setups, key=lambda r: r.requests_per_second, default=None)
    bare = results.get("bare-asgi")
    columns = ("server", "req/s", "p50 ms", "p99 ms", "errors", "vs MLServer", "vs bare", "CPU us/req")
    print("\n{:<16} {:>9} {:>8} {:>8} {:>7} {:>12} {:>8} {:>11}".format(*columns))
    for r in results.values():
        vs_ml = f"{r.requests_per_second / mlserver.requests_per_second:.2f}x" if mlserver else "-"
        vs_bare = f"{r.requests_per_second / bare.requests_per_second:.0%}" if bare else "-"
        print(
            f"{r.name:<16} {r.requests_per_second:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.errors:>7} {vs_ml:>12} {vs_bare:>8} {r.cpu_us_per_request:>11.0f}"
        )


def request_body() -> str:
    values = [round(0.1 * i - 1.0, 3) for i in range(20)]
    inputs = [{"name": "features", "shape": [1, 20], "datatype": "FP32", "data": values}]
    return json.dumps({"inputs": inputs})


def bench(args: argparse.Namespace) -> None:
    from ferryman_testing.models import make_gradient_boosting_model

    if shutil.which("wrk") is None:
        sys.exit("wrk not found: run scripts/install-bench-tools (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="ferryman-bench-"))
    model_dir = make_gradient_boosting_model(workdir / "model").directory
    (workdir / "request.lua").write_text(WRK_SCRIPT % request_body())
    results = measure_all(args, model_dir, workdir)
    print(f"\nmedian of {args.rounds} interleaved rounds, wrk -t2 -c{args.connections} -d{args.duration}s")
    print_table(results)
    shutil.rmtree(workdir, ignore_errors=True)


def serve_bare(model_path: str, port: int) -> None:
    """A bare ASGI endpoint: parse JSON, session.run, dump JSON. The floor any server is compared with."""
    import numpy as np
    import orjson
    import uvicorn

    from ferryman_serving.model import OnnxModel

    model = OnnxModel(Path(model_path))
    session, input_name, output_names = model.session, model.inputs[0].name, model.output_names

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        if scope["method"] == "POST":
            message = await receive()
            body = message.get("body", b"")
            request = orjson.loads(body)["inputs"][0]
            features = np.asarray(request["data"], dtype=np.float32).reshape(request["shape"])
            (result,) = session.run(output_names, {input_name: features})
            out = {
                "name": output_names[0],
                "datatype": "FP32",
                "shape": list(result.shape),
                "data": result.ravel(),
            }
            body = orjson.dumps(
                {"model_name": MODEL_NAME, "outputs": [out]}, option=orjson.OPT_SERIALIZE_NUMPY
            )
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", access_log=False,
        log_level="warning", lifespan="off",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=int, default=15, help="seconds of load per server (>= 15 for figures)"
    )
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument(
        "--servers",
        default="ferryman,ferryman-merged,bare-asgi,mlserver,mlserver-tuned,mlserver-batched",
        help="comma-separated subset",
    )
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, wrk on CPU 1 (same for all)")
    parser.add_argument("--serve-bare", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.port)
        return
    args.server_cpus, args.wrk_cpus = ("0", "1") if args.pin else (None, None)
    bench(args)


if __name__ == "__main__":
    main()
