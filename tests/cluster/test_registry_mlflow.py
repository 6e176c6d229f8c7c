"""The registry layer against a real `mlflow server`: aliases, version tags, errors and webhooks.

No Kubernetes here (this tier's `cluster` fixture is not used): MLflow's registry REST API and its
webhook deliveries are what is tested, with MLflow's own client as the witness.
"""

from __future__ import annotations

import base64
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ferryman.registry.cache import AliasCache
from ferryman.registry.mlflow import AliasNotFound, MlflowRegistry, RegistryError
from ferryman_testing.mlflow_server import MlflowServer
from ferryman_testing.registry_webhook import WebhookReceiver, alias_event, signed_headers

pytestmark = pytest.mark.cluster

MODEL = "fraud-detector"
SECRET = "registry-webhook-secret"
# What the MLflow server needs to deliver webhooks to the receiver on loopback (MLflow 3.17):
WEBHOOK_SERVER_ENV = {
    # Plain http and private addresses are refused by default (SSRF protection), when the webhook is
    # created and again when each delivery connects.
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    # MLflow caches each event's webhook list for 60 s: without this, a webhook created after an alias
    # event of the same kind stays silent for up to a minute.
    "MLFLOW_WEBHOOK_CACHE_TTL": "0",
    # Webhook secrets are stored encrypted; without a key each server process makes up its own, which
    # works with one worker only and not across restarts.
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
}


def mlflow_client(url: str) -> Any:
    # mlflow's import emits warnings from its own dependencies; the suite turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=url, registry_uri=url)


def add_versions(client: Any, model: str, count: int) -> None:
    """Versions 1..count of `model`; a registry entry needs no artifacts, only a non-local source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client.create_registered_model(model)
        for number in range(1, count + 1):
            tags = {"trained-on": f"2027-01-0{number}", "empty": ""}
            client.create_model_version(model, f"s3://ferryman-tests/{model}/{number}", tags=tags)


def create_webhook(client: Any, url: str) -> Any:
    """An MLflow webhook to `url` for alias events, signed with SECRET."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = ["model_version_alias.created", "model_version_alias.deleted"]
        return client.create_webhook(name="ferryman", url=url, events=events, secret=SECRET)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


@pytest.fixture(scope="module")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver) -> Iterator[str]:
    """An MLflow server with three versions of MODEL and a webhook to `receiver` for alias events."""
    with MlflowServer(tmp_path_factory.mktemp("mlflow"), env=WEBHOOK_SERVER_ENV) as server:
        client = mlflow_client(server.url)
        add_versions(client, MODEL, 3)
        create_webhook(client, receiver.url)
        yield server.url


@pytest.fixture
def client(mlflow_url: str) -> Any:
    return mlflow_client(mlflow_url)


@pytest.fixture
def registry(mlflow_url: str) -> Iterator[MlflowRegistry]:
    registry = MlflowRegistry(mlflow_url, token=None, timeout_seconds=5)
    yield registry
    registry.close()


def test_alias_target_names_the_version_and_its_tags(client: Any, registry: MlflowRegistry) -> None:
    """One GET: the version the alias names and that version's tags, as MLflow stores them."""
    client.set_registered_model_alias(MODEL, "production", "2")
    target = registry.alias_target(MODEL, "production")
    assert (target.model, target.alias, target.version) == (MODEL, "production", "2")
    assert dict(target.tags) == {"trained-on": "2027-01-02", "empty": ""}
    assert registry.calls == 1


def test_set_alias_is_seen_by_mlflow(client: Any, registry: MlflowRegistry) -> None:
    """Moving an alias back (a rollback) is what MLflow's own client then reads."""
    client.set_registered_model_alias(MODEL, "champion", "3")
    registry.set_alias(MODEL, "champion", "1")
    assert client.get_model_version_by_alias(MODEL, "champion").version == "1"


def test_version_tags_are_set_and_deleted(client: Any, registry: MlflowRegistry) -> None:
    """The rejection tag on a version is visible in MLflow, and deleting it (twice) leaves it gone."""
    registry.set_version_tag(MODEL, "3", "ferryman.dev/rejected", "canary error rate 4.1% (limit 1%)")
    assert client.get_model_version(MODEL, "3").tags["ferryman.dev/rejected"].startswith("canary error")
    registry.delete_version_tag(MODEL, "3", "ferryman.dev/rejected")
    registry.delete_version_tag(MODEL, "3", "ferryman.dev/rejected")
    assert "ferryman.dev/rejected" not in client.get_model_version(MODEL, "3").tags
    assert registry.calls == 3


@pytest.mark.parametrize(("model", "alias"), [(MODEL, "no-such-alias"), ("no-such-model", "production")])
def test_a_missing_alias_says_to_set_it(registry: MlflowRegistry, model: str, alias: str) -> None:
    """MLflow answers 400 for an unknown alias and 404 for an unknown model: both are AliasNotFound."""
    with pytest.raises(AliasNotFound) as missing:
        registry.alias_target(model, alias)
    message = str(missing.value)
    assert f"{model!r} has no alias {alias!r}" in message
    assert "set the alias in MLflow" in message


def test_a_refusal_names_the_endpoint_and_the_answer(registry: MlflowRegistry) -> None:
    """A version that does not exist: RegistryError with the endpoint, the status and MLflow's message."""
    with pytest.raises(RegistryError) as refused:
        registry.set_version_tag(MODEL, "99", "key", "value")
    assert not isinstance(refused.value, AliasNotFound)
    assert refused.value.status == 404
    message = str(refused.value)
    assert "POST" in message and "/api/2.0/mlflow/model-versions/set-tag" in message
    assert "HTTP 404: RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud-detector, version=99)" in message


def test_a_stopped_server_is_a_registry_error_without_credentials(tmp_path: Path) -> None:
    """Connection refused becomes RegistryError naming the endpoint, its URL without userinfo or token."""
    with MlflowServer(tmp_path) as server:
        add_versions(mlflow_client(server.url), "stopped", 1)
        url = server.url.replace("http://", "http://ferryman:url-password@")
        registry = MlflowRegistry(url, token=SecretStr("the-bearer-token"), timeout_seconds=5)
        registry.set_alias("stopped", "production", "1")
    try:
        with pytest.raises(RegistryError) as down:
            registry.alias_target("stopped", "production")
    finally:
        registry.close()
    message = str(down.value)
    assert "GET http://REDACTED@127.0.0.1" in message and "/registered-models/alias failed" in message
    assert "ConnectError" in message
    assert "url-password" not in message and "the-bearer-token" not in message
    assert down.value.status is None
    assert registry.calls == 2


def test_setting_and_deleting_an_alias_in_mlflow_calls_on_alias_moved(
    client: Any, receiver: WebhookReceiver
) -> None:
    """MLflow's real deliveries (signed, to loopback) reach the callback with the model and alias."""
    client.set_registered_model_alias(MODEL, "webhook", "1")
    receiver.wait_for_moves(MODEL, "webhook", 1)
    client.delete_registered_model_alias(MODEL, "webhook")
    receiver.wait_for_moves(MODEL, "webhook", 2)


def test_the_cache_sees_a_move_through_the_webhook_within_seconds(
    tmp_path: Path, mlflow_url: str, client: Any
) -> None:
    """Wired as in the operator (on_alias_moved=cache.invalidate), with a poll period of an hour: the
    webhook alone makes the next lookup return the new version."""
    client.set_registered_model_alias(MODEL, "tracked", "1")
    registry = MlflowRegistry(mlflow_url, token=None, timeout_seconds=5)
    cache = AliasCache(registry, poll_seconds=3600)
    with WebhookReceiver(SECRET, on_alias_moved=cache.invalidate) as wired:
        webhook = create_webhook(client, wired.url)
        try:
            assert cache.lookup(MODEL, "tracked").version == "1"
            client.set_registered_model_alias(MODEL, "tracked", "3")
            wired.wait_for_moves(MODEL, "tracked", 1)
            assert cache.lookup(MODEL, "tracked").version == "3"
            assert registry.calls == 2
        finally:
            client.delete_webhook(webhook.webhook_id)
            registry.close()


def test_a_delivery_with_a_wrong_signature_is_refused(receiver: WebhookReceiver) -> None:
    """401 with the reason, and the callback is not called."""
    body = alias_event(MODEL, "forged", "3")
    answer = httpx.post(receiver.url, content=body, headers=signed_headers("not-the-secret", body))
    assert answer.status_code == 401
    assert answer.json() == {
        "ok": False,
        "reason": "X-MLflow-Signature does not match the body and the webhook secret",
    }
    assert (MODEL, "forged") not in receiver.moved
