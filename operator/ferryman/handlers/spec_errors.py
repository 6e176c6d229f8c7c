"""Turn validation errors into one message that names the field and says what to do."""

from __future__ import annotations

from pydantic import ValidationError

from ferryman.k8s import ClusterRefused


def describe_validation_error(error: Exception) -> str:
    """`spec.serving.replicas: Input should be greater than or equal to 0` style, one line per problem."""
    if not isinstance(error, ValidationError):
        return str(error)
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")  # pydantic's prefix on our own rules' messages
        problems.append(f"{field}: {message}" if field else message)  # a root rule names its field itself
    return "; ".join(problems)


# Where a field of the serving container comes from in the ModelDeployment spec.
_CONTAINER_FIELDS = {
    "resources": "spec.serving.resources",
    "env": "spec.serving.env",
    "image": "spec.serving.image",
    "ports": "spec.serving.port",
}


def describe_rejected_manifest(error: Exception) -> str:
    """The API server refused an object we built from the spec: say which spec field to fix."""
    text = str(error)
    if isinstance(error, ClusterRefused):
        return text  # names the object and the fix already; no spec field is wrong
    field = next(
        (spec for key, spec in _CONTAINER_FIELDS.items() if f"containers[0].{key}" in text), "spec.serving"
    )
    return f"{field}: the API server refused the serving objects built from it: {text}"
