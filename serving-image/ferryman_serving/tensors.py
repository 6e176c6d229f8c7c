"""Inference requests and responses as the data plane sees them: names, datatypes and numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(slots=True)
class InputTensor:
    """One decoded request input; `array` already has the request's shape and datatype."""

    name: str
    datatype: str
    array: np.ndarray


@dataclass(slots=True)
class RequestedOutput:
    """An output the client asked for; `binary` selects the binary tensor data extension."""

    name: str
    binary: bool


@dataclass(slots=True)
class InferenceRequest:
    """A decoded infer request. `outputs` None means: all outputs, in `binary_default` form."""

    inputs: list[InputTensor]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[RequestedOutput] | None = None
    binary_default: bool = False


@dataclass(slots=True)
class OutputTensor:
    """One response output."""

    name: str
    datatype: str
    array: np.ndarray
    binary: bool = False


@dataclass(slots=True)
class InferenceResponse:
    """What the data plane returns for an infer request."""

    model_name: str
    model_version: str
    outputs: list[OutputTensor] = field(default_factory=list)
    id: str | None = None
