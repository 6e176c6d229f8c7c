"""Turn validation errors into one message that names the field and says what to do."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(error: Exception) -> str:
    """`spec.serving.replicas: Input should be greater than or equal to 0` style, one line per problem."""
    if not isinstance(error, ValidationError):
        return str(error)
    problems = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"])
        problems.append(f"{field}: {item['msg']}")
    return "; ".join(problems)
