"""The MLflow registry REST API (2.0): where an alias points, moving it back, tagging versions.

One httpx.Client per process (a reused connection pool, thread-safe), so Kopf's handler threads share
it. Every failure becomes a RegistryError whose message says which endpoint answered what; URLs in it are
redacted and the token never appears in it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import httpx
from pydantic import SecretStr

from ferryman.api import redact_urls_in_text
from ferryman.api.redaction import REDACTED

API_PREFIX = "/api/2.0/mlflow"
ALIAS_ENDPOINT = f"{API_PREFIX}/registered-models/alias"
SET_TAG_ENDPOINT = f"{API_PREFIX}/model-versions/set-tag"
DELETE_TAG_ENDPOINT = f"{API_PREFIX}/model-versions/delete-tag"
EXPERIMENT_BY_NAME_ENDPOINT = f"{API_PREFIX}/experiments/get-by-name"
RUNS_SEARCH_ENDPOINT = f"{API_PREFIX}/runs/search"
MODEL_VERSION_ENDPOINT = f"{API_PREFIX}/model-versions/get"
# Enough of an error body to say what went wrong, short enough for a status message or an Event.
BODY_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class AliasTarget:
    """The version an alias names, with that version's tags as MLflow returns them."""

    model: str
    alias: str
    version: str
    tags: Mapping[str, str]


class RegistryError(RuntimeError):
    """The registry could not be asked or refused; the message names the endpoint and the answer.

    `status` is the HTTP status when the registry answered (None for a transport error or timeout), so
    that callers can tell a refusal (4xx: retrying will not help) from an outage.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AliasNotFound(RegistryError):
    """The registered model has no such alias (or no such model)."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One tracked run: its id, the latest value of each metric, its tags."""

    run_id: str
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    """One registered model version: the run that produced it and its tags."""

    model: str
    version: str
    run_id: str
    tags: Mapping[str, str]


class MlflowRegistry:
    """The registry calls the operator makes, over one connection pool; `calls` counts the requests."""

    def __init__(self, base_url: str, token: SecretStr | None, timeout_seconds: float) -> None:
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
        self._client = httpx.Client(base_url=base_url, timeout=timeout_seconds, headers=headers)
        self._base_url = base_url.rstrip("/")
        # Kept only to scrub it from messages, in case a proxy or server echoes the request headers.
        self._token = token.get_secret_value() if token is not None else ""
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        """HTTP requests sent so far (failed ones included)."""
        return self._calls

    def close(self) -> None:
        self._client.close()

    def alias_target(self, model: str, alias: str) -> AliasTarget:
        """The version `model@alias` names now; AliasNotFound when there is no such alias."""
        try:
            answer = self._call("GET", ALIAS_ENDPOINT, params={"name": model, "alias": alias})
        except RegistryError as error:
            if _means_not_found(error):
                raise AliasNotFound(
                    f"registered model {model!r} has no alias {alias!r} in MLflow; set the alias in MLflow "
                    f"(MlflowClient().set_registered_model_alias({model!r}, {alias!r}, <version>)). {error}",
                    status=error.status,
                ) from error
            raise
        return _alias_target(model, alias, answer, self._describe("GET", ALIAS_ENDPOINT))

    def find_run(self, experiment: str, tag: str, value: str) -> RunRecord | None:
        """The newest run of `experiment` whose tag `tag` is `value`; None when there is none (or no such
        experiment: a trainer that never logged creates none)."""
        try:
            found = self._call("GET", EXPERIMENT_BY_NAME_ENDPOINT, params={"experiment_name": experiment})
        except RegistryError as error:
            if error.status == 404:
                return None
            raise
        experiment_id = str((found.get("experiment") or {}).get("experiment_id", ""))
        quoted = value.replace("'", "\\'")
        body = {
            "experiment_ids": [experiment_id],
            "filter": f"tags.`{tag}` = '{quoted}'",
            "order_by": ["attributes.start_time DESC"],
            "max_results": 1,
        }
        runs = self._call("POST", RUNS_SEARCH_ENDPOINT, body=body).get("runs") or []
        if not runs:
            return None
        return _run_record(runs[0], self._describe("POST", RUNS_SEARCH_ENDPOINT))

    def model_version(self, model: str, version: str) -> ModelVersionRecord:
        """A registered version; RegistryError (status 404) when there is no such version."""
        answer = self._call("GET", MODEL_VERSION_ENDPOINT, params={"name": model, "version": version})
        found = answer.get("model_version")
        if not isinstance(found, dict):
            raise RegistryError(
                redact_urls_in_text(f"{self._describe('GET', MODEL_VERSION_ENDPOINT)}: no model_version")
            )
        tags = _key_values(found.get("tags"), self._describe("GET", MODEL_VERSION_ENDPOINT))
        return ModelVersionRecord(
            model=model, version=version, run_id=str(found.get("run_id", "")), tags=MappingProxyType(tags)
        )

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self._call("POST", ALIAS_ENDPOINT, body={"name": model, "alias": alias, "version": version})

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        body = {"name": model, "version": version, "key": key, "value": value}
        self._call("POST", SET_TAG_ENDPOINT, body=body)

    def delete_version_tag(self, model: str, version: str, key: str) -> None:
        # MLflow 3.x serves this as DELETE with a JSON body (POST answers 405); deleting an absent tag is
        # a success, so a retried cleanup is harmless.
        self._call("DELETE", DELETE_TAG_ENDPOINT, body={"name": model, "version": version, "key": key})

    def _call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its JSON object; anything else raises RegistryError."""
        with self._calls_lock:
            self._calls += 1
        try:
            response = self._client.request(method, endpoint, params=params, json=body)
        except httpx.HTTPError as error:
            raise self._error(method, endpoint, f"{type(error).__name__}: {error}") from error
        if not response.is_success:
            status = response.status_code
            raise self._error(method, endpoint, f"HTTP {status}: {_excerpt(response)}", status)
        try:
            answer = response.json()
        except ValueError as error:
            raise self._error(method, endpoint, f"answer is not JSON: {_excerpt(response)}") from error
        if not isinstance(answer, dict):
            raise self._error(method, endpoint, f"answer is not a JSON object: {_excerpt(response)}")
        return answer

    def _describe(self, method: str, endpoint: str) -> str:
        return f"MLflow registry {method} {self._base_url}{endpoint}"

    def _error(self, method: str, endpoint: str, what: str, status: int | None = None) -> RegistryError:
        message = redact_urls_in_text(f"{self._describe(method, endpoint)} failed: {what}")
        if self._token:
            message = message.replace(self._token, REDACTED)
        return RegistryError(message, status=status)


def _means_not_found(error: RegistryError) -> bool:
    # MLflow answers 404 RESOURCE_DOES_NOT_EXIST for an unknown model, but 400 INVALID_PARAMETER_VALUE
    # "Registered model alias X not found." for an unknown alias of a known model (MLflow 3.17, SQL
    # store); other 400s (an invalid alias name) are not "not found".
    return error.status == 404 or (error.status == 400 and "not found" in str(error).lower())


def _alias_target(model: str, alias: str, answer: dict[str, Any], source: str) -> AliasTarget:
    version = answer.get("model_version")
    number = version.get("version") if isinstance(version, dict) else None
    if not isinstance(version, dict) or not isinstance(number, str) or not number:
        raise RegistryError(redact_urls_in_text(f"{source}: answer has no model_version.version"))
    tags = _key_values(version.get("tags"), source)
    # Read-only: the cache hands this one object to every caller.
    return AliasTarget(model=model, alias=alias, version=number, tags=MappingProxyType(tags))


def _key_values(entries: Any, source: str) -> dict[str, str]:
    """MLflow's [{key, value}] lists (tags) as a dict."""
    values: dict[str, str] = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise RegistryError(redact_urls_in_text(f"{source}: malformed tag {entry!r}"))
        # Protobuf's JSON form may leave out a field that holds its default, here "".
        values[entry["key"]] = str(entry.get("value", ""))
    return values


def _run_record(run: Any, source: str) -> RunRecord:
    info = run.get("info") if isinstance(run, dict) else None
    run_id = info.get("run_id") if isinstance(info, dict) else None
    if not isinstance(run_id, str) or not run_id:
        raise RegistryError(redact_urls_in_text(f"{source}: run without info.run_id"))
    data = run.get("data") or {}
    metrics: dict[str, float] = {}
    for metric in data.get("metrics") or []:
        # runs/search returns each metric's latest value only.
        if isinstance(metric, dict) and isinstance(metric.get("key"), str):
            metrics[metric["key"]] = float(metric.get("value", 0.0))
    tags = _key_values(data.get("tags"), source)
    return RunRecord(run_id=run_id, metrics=MappingProxyType(metrics), tags=MappingProxyType(tags))


def _excerpt(response: httpx.Response) -> str:
    """MLflow's error code and message when the body is its JSON error, else the start of the body."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = f"{body.get('error_code', 'ERROR')}: {body['message']}"
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "…"
