"""One settings object per serving process, read from `FERRYMAN_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the serving process can be told; each field is `FERRYMAN_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="FERRYMAN_", extra="ignore", frozen=True)

    model_uri: str = Field(
        default="",
        description="Where the model lives: file://, https://, http://, s3://, models:/name/version or "
        "models:/name@alias. A directory (or the model file's directory) may also hold profile.json.",
    )
    model_name: str = Field(default="model", description="Name under which the model is served.")
    model_version: str = Field(
        default="",
        description="Version reported in metadata and metrics; empty means: the registry's version for "
        "models:/ URIs, otherwise '1'.",
    )
    host: str = Field(default="127.0.0.1", description="Address to bind; the operator passes the pod IP.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port for the API and /metrics.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="Larger bodies get 413.")
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest size of one request's headers beyond the network read they began in; larger "
        "gets 431 and the connection is closed.",
    )
    max_tensor_elements: int = Field(
        default=4 * 1024 * 1024,
        ge=1,
        description="Most elements one input tensor may hold, and the largest size of any one dimension; "
        "more is a 400 before anything is allocated.",
    )
    max_string_elements: int = Field(
        default=65536,
        ge=1,
        description="Most elements one BYTES (string) input may hold: each costs a Python object (about "
        "60 bytes), so this bounds decoding memory and time.",
    )
    max_response_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest total size of the output tensors of one request; larger is a 400.",
    )
    inference_threads: int = Field(
        default=1,
        ge=1,
        description="Worker threads that decode, run and encode infer requests and parse feedback; the event "
        "loop only moves bytes, so probes and /metrics answer while a model computes.",
    )
    merge_max_rows: int = Field(
        default=0,
        ge=0,
        description="Merge the rows of infer requests that arrive together into one session.run, up to this "
        "many rows (0: off). Only for models that compute each row from that row alone.",
    )
    max_inflight_requests: int = Field(
        default=64,
        ge=1,
        description="Infer and feedback requests admitted at once (queued and running); more get 503 with "
        "Retry-After.",
    )
    request_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Time limit of one infer or feedback request from its arrival; past it the request gets "
        "504, a queued one is not run and a running one is told to stop. A body not all in by then: 408.",
    )
    mlflow_tracking_uri: str = Field(default="", description="MLflow server for models:/ URIs.")
    mlflow_tracking_token: SecretStr | None = Field(default=None, description="Bearer token for MLflow.")
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint for s3:// URIs (path-style), e.g. a MinIO service."
    )
    s3_access_key_id: str = Field(default="", description="S3 access key; empty means anonymous requests.")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="S3 secret key.")
    s3_region: str = Field(default="us-east-1", description="Region used in S3 request signatures.")
    download_dir: str = Field(default="/tmp/ferryman-models", description="Where remote models are saved.")
    download_timeout_seconds: float = Field(default=60.0, gt=0, description="Timeout per download request.")
    max_model_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        ge=1,
        description="Largest model file a download may bring (ONNX protobuf files stop at 2 GiB).",
    )
    batch_max_download_bytes: int = Field(
        default=8 * 1024 * 1024 * 1024,
        ge=1,
        description="Largest https:// batch input file a shard downloads (each shard copies it to its /tmp).",
    )
    model_sha256: str = Field(
        default="",
        pattern=r"^([0-9a-fA-F]{64})?$",
        description="Expected SHA-256 (hex) of the model file; when set, any other content fails the load.",
    )
    load_retry_initial_seconds: float = Field(
        default=1.0, gt=0, description="Wait after the first failed load attempt; doubles per attempt."
    )
    load_retry_max_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait between load attempts (they go on until one works)."
    )
    ort_intra_op_threads: int = Field(
        default=1,
        ge=0,
        description="ONNX Runtime intra-op threads (0 = runtime default). One thread suits small models: "
        "the event loop and the runtime do not fight over the pod's cores.",
    )
    drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After SIGTERM: answer unready but keep serving this long, so that load balancers "
        "stop sending traffic before the listener closes.",
    )
    graceful_timeout_seconds: float = Field(
        default=30.0, ge=0, description="After draining: how long in-flight requests may take to finish."
    )
    keep_alive_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long an idle client connection stays open. Longer than the proxies' in front "
        "(Traefik keeps idle backend connections 90 s): a server that closes first races the proxy's "
        "next request on that connection, which then fails as a 502.",
    )
    stalled_client_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection is closed when a request's headers have not all arrived this long after "
        "its first byte (with a 408), or when its write buffer stays full this long (the client does not "
        "read its answer); either would otherwise hold the connection, and the answer's memory, forever.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Python log level name (any case)."
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        # `verbose` passed and then crashed configure_logging, past the clean "invalid settings" exit.
        return value.upper() if isinstance(value, str) else value

    feedback_max_predictions: int = Field(
        default=10000,
        ge=0,
        description='Most infer requests (those with an "id") whose predictions are kept for delayed labels '
        "(POST .../feedback); the oldest goes first. About 250 bytes each for a one-row request, 32 more "
        "per row. 0: off.",
    )
    feedback_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="Most rows of predictions kept in all, across those requests (about 40 bytes a row: "
        "40 MB at the default); the oldest requests go first, and a request with more rows is not kept.",
    )
    feedback_max_age_seconds: float = Field(
        default=3600.0, gt=0, description="A label for a prediction older than this is answered `expired`."
    )
    feedback_output: str = Field(
        default="",
        description="Output compared with the labels (one value per row); empty: the first output.",
    )
    feedback_task: Literal["auto", "classification", "regression"] = Field(
        default="auto",
        description="classification: accuracy counters; regression: an absolute-error histogram. auto: "
        "classification for integer, boolean and string outputs, regression for floating point.",
    )


def settings_problems(error: ValidationError) -> list[str]:
    """One line per refused setting: its variable, why, and what it is for; never its value (a value may
    hold a credential), and the variable's name rather than the field's, since that is what was set."""
    prefix = Settings.model_config.get("env_prefix") or ""
    problems = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        known = Settings.model_fields.get(field)
        purpose = f" [{known.description}]" if known is not None and known.description else ""
        problems.append(f"{prefix}{field.upper()}: {problem['msg']}{purpose}")
    return problems
