"""The served model's lifecycle: loading (fetch, session, profile, warm-up), ready, failed, draining."""

from __future__ import annotations

import enum
import gc
import logging
import threading
import time
from dataclasses import dataclass

from ferryman_serving.metrics import ReferenceExport, ServingMetrics
from ferryman_serving.model import OnnxModel
from ferryman_serving.profile import ReferenceProfile, load_profile
from ferryman_serving.settings import Settings
from ferryman_serving.sources import fetch_model, redact, verify_sha256

log = logging.getLogger("ferryman_serving.repository")


class ModelState(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class DriftTaps:
    """Where the data plane reads features and predictions for the drift histograms.

    `feature_count` is the profile's number of features: a model whose input width is dynamic (-1) also
    takes rows of other widths, which the histograms cannot place (they are skipped, not an error).
    """

    feature_input: str | None
    prediction_output: str | None
    prediction_column: int | None
    feature_count: int = 0


class ModelRepository:
    """Holds the one model this process serves, from loading to shutdown."""

    def __init__(self, settings: Settings, metrics: ServingMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.name = settings.model_name
        self.version = settings.model_version
        self.state = ModelState.LOADING
        self.failure = ""  # the last load error, for the log only: it may name hosts, paths and codes
        self.attempts = 0
        self.draining = False
        self._stopping = threading.Event()
        self.model: OnnxModel | None = None
        # The model once READY, else None: one attribute read on the hot path (enum compares are slow).
        self.serving: OnnxModel | None = None
        self.taps = DriftTaps(None, None, None)

    @property
    def ready(self) -> bool:
        return self.serving is not None and not self.draining

    def status_for_clients(self) -> str:
        """Why the model is not serving, without the failure's detail (hosts, paths, status codes)."""
        if self.draining:
            return "the server is shutting down"
        if self.state is ModelState.FAILED:
            return f"loading failed (attempt {self.attempts}); retrying, the server log has the cause"
        if self.serving is None:
            return "still loading" if self.attempts <= 1 else f"loading (attempt {self.attempts})"
        return "ready"

    def stop_loading(self) -> None:
        """Shutdown: end the retry wait at once."""
        self._stopping.set()

    def load(self) -> None:
        """Fetch, open, profile and warm up the model, retrying with backoff until it works or the
        process stops: a registry or file server that comes back makes the pod ready without a restart.
        Never raises."""
        wait = self.settings.load_retry_initial_seconds
        while not self._stopping.is_set():
            if self._attempt():
                return
            log.info("retrying the model load", extra={"model": self.name, "in_seconds": wait})
            if self._stopping.wait(wait):
                return
            wait = min(wait * 2, self.settings.load_retry_max_seconds)

    def _attempt(self) -> bool:
        started = time.monotonic()
        uri = redact(self.settings.model_uri)
        self.attempts += 1
        log.info("loading model", extra={"model": self.name, "uri": uri, "attempt": self.attempts})
        try:
            self._load()
        except Exception as error:
            self.state, self.failure = ModelState.FAILED, f"{type(error).__name__}: {error}"
            log.error(
                "model failed to load; unready, retrying (check FERRYMAN_MODEL_URI and its source)",
                extra={"model": self.name, "uri": uri, "error": self.failure, "attempt": self.attempts},
            )
            return False
        # Everything allocated so far (runtime, libraries, the model) lives for the whole process:
        # moving it out of the collector's view keeps full collections from walking it under load.
        gc.freeze()
        self.metrics.model_ready = True
        self.state = ModelState.READY
        self.serving = self.model
        log.info(
            "model ready",
            extra={
                "model": self.name, "version": self.version, "uri": uri,
                "seconds": round(time.monotonic() - started, 3), "attempt": self.attempts,
            },
        )  # fmt: skip
        return True

    def _load(self) -> None:
        local = fetch_model(self.settings)
        if self.settings.model_sha256:
            verify_sha256(local.model_path, self.settings.model_sha256)
        if local.version and self.version and local.version != self.version:
            log.warning(
                "FERRYMAN_MODEL_VERSION differs from the registry version; reporting the configured one",
                extra={"configured": self.version, "registry": local.version},
            )
        self.version = self.version or local.version or "1"
        model = OnnxModel(local.model_path, self.settings.ort_intra_op_threads)
        profile = load_profile(local.profile_path) if local.profile_path else None
        self.taps = self._use_profile(model, profile)
        model.warm_up()
        self.model = model
        self.metrics.set_version(self.version)
        self.metrics.source_scheme = local.source_scheme

    def _use_profile(self, model: OnnxModel, profile: ReferenceProfile | None) -> DriftTaps:
        if profile is None:
            log.warning("no profile.json beside the model: feature and prediction histograms are off")
            return DriftTaps(None, None, None)
        feature_input = profile.input or model.inputs[0].name
        spec = model.inputs_by_name.get(feature_input)
        width = len(profile.features)
        usable = spec is not None and len(spec.shape) == 2 and spec.shape[1] in (-1, width)
        if not usable:
            log.warning(
                "profile features do not match a [batch, features] model input: feature histograms are off",
                extra={"input": feature_input, "profile_features": width},
            )
        prediction = profile.prediction
        output = (prediction.output if prediction else None) or model.outputs[0].name
        if prediction is not None and output not in model.outputs_by_name:
            log.warning("profile prediction output is not a model output", extra={"output": output})
            prediction = None
        self.metrics.use_profile_edges(
            [f.name for f in profile.features],
            [f.edges for f in profile.features] if usable else None,
            prediction.edges if prediction else None,
        )
        self.metrics.use_reference(
            ReferenceExport(
                samples=profile.n_samples,
                features={f.name: (f.edges, f.proportions) for f in profile.features} if usable else {},
                prediction=(prediction.edges, prediction.proportions) if prediction else None,
            )
        )
        return DriftTaps(
            feature_input if usable else None,
            output if prediction else None,
            prediction.column if prediction else None,
            width,
        )
