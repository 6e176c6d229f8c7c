"""The base every API model shares: camelCase JSON, snake_case Python, CEL rules declared once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from ferryman.api.vocabulary import format_timestamp

GROUP = "ferryman.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Upper bounds for lists and strings. The API server estimates the worst-case cost of every CEL rule
# from these bounds and refuses a CRD whose rules could exceed its budget, so every list gets one.
MAX_NAME = 253
# A Service name (RFC 1035 label; its length is checked where it is declared).
SERVICE_NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# An object name (RFC 1123 subdomain). A reference that is joined into an API path must match it, or
# "../other/..." in it would address an object in another namespace.
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# A namespace name (RFC 1123 label, at most MAX_NAMESPACE characters).
NAMESPACE_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_NAMESPACE = 63
MAX_TEXT = 1024
MAX_URI = 2048
MAX_QUERY = 4096
MAX_LIST = 32


@dataclass(frozen=True)
class CelRule:
    """One cross-field rule: enforced by the API server (CEL) and by the pydantic validator that cites it.

    Guard defaulted fields with has(): the API server also checks rules against schema defaults such as
    ``traffic: {}``, before nested defaults are filled in.
    """

    rule: str
    message: str

    def as_schema(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}


def cel_rules(*rules: CelRule) -> dict[str, Any]:
    """The json_schema_extra that attaches ``rules`` as x-kubernetes-validations to a model's schema."""
    return {"x-kubernetes-validations": [rule.as_schema() for rule in rules]}


class ApiModel(BaseModel):
    """Python names in snake_case, JSON names in camelCase; unknown keys are ignored.

    Ignoring unknown keys mirrors the API server, which prunes fields the schema does not declare; it
    also lets ``model_validate`` take a whole Kopf body (metadata.managedFields and all).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# metav1.Time is second-precision RFC 3339 in UTC; writing the same form keeps status patches stable.
Timestamp = Annotated[AwareDatetime, PlainSerializer(format_timestamp, return_type=str)]
"""A timezone-aware datetime in Python, an RFC 3339 string (``2026-01-02T03:04:05Z``) in JSON."""


def _quantity_to_text(value: object) -> object:
    # Users write `cpu: 1` as often as `cpu: "1"`; both mean the same Kubernetes quantity.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


# Kubernetes' quantity syntax (apimachinery resource.Quantity: a decimal number and one suffix, binary
# Ki..Ei, decimal n..E or an exponent), without the minus sign: the quantities here are requests and
# limits, which the API server refuses below zero. Checked here so that a typo (`1.5.5`, `1Gii`) is refused
# at the CRD instead of surfacing later as an API error on the Deployment built from it.
_DECIMAL = r"(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
QUANTITY_PATTERN = rf"^\+?{_DECIMAL}(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?{_DECIMAL}))?$"

_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_SUFFIX_FACTORS = {
    **{suffix: Decimal(1024) ** power for power, suffix in enumerate(_BINARY_SUFFIXES)},
    **{suffix: Decimal(10) ** power for suffix, power in
       (("n", -9), ("u", -6), ("m", -3), ("k", 3), ("M", 6), ("G", 9), ("T", 12), ("P", 15), ("E", 18))},
}  # fmt: skip


def quantity_value(text: str) -> Decimal:
    """The amount a quantity that matches QUANTITY_PATTERN stands for (``2Gi`` is 2147483648)."""
    number = re.match(rf"^\+?{_DECIMAL}", text)
    assert number is not None, text  # the pattern was checked first
    suffix = text[number.end() :]
    if suffix[:1] in ("e", "E") and suffix != "E":
        return Decimal(text.lstrip("+"))
    return Decimal(number.group(0).lstrip("+") or "0") * _SUFFIX_FACTORS[suffix]


Quantity = Annotated[
    str,
    BeforeValidator(_quantity_to_text),
    StringConstraints(pattern=QUANTITY_PATTERN, max_length=64),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN, "maxLength": 64}),
]
"""A Kubernetes resource quantity such as ``500m``, ``2Gi`` or ``1``."""
