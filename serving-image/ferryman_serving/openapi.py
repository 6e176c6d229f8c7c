"""The OpenAPI 3 description of the REST API, served at GET /v2/openapi.json."""

from __future__ import annotations

from typing import Any

from ferryman_serving import __version__

_DATATYPES = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Bad request: the message says what to fix",
        404: "Unknown model or version",
        405: "Wrong method",
        408: "The body did not all arrive within FERRYMAN_REQUEST_TIMEOUT_SECONDS (the connection is closed)",
        413: "Body larger than FERRYMAN_MAX_BODY_BYTES",
        503: "Model not ready (loading, retrying a failed load, or draining), or the server is at "
        "FERRYMAN_MAX_INFLIGHT_REQUESTS (then with a Retry-After header)",
        504: "The request took longer than FERRYMAN_REQUEST_TIMEOUT_SECONDS",
    }
    return {str(code): _json(_ERROR, reasons[code]) for code in codes}


_NAME = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Parameters": {"type": "object", "additionalProperties": True},
    "TensorMetadata": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": _DATATYPES},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "RequestInput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": _DATATYPES},
            "parameters": {"$ref": "#/components/schemas/Parameters"},
            "data": {"description": "Tensor elements, flat or nested, row-major.", "type": "array"},
        },
    },
    "RequestOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/Parameters"}},
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/Parameters"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/RequestInput"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/RequestOutput"}},
        },
    },
    "ResponseOutput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string", "enum": _DATATYPES},
            "parameters": {"$ref": "#/components/schemas/Parameters"},
            "data": {"type": "array"},
        },
    },
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/Parameters"},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/ResponseOutput"}},
        },
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
        },
    },
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
}


def _model_paths(prefix: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    infer_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}},
        },
    }
    infer_ok = _json({"$ref": "#/components/schemas/InferenceResponse"}, "Inference result")
    return {
        prefix: {
            "get": {
                "summary": "Model metadata",
                "parameters": parameters,
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/ModelMetadata"}, "Metadata"),
                    **_errors(404, 503),
                },
            }
        },
        f"{prefix}/ready": {
            "get": {
                "summary": "Model readiness",
                "parameters": parameters,
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/ModelReady"}, "Ready"),
                    **_errors(404),
                    "503": _json({"$ref": "#/components/schemas/ModelReady"}, "Not ready"),
                },
            }
        },
        f"{prefix}/infer": {
            "post": {
                "summary": "Inference (JSON tensors, or the binary tensor data extension)",
                "parameters": parameters,
                "requestBody": infer_body,
                "responses": {"200": infer_ok, **_errors(400, 404, 408, 413, 503, 504)},
            }
        },
        f"{prefix}/feedback": {
            "post": {
                "summary": "Delayed labels for earlier infer requests, by their id (docs/serving.md)",
                "parameters": parameters,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _FEEDBACK}}},
                "responses": {
                    "200": _json(_FEEDBACK_RESULTS, "One result per labelled id"),
                    **_errors(400, 404, 408, 413, 503, 504),
                },
            }
        },
    }


# id and label take any JSON value here: a wrong one is answered per item (result "invalid"), not with a 400.
_FEEDBACK_ITEM = {"type": "object", "required": ["id", "label"], "properties": {"id": {}, "label": {}}}
_FEEDBACK = {
    "anyOf": [
        {**_FEEDBACK_ITEM, "not": {"required": ["feedback"]}},
        {
            "type": "object",
            "required": ["feedback"],
            "properties": {
                "feedback": {"type": "array", "items": _FEEDBACK_ITEM, "minItems": 1, "maxItems": 1000}
            },
        },
    ]
}
_FEEDBACK_RESULTS = {
    "type": "object",
    "properties": {
        "model_name": {"type": "string"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "result"],
                "properties": {
                    # null when the id sent was not a string (it is not echoed back in another form)
                    "id": {"type": "string", "nullable": True},
                    "result": {"type": "string", "enum": ["recorded", "unknown", "expired", "invalid"]},
                    "model_version": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def _ready_schema(key: str) -> dict[str, Any]:
    # "reason" (when not ready) says loading, retrying with the attempt count, or shutting down.
    return {"type": "object", "properties": {key: {"type": "boolean"}, "reason": {"type": "string"}}}


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    paths: dict[str, Any] = {
        "/v2/health/live": {
            "get": {"summary": "Liveness", "responses": {"200": _json(_ready_schema("live"), "Live")}}
        },
        "/v2/health/ready": {
            "get": {
                "summary": "Readiness: the model is loaded, warmed up and the server is not draining",
                "responses": {
                    "200": _json(_ready_schema("ready"), "Ready"),
                    "503": _json(_ready_schema("ready"), "Not ready"),
                },
            }
        },
        "/v2": {
            "get": {
                "summary": "Server metadata",
                "responses": {"200": _json({"type": "object", "required": ["name", "version"]}, "Metadata")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format)",
                "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}},
            }
        },
        **_model_paths("/v2/models/{model_name}", [_NAME]),
        **_model_paths("/v2/models/{model_name}/versions/{model_version}", [_NAME, _VERSION]),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Ferryman serving (Open Inference Protocol V2, REST)", "version": __version__},
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
