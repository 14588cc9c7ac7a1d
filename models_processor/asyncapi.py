"""The message contract as an AsyncAPI 3 document, generated from the wire models (docs/contracts.md).

`python -m models_processor.asyncapi --write` refreshes docs/asyncapi.json; `make test` fails when the
committed file differs from what the models give, so producers can generate clients from it and trust it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import SCHEMA_VERSION, __version__
from .config import Settings
from .errors import DLQ_CODES, ErrorCode
from .messages import Request, Response, ResultKind
from .schemas import FoodResult, NutritionLabelResult, RecipeResult

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.json"
_REF = "#/components/schemas/{model}"
PHOTO_KINDS = (ResultKind.RECIPE, ResultKind.NUTRITION_LABEL, ResultKind.FOOD)

# Headers the service writes; the DLQ copy keeps the request's own headers and adds these.
RESPONSE_HEADERS: dict[str, str] = {
    "request_id": "the request id (also the record key)",
    "content-type": "always application/json",
    "schema-version": f"version of the answer's shape, currently {SCHEMA_VERSION}",
    "traceparent": "W3C Trace Context: the request's trace (or one started for it), the service's span as parent",
    "tracestate": "W3C Trace Context: the request's, unchanged, when it had one",
}
DLQ_HEADERS: dict[str, str] = {
    "x-error-code": "the error code the requester was answered with",
    "x-error-message": "the error message (at most 1000 bytes)",
    "x-attempts": "how many times this request was attempted",
    "x-original-topic": "topic the request was read from",
    "x-original-partition": "partition the request was read from",
    "x-original-offset": "offset of the request",
    "x-original-timestamp": "the request record's timestamp, milliseconds since the epoch",
}


def _header_schema(headers: dict[str, str]) -> dict[str, Any]:
    props = {name: {"type": "string", "description": text} for name, text in headers.items()}
    return {"type": "object", "properties": props}


def _kafka_key() -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": "the request id"},
                      "bindingVersion": KAFKA_BINDING_VERSION}}


def _message(name: str, summary: str, payload: dict[str, Any], headers: dict[str, str] | None,
             examples: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name, "summary": summary, "contentType": "application/json",
        "payload": payload, "bindings": _kafka_key(), "examples": [{"payload": e} for e in examples],
    }
    if headers is not None:
        message["headers"] = _header_schema(headers)
    return message


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [Request, Response, RecipeResult, NutritionLabelResult, FoodResult]
    pairs = [(m, "validation" if m is Request else "serialization") for m in models]
    _, top = models_json_schema(pairs, ref_template=_REF)  # type: ignore[arg-type]
    defs: dict[str, Any] = top["$defs"]
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _photo_result_payload() -> dict[str, Any]:
    # `kind` names the schema of `result` (the result shapes overlap, so oneOf could not tell them apart).
    by_kind = [{"if": {"properties": {"kind": {"const": kind.value}}},
                "then": {"properties": {"result": _ref(model)}}}
               for kind, model in ((ResultKind.RECIPE, RecipeResult),
                                   (ResultKind.NUTRITION_LABEL, NutritionLabelResult),
                                   (ResultKind.FOOD, FoodResult))]
    return {"allOf": [_ref(Response), {
        "type": "object", "required": ["status", "kind", "result", "analysis", "sources"],
        "properties": {"status": {"const": "ok"}, "kind": {"enum": [k.value for k in PHOTO_KINDS]},
                       "result": {"type": "object"},
                       "analysis": {"type": "string", "description": "`result` encoded as a JSON string"}},
    }, *by_kind]}


def _text_result_payload() -> dict[str, Any]:
    return {"allOf": [_ref(Response), {
        "type": "object", "required": ["status", "kind", "response", "model"],
        "properties": {"status": {"const": "ok"}, "kind": {"const": "text"}},
    }]}


def _error_payload() -> dict[str, Any]:
    return {"allOf": [_ref(Response), {
        "type": "object", "required": ["status", "error"],
        "properties": {"status": {"const": "error"}},
    }]}


def _messages() -> dict[str, Any]:
    return {
        "photoRequest": _message(
            "photoRequest", "A photo to read: a recipe, a nutrition-facts label or a food photo.",
            _ref(Request), None,
            [{"user_email": "user@example.com", "prompt": "Analyze this food image", "photo": "<base64>"}]),
        "textRequest": _message(
            "textRequest", "A prompt for the text model.", _ref(Request), None,
            [{"user_email": "user@example.com", "prompt": "Suggest a dinner with lentils"}]),
        "photoResult": _message(
            "photoResult", "What the photo holds, with the source of every field.", _photo_result_payload(),
            RESPONSE_HEADERS,
            [{"user_email": "user@example.com", "request_id": "r-123", "status": "ok", "kind": "food",
              "result": {"dish_name": "Pizza", "estimated_avg_calories": 285, "ingredients": ["cheese"],
                         "total_avg_weight": 200, "contains": {"protein": 12.0, "carbs": 36.0, "fat": 10.0}},
              "analysis": "{\"dish_name\": \"Pizza\", \"...\": \"...\"}",
              "sources": {"dish_name": "llm-vision"}, "model": "llava:7b", "timings_ms": {"total": 5040}}]),
        "textResult": _message(
            "textResult", "The generated text.", _text_result_payload(), RESPONSE_HEADERS,
            [{"user_email": "user@example.com", "request_id": "r-124", "status": "ok", "kind": "text",
              "response": "Lentil curry ...", "model": "llava:7b", "timings_ms": {"total": 900}}]),
        "errorResponse": _message(
            "errorResponse", "Why a request could not be answered; every request gets one answer.",
            _error_payload(), RESPONSE_HEADERS,
            [{"user_email": "user@example.com", "request_id": "r-125", "status": "error",
              "error": {"code": ErrorCode.INVALID_IMAGE.value, "message": "not an image",
                        "retryable": False}}]),
        "deadLetter": _message(
            "deadLetter",
            "The request's original bytes, key and headers, unchanged, plus error headers. Copied for the "
            f"codes {', '.join(sorted(c.value for c in DLQ_CODES))}.",
            {"description": "the original request value, byte for byte (may be absent when too large)"},
            DLQ_HEADERS, []),
    }


def _channel(address: str, description: str, names: list[str]) -> dict[str, Any]:
    return {"address": address, "description": description,
            "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names}}


def _operation(action: str, channel: str, summary: str, names: list[str]) -> dict[str, Any]:
    return {"action": action, "summary": summary, "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names]}


def build(settings: Settings | None = None) -> dict[str, Any]:
    """The AsyncAPI document for the default topic names (each is a setting; see docs/contracts.md)."""
    s = settings or Settings()
    errors = s.error_response_topic or s.text_response_topic
    channels = {
        "requests": _channel(s.local_model_kafka_topic, "LOCAL_MODEL_KAFKA_TOPIC: photo and text requests",
                             ["photoRequest", "textRequest"]),
        "photoResults": _channel(s.photo_response_topic, "PHOTO_RESPONSE_TOPIC: photo answers",
                                 ["photoResult", "errorResponse"]),
        "textResults": _channel(s.text_response_topic, "TEXT_RESPONSE_TOPIC: text answers, and the answers "
                                f"to unparseable requests (ERROR_RESPONSE_TOPIC, default {errors})",
                                ["textResult", "errorResponse"]),
        "deadLetters": _channel(s.dlq_topic, "DLQ_TOPIC: requests that could not be processed",
                                ["deadLetter"]),
    }
    operations = {
        "receiveRequests": _operation("receive", "requests", "The service reads requests.",
                                      ["photoRequest", "textRequest"]),
        "sendPhotoResults": _operation("send", "photoResults", "One answer per photo request.",
                                       ["photoResult", "errorResponse"]),
        "sendTextResults": _operation("send", "textResults", "One answer per text or unparseable request.",
                                      ["textResult", "errorResponse"]),
        "sendDeadLetters": _operation("send", "deadLetters", "Copies of requests an operator may replay.",
                                      ["deadLetter"]),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "models-processor", "version": __version__,
                 "description": "Photo and text requests over Kafka; see docs/contracts.md for the prose."},
        "defaultContentType": "application/json",
        "channels": channels, "operations": operations,
        "components": {"schemas": _schemas(), "messages": _messages()},
    }


def render(settings: Settings | None = None) -> str:
    return json.dumps(build(settings), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or write docs/asyncapi.json from the wire models.")
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH.name} instead of printing")
    args = parser.parse_args(argv)
    # Defaults only: an operator's environment must not leak into the published contract.
    text = render(Settings.model_construct())
    if args.write:
        DOC_PATH.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
