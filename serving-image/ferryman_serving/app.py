"""`create_app(settings)`: the ASGI application of one serving process."""

from __future__ import annotations

import asyncio
import logging

import orjson

from ferryman_serving.codec import TensorLimits
from ferryman_serving.dataplane import DataPlane
from ferryman_serving.feedback import PredictionStore
from ferryman_serving.merging import RowMerger
from ferryman_serving.metrics import ServingMetrics
from ferryman_serving.openapi import openapi_document
from ferryman_serving.repository import ModelRepository
from ferryman_serving.rest import Receive, RequestLimits, RestApi, Scope, Send
from ferryman_serving.settings import Settings
from ferryman_serving.workers import InferenceWorkers, run_each

log = logging.getLogger("ferryman_serving.app")


class ServingApp:
    """ASGI entry point: HTTP goes to the REST API; lifespan startup loads the model in the background."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = ServingMetrics(settings.model_name)
        self.repository = ModelRepository(settings, self.metrics)
        self.dataplane = DataPlane(
            self.repository,
            TensorLimits(settings.max_tensor_elements, settings.max_string_elements),
            settings.max_response_bytes,
            PredictionStore(
                settings.feedback_max_predictions,
                settings.feedback_max_age_seconds,
                settings.feedback_max_rows,
            ),
            settings.feedback_output,
            settings.feedback_task,
        )
        run_batch = (
            RowMerger(self.dataplane, settings.merge_max_rows) if settings.merge_max_rows else run_each
        )
        self.workers = InferenceWorkers(settings.inference_threads, run_batch)
        limits = RequestLimits(
            settings.max_body_bytes, settings.max_inflight_requests, settings.request_timeout_seconds
        )
        self.rest = RestApi(
            self.dataplane, self.metrics, self.workers, limits, orjson.dumps(openapi_document())
        )
        self._loading: asyncio.Future[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.rest(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load in a worker thread after the socket is bound: liveness answers while a large
                # model downloads, and readiness stays 503 until the warm-up inference has run.
                loop = asyncio.get_running_loop()
                self._loading = loop.run_in_executor(None, self.repository.load)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # A load still retrying must not keep the process (and its executor) alive.
                self.repository.stop_loading()
                self.workers.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def begin_drain(self) -> None:
        """Report unready from now on; requests keep being served until the listener closes."""
        self.repository.draining = True
        self.repository.stop_loading()
        self.metrics.model_ready = False


def create_app(settings: Settings | None = None) -> ServingApp:
    """The application for settings (default: read from FERRYMAN_* environment variables)."""
    return ServingApp(settings or Settings())
