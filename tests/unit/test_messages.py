import json

import pytest

from models_processor.errors import ErrorCode, ProcessingError
from models_processor.messages import Response, decode_request, peek_kind


def decode(value, max_bytes=1 << 20):
    return decode_request(value if isinstance(value, bytes) else json.dumps(value).encode(), max_bytes=max_bytes)


def code_of(value, **kw):
    with pytest.raises(ProcessingError) as info:
        decode(value, **kw)
    return info.value.code


def test_text_and_photo_requests():
    assert not decode({"user_email": "a@b", "prompt": "hi"}).is_photo
    assert decode({"user_email": "a@b", "photo": "AAAA"}).is_photo


def test_message_is_an_alias_of_prompt_and_unknown_fields_are_ignored():
    request = decode({"user_email": "a@b", "message": "hello", "extra": [1, 2]})
    assert request.prompt == "hello"


@pytest.mark.parametrize("value,code", [
    (b"not json", ErrorCode.INVALID_JSON),
    (b"", ErrorCode.INVALID_JSON),
    (b"\xff\xfe", ErrorCode.INVALID_JSON),
    (b"[1, 2]", ErrorCode.INVALID_JSON),
    (b'"a string"', ErrorCode.INVALID_JSON),
    ({"user_email": "a@b"}, ErrorCode.INVALID_REQUEST),                       # no prompt, no photo
    ({"user_email": "a@b", "prompt": "   "}, ErrorCode.INVALID_REQUEST),      # blank prompt
    ({"user_email": "a@b", "prompt": 42}, ErrorCode.INVALID_REQUEST),         # wrong type
    ({"user_email": ["a"], "prompt": "x"}, ErrorCode.INVALID_REQUEST),
    ({"user_email": "a@b", "photo": 123}, ErrorCode.INVALID_REQUEST),
    ({"user_email": "a@b", "prompt": "x", "kind": "poem"}, ErrorCode.INVALID_REQUEST),
])
def test_bad_input_codes(value, code):
    assert code_of(value) is code


def test_oversized_message_is_invalid_request():
    value = json.dumps({"user_email": "a@b", "prompt": "x" * 5000}).encode()
    assert code_of(value, max_bytes=1024) is ErrorCode.INVALID_REQUEST


def test_deeply_nested_json_does_not_crash():
    assert code_of(b"[" * 100_000 + b"]" * 100_000) is ErrorCode.INVALID_JSON


def test_response_json_carries_analysis_as_a_string_and_omits_empty_fields():
    from models_processor.messages import ResultKind, Source
    r = Response.ok_photo(user_email="a@b", request_id="r1", kind=ResultKind.RECIPE, result={"title": "Pie"},
                          sources={"title": Source.OCR}, model=None, timings_ms={"total": 5})
    body = json.loads(r.to_bytes())
    assert json.loads(body["analysis"]) == {"title": "Pie"}
    assert body["sources"] == {"title": "ocr"} and "error" not in body and "model" not in body


def test_error_response_shape():
    r = Response.failure(user_email="", request_id="r2",
                         error=ProcessingError(ErrorCode.MODEL_UNAVAILABLE, "down", retryable=True))
    body = json.loads(r.to_bytes())
    assert body["status"] == "error" and "result" not in body
    assert body["error"] == {"code": "model_unavailable", "message": "down", "retryable": True}


def test_peek_kind():
    assert peek_kind(b'{"photo": 1}') == "photo"
    assert peek_kind(b'{"prompt": 1}') == "text"
    assert peek_kind(b"nope") == "invalid"
