"""docs/asyncapi.json is current, valid AsyncAPI 3.0.0, and its examples match the wire models."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from models_processor import asyncapi
from models_processor.config import Settings
from models_processor.errors import ErrorCode
from models_processor.messages import Request, Response

SPEC_SCHEMA = Path(__file__).with_name("asyncapi-3.0.0.schema.json")


@pytest.fixture(scope="module")
def spec_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SPEC_SCHEMA.read_text()))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.build(Settings.model_construct())


def test_committed_document_is_current() -> None:
    committed = asyncapi.DOC_PATH.read_text(encoding="utf-8")
    assert committed == asyncapi.render(Settings.model_construct()), (
        "docs/asyncapi.json is stale: run `python -m models_processor.asyncapi --write`")


def test_document_is_valid_asyncapi_3(spec_validator: jsonschema.Draft7Validator,
                                      document: dict[str, Any]) -> None:
    errors = [e.message for e in spec_validator.iter_errors(document)]
    assert errors == []


def test_spec_check_rejects_a_broken_document(spec_validator: jsonschema.Draft7Validator,
                                              document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    broken["channels"]["requests"]["address"] = 5
    del broken["info"]
    assert len(list(spec_validator.iter_errors(broken))) >= 2


def _payload_validator(document: dict[str, Any], payload: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # Refs point into the whole document (#/components/schemas/...), so resolve against it.
    schema = {**payload, "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_examples_match_their_payload_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for name, message in document["components"]["messages"].items():
        for example in message["examples"]:
            errors = [e.message for e in _payload_validator(document, message["payload"])
                      .iter_errors(example["payload"])]
            assert errors == [], (name, errors)
            checked += 1
    assert checked >= 5


def test_real_answers_validate_and_wrong_ones_do_not(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    ok = Response.ok_text(user_email="a@b.c", request_id="r1", text="hi", model="m", timings_ms={"total": 1})
    text = _payload_validator(document, messages["textResult"]["payload"])
    assert list(text.iter_errors(json.loads(ok.to_bytes()))) == []
    error = _payload_validator(document, messages["errorResponse"]["payload"])
    assert list(error.iter_errors(json.loads(ok.to_bytes()))) != []  # an ok answer is not an error answer
    request = _payload_validator(document, messages["textRequest"]["payload"])
    assert list(request.iter_errors({"user_email": 5, "prompt": "x"})) != []
    assert Request.model_validate({"prompt": "x"}).prompt == "x"


def test_every_error_code_is_published(document: dict[str, Any]) -> None:
    published = set(document["components"]["schemas"]["ErrorCode"]["enum"])
    assert published == {c.value for c in ErrorCode}


def test_photo_result_schema_follows_kind(document: dict[str, Any]) -> None:
    photo = _payload_validator(document, document["components"]["messages"]["photoResult"]["payload"])
    recipe = {"user_email": "", "request_id": "r", "status": "ok", "kind": "recipe", "analysis": "{}",
              "sources": {"title": "ocr"}, "result": {"title": "Bread", "ingredients": [{"name": "flour"}]}}
    # An ingredient needs original_text: a recipe result without it is not a valid recipe.
    assert list(photo.iter_errors(recipe)) != []
    recipe["result"]["ingredients"] = [{"original_text": "500 g flour", "quantity": 500, "unit": "g"}]
    assert list(photo.iter_errors(recipe)) == []
