"""Property-based fuzzing of everything that reads untrusted input: the request decoder, the request
processor end to end (minus Kafka), the model-output JSON sanitizer, both OCR parsers and the photo
decoder.

Extends, without repeating, the property tests already in tests/unit: test_llm_sanitize (extract_json on
random text), test_recipe_parser / test_nutrition_parser (random words on axis-aligned boxes),
test_quantities (ingredient lines). Here: arbitrary bytes and JSON objects with random field types for
the decoder and the processor; real JSON values hidden in chatter, fences and truncation for the
sanitizer; arbitrary quadrilaterals (rotated, degenerate, negative, huge) and page sizes for the parsers;
random and mutated real image bytes for decode_photo. Example counts keep the file well under 30 s.
"""

from __future__ import annotations

import base64
import io
import json
import math
from functools import cache

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.errors import DLQ_CODES, ErrorCode, ProcessingError
from models_processor.images import decode_photo
from models_processor.llm.sanitize import NoJSONFound, extract_json
from models_processor.messages import Request, RequestKind, decode_request
from models_processor.metrics import Metrics
from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.classify import classify
from models_processor.parsing.nutrition import parse_nutrition_label
from models_processor.parsing.recipe import parse_recipe
from models_processor.pipeline.requests import Inbound, Processed, RequestProcessor
from models_processor.pipeline.text import TextPipeline
from models_processor.schemas import NutritionLabelResult, RecipeResult
from testkit.fakes.models import ScriptedTextModel
from tests.sample_photos import SAMPLES_DIR

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_BYTES = 4096
DECODE_CODES = {ErrorCode.INVALID_JSON, ErrorCode.INVALID_REQUEST}

# ----------------------------------------------------------------------------- strategies
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
# Lone surrogates, NUL, RTL override, ZWJ, BOM, emoji: what a JSON producer may put in a string.
odd_text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\u202e", "\u200d", "\ufeff", "\U0001F355", " ", "\n"])), max_size=30)
field_value = st.one_of(json_values, odd_text, st.sampled_from([k.value for k in RequestKind]),
                        st.sampled_from(["m1", "t1", "user@example.com", "", "   "]))
FIELDS = ["user_email", "prompt", "message", "photo", "kind", "request_id", "model", "reply_topic", "other"]
request_dicts = st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=len(FIELDS))


def dumps(data: dict, ascii_only: bool) -> bytes:
    # ensure_ascii=False with a lone surrogate cannot be UTF-8: keep the \\u escape then (as producers do)
    text = json.dumps(data, ensure_ascii=ascii_only)
    return text.encode("utf-8", "surrogatepass") if not ascii_only else text.encode()


# ----------------------------------------------------------------------------- decode_request
def check_decode(value: bytes | None) -> None:
    try:
        request = decode_request(value, max_bytes=MAX_BYTES)
    except ProcessingError as error:
        assert error.code in DECODE_CODES, error
        assert error.message and error.retryable is False
        return
    again = Request.model_validate(request.model_dump())
    assert again == request
    assert request.is_photo or (request.prompt and request.prompt.strip())
    assert isinstance(request.kind, RequestKind)


@FAST
@given(st.one_of(st.binary(max_size=200), st.binary(min_size=MAX_BYTES - 5, max_size=MAX_BYTES + 5)))
@example(b"\xef\xbb\xbf{\"prompt\": \"x\"}")
@example(b"[" * 50_000)
@example(b'{"prompt": NaN}')
@example(None)
def test_decode_request_on_arbitrary_bytes(value):
    check_decode(value)


@FAST
@given(request_dicts, st.booleans())
def test_decode_request_on_json_objects_with_random_field_types(data, ascii_only):
    value = dumps(data, ascii_only)
    if len(value) > MAX_BYTES:
        return
    try:
        request = decode_request(value, max_bytes=MAX_BYTES)
    except ProcessingError as error:
        assert error.code is ErrorCode.INVALID_REQUEST, error  # it is a JSON object: never invalid_json
        return
    check_decode(value)
    for name in ("user_email", "photo", "request_id", "model", "reply_topic"):
        if name in data and data[name] is not None:
            assert getattr(request, name) == data[name]
    if data.get("prompt") is not None:
        assert request.prompt == data["prompt"]
    elif data.get("message") is not None:
        assert request.prompt == data["message"]  # `message` is the earlier service's `prompt`


# ----------------------------------------------------------------------------- RequestProcessor.process
class BadPhoto:
    """A photo pipeline double that always answers invalid_image (fast, and not in DLQ_CODES)."""

    def run(self, request, *, request_id, deadline):
        raise ProcessingError(ErrorCode.INVALID_IMAGE, "not an image (fuzz double)")


@cache
def processor(expected_email: str) -> RequestProcessor:
    env = {"MODEL_ALLOWLIST": "m1", "REPLY_TOPIC_ALLOWLIST": "t1", "MAX_PROMPT_CHARS": "40",
           "MAX_MESSAGE_BYTES": str(MAX_BYTES), "EXPECTED_USER_EMAIL": expected_email}
    s = load_settings(env)
    return RequestProcessor(s, TextPipeline(ScriptedTextModel(), max_prompt_chars=s.max_prompt_chars), BadPhoto(),
                            Metrics())


def check_processed(processed: Processed, key: bytes | None, expected_email: str) -> None:
    assert isinstance(processed, Processed)
    assert processed.kind in ("photo", "text", "invalid")
    processed.request_id.encode("utf-8")  # it becomes the Kafka key and a header: must be UTF-8
    assert processed.request_id
    if processed.response is None:
        # Skipped: the EXPECTED_USER_EMAIL filter is the only path that answers nothing.
        assert expected_email and processed.dlq_error is None and processed.reply_topic is None
        return
    body = json.loads(processed.response.to_bytes())  # valid UTF-8 JSON whatever came in
    assert body["request_id"] == processed.request_id
    assert body["status"] in ("ok", "error")
    if body["status"] == "ok":
        assert "error" not in body and processed.dlq_error is None
        assert body["kind"] == "text" and body["response"].startswith("echo: ") and body["model"]
    else:
        code = ErrorCode(body["error"]["code"])
        assert set(body["error"]) == {"code", "message", "retryable"} and "result" not in body
        assert (processed.dlq_error is not None) == (code in DLQ_CODES)
        if processed.dlq_error is not None:
            assert processed.dlq_error.code is code
        if processed.kind == "invalid":
            assert code is ErrorCode.INVALID_JSON
        if processed.kind == "photo":
            assert code in (ErrorCode.INVALID_IMAGE, ErrorCode.INVALID_REQUEST)
    assert processed.reply_topic in (None, "t1")


keys = st.one_of(st.none(), st.just(b""), st.binary(max_size=12), st.text(max_size=12).map(str.encode))


@FAST
@given(keys, st.one_of(st.none(), st.binary(max_size=300)), st.sampled_from(["", "user@example.com"]))
def test_process_arbitrary_bytes_always_answers(key, value, expected_email):
    inbound = Inbound(key=key, value=value, topic="req", partition=0, offset=7)
    check_processed(processor(expected_email).process(inbound, Deadline.after(5)), key, expected_email)


@FAST
@given(keys, request_dicts, st.booleans(), st.sampled_from(["", "user@example.com"]))
@example(b"k", {"user_email": "user@example.com", "prompt": "lone \ud800"}, True, "")
@example(b"", {"user_email": "user@example.com", "prompt": "p", "request_id": "\udc00"}, True, "")
@example(None, {"user_email": "\ud800", "prompt": 5}, True, "")
@example(b"k", {"user_email": "\ud800", "prompt": "p"}, True, "")
def test_process_json_objects_always_answers(key, data, ascii_only, expected_email):
    """Regression: a lone surrogate ("\\ud800" in the JSON) in the prompt made the echoed answer, and in an
    empty-key request's request_id the Kafka key, impossible to encode (the dispatcher thread died)."""
    inbound = Inbound(key=key, value=dumps(data, ascii_only), topic="req", partition=0, offset=7)
    check_processed(processor(expected_email).process(inbound, Deadline.after(5)), key, expected_email)


# ----------------------------------------------------------------------------- extract_json (extends test_llm_sanitize)
containers = st.one_of(st.dictionaries(st.text(max_size=8), json_values, max_size=5),
                       st.lists(json_values, min_size=1, max_size=5).filter(lambda v: not isinstance(v[0], list)))
chatter = st.text(alphabet=st.characters(blacklist_characters="{}[]`"), max_size=30)


def no_nan(value) -> bool:
    if isinstance(value, float):
        return not math.isnan(value)
    if isinstance(value, list):
        return all(no_nan(v) for v in value)
    if isinstance(value, dict):
        return all(no_nan(v) for v in value.values())
    return True


@FAST
@given(containers.filter(no_nan), chatter, chatter, st.sampled_from(["", "```json\n", "```\n"]), st.booleans())
def test_extract_json_finds_the_value_in_chatter_and_fences(value, before, after, fence, indent):
    body = json.dumps(value, indent=2 if indent else None)
    text = f"{before}{fence}{body}{chr(10) + '```' if fence else ''}{after}"
    assert extract_json(text) == value


@FAST
@given(containers, st.data())
def test_extract_json_on_truncated_values_only_raises_its_error(value, data):
    body = json.dumps(value)
    cut = data.draw(st.integers(0, len(body)))
    try:
        got = extract_json(body[:cut])
    except NoJSONFound:
        return
    assert isinstance(got, (dict, list))


@pytest.mark.parametrize("value", [None, b'{"a": 1}', 42, ["{}"], {"a": 1}])
def test_extract_json_rejects_non_text_with_its_error(value):
    with pytest.raises(NoJSONFound):
        extract_json(value)


# ----------------------------------------------------------------------------- parsers on random geometry
WORDS = ["Ingredients", "Method", "Directions", "Serves 4", "Prep 10 min", "Cook: 1h30", "Nutrition Facts",
         "Calories", "Total Fat", "Sodium", "Protein", "Serving size", "per container", "Sugars", "1/2", "½",
         "2 cups", "100g", "5mg", "0.5 g", "12%", "kcal", "kJ", "tbsp", "1.", "2)", "O", "l", "9", "-", "NaN",
         "inf", "1e308", "99999999999999999999", "\u0660\u0661", "\u00b9", "\ufb01our"]
coord = st.one_of(st.floats(-1e4, 1e4, allow_nan=False), st.integers(-10, 5000),
                  st.sampled_from([0.0, -0.0, 1e9, -1e9]))
quad = st.tuples(*[st.tuples(coord, coord)] * 4)
line_text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=10)), min_size=1, max_size=5).map(" ".join)
ocr_lines = st.lists(st.builds(OcrLine, line_text, st.floats(0, 1), quad), max_size=25)
pages = st.builds(OcrResult, ocr_lines, st.integers(0, 10_000), st.integers(0, 10_000))


@settings(max_examples=250, deadline=None)
@given(pages)
def test_recipe_parser_on_random_quadrilaterals(ocr):
    parsed = parse_recipe(ocr)
    RecipeResult.model_validate(parsed.result.model_dump())
    json.dumps(parsed.result.model_dump(), allow_nan=False)


@settings(max_examples=250, deadline=None)
@given(pages)
def test_nutrition_parser_on_random_quadrilaterals(ocr):
    parsed = parse_nutrition_label(ocr)
    result = NutritionLabelResult.model_validate(parsed.result.model_dump())
    assert parsed.found <= set(NutritionLabelResult.model_fields)
    for name, value in result.model_dump().items():
        if isinstance(value, float):
            assert math.isfinite(value) and value >= 0, (name, value)
    json.dumps(parsed.result.model_dump(), allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(pages)
def test_classifier_on_random_quadrilaterals(ocr):
    verdict = classify(ocr)
    assert 0.0 <= verdict.confidence <= 1.0 or math.isclose(verdict.confidence, 1.0)


# ----------------------------------------------------------------------------- decode_photo
IMAGE_CODES = {ErrorCode.INVALID_IMAGE, ErrorCode.IMAGE_TOO_LARGE}
MAX_PIXELS = 4_000_000


def check_photo(b64: str) -> None:
    try:
        decoded = decode_photo(b64, max_bytes=2 * 1024 * 1024, max_pixels=MAX_PIXELS)
    except ProcessingError as error:
        assert error.code in IMAGE_CODES, error
        return
    assert decoded.image.mode == "RGB" and decoded.width * decoded.height <= MAX_PIXELS
    assert decoded.format in ("JPEG", "MPO", "PNG", "WEBP", "HEIF")


@cache
def seeds() -> dict[str, bytes]:
    jpeg = (SAMPLES_DIR / "nutrition_snack_label.jpg").read_bytes()
    small = Image.open(io.BytesIO(jpeg)).convert("RGB").resize((48, 40))
    out = {"jpeg": jpeg}
    for fmt in ("PNG", "WEBP"):
        buf = io.BytesIO()
        small.save(buf, format=fmt)
        out[fmt.lower()] = buf.getvalue()
    return out


@FAST
@given(st.binary(max_size=400))
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
@example(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
def test_decode_photo_on_random_bytes(data):
    check_photo(base64.b64encode(data).decode())


@FAST
@given(st.text(max_size=60))
def test_decode_photo_on_random_strings(text):
    check_photo(text)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["jpeg", "png", "webp"]), st.data())
def test_decode_photo_on_mutated_real_images(name, data):
    raw = bytearray(seeds()[name])
    mutation = data.draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    if mutation == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    elif mutation == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif mutation == "insert":
        i = data.draw(st.integers(0, len(raw)))
        raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    else:  # header fields (dimensions, chunk lengths) live in the first bytes
        i = data.draw(st.integers(0, min(64, len(raw) - 1)))
        chunk = data.draw(st.binary(min_size=1, max_size=4))
        raw[i:i + len(chunk)] = chunk
    check_photo(base64.b64encode(bytes(raw)).decode())
