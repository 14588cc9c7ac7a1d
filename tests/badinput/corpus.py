"""A corpus of bad (and borderline) request messages, each with the answer the service must give.

Every entry is a `Case`: a name, the Kafka key, the value (bytes, or a zero-argument builder for the
large or image-bearing ones) and what must come back:
- an error code (`invalid_json`, `invalid_request`, `invalid_image`, `image_too_large`),
- "ok" (accepted: a decision recorded here, e.g. a BOM-prefixed value or a PNG with a ZIP appended), or
- "skipped" (EXPECTED_USER_EMAIL filtered it: no answer anywhere, offset still committed).

`route` is the topic the answer must be on: "text", "photo", "error" (unparseable: ERROR_RESPONSE_TOPIC)
or "reply" (an allow-listed reply_topic). `answer_key` overrides the key the answer carries (empty-key
requests are answered under their `request_id`, or under "<topic>-<partition>-<offset>" when there is none:
`POSITION` marks those). The service settings the corpus assumes are in `SETTINGS`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GOOD_PHOTO = "nutrition_snack_label.jpg"  # the parser reads it completely: no vision model needed

EMAIL = "owner@example.com"
OTHER = "someone.else@example.com"
SECRET_CANARY = "SECRET-CANARY-123"
SASL_CANARY = "SASL-PASSWORD-CANARY-987"
ALLOWED_MODEL = "allowed-text-model"
MAX_PROMPT_CHARS = 20_000                 # the default
MAX_MESSAGE_BYTES = 10 * 1024 * 1024      # the default
MAX_IMAGE_BYTES = 3 * 1024 * 1024         # lowered so a photo can be too big while its message is not
MAX_IMAGE_PIXELS = 40_000_000             # the default

# Settings for the service that reads the corpus (the reply topic allow-list is added by the test, since
# it names a topic of the run).
SETTINGS = {
    "EXPECTED_USER_EMAIL": EMAIL,
    "MODEL_ALLOWLIST": ALLOWED_MODEL,
    "MAX_PROMPT_CHARS": str(MAX_PROMPT_CHARS),
    "MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
    "MAX_IMAGE_BYTES": str(MAX_IMAGE_BYTES),
    "MAX_IMAGE_PIXELS": str(MAX_IMAGE_PIXELS),
    "RESULT_CACHE_SIZE": "0",
}

POSITION = "<position>"  # answer_key placeholder: "<topic>-<partition>-<offset>"
REPLY_TOPIC = "<reply>"  # placeholder in values for the allow-listed reply topic, filled in by the test

Value = bytes | None | Callable[[], bytes]


@dataclass(frozen=True)
class Case:
    name: str
    key: bytes | None
    value: Value
    expect: str                   # an ErrorCode value, "ok" or "skipped"
    route: str = "text"           # "text" | "photo" | "error" | "reply"
    answer_key: str | None = None  # default: the key
    secret: str | None = None  # text that must never appear in the logs
    photo_b64: bool = False       # the value carries a photo: its base64 must never appear in the logs

    def build(self) -> bytes | None:
        return self.value() if callable(self.value) else self.value

    def expected_key(self, topic: str, partition: int, offset: int) -> str:
        if self.answer_key == POSITION:
            return f"{topic}-{partition}-{offset}"
        return self.answer_key if self.answer_key is not None else (self.key or b"").decode()


# ----------------------------------------------------------------------------- value builders
def req(**fields) -> bytes:
    return json.dumps({"user_email": EMAIL, **fields}).encode()


def text(prompt: str = "Suggest a dinner with lentils", **extra) -> bytes:
    return req(prompt=prompt, **extra)


def photo_value(photo: str, **extra) -> bytes:
    return req(prompt="Analyze this food image", photo=photo, **extra)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sample_bytes(name: str = GOOD_PHOTO) -> bytes:
    return (SAMPLES / name).read_bytes()


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def raw_png(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def small_image() -> Image.Image:
    return Image.effect_noise((64, 48), 40).convert("RGB")


def zip_bytes(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(name, data)
    return out.getvalue()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def text_chunk_bomb() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * 20_000_000, zip=True)  # 20 MB of text in ~20 KB
    return encoded(small_image(), "PNG", pnginfo=info)


def deep(n: int = 100_000) -> bytes:
    return b"[" * n + b"]" * n


def photo_case(name: str, data: Callable[[], bytes], expect: str) -> Case:
    return Case(name, name.encode(), lambda: photo_value(b64(data())), expect, route="photo", photo_b64=True)


def photo_text_case(name: str, photo: str, expect: str = "invalid_image") -> Case:
    return Case(name, name.encode(), photo_value(photo), expect, route="photo")


_GOOD_B64 = lambda: b64(sample_bytes())  # noqa: E731

# ----------------------------------------------------------------------------- the corpus
CORPUS: list[Case] = [
    # --- malformed JSON: invalid_json on the error topic, copied to the DLQ
    Case("json-truncated", b"json-truncated", text()[:-7], "invalid_json", "error"),
    Case("json-trailing-garbage", b"json-trailing-garbage", text() + b" }garbage", "invalid_json", "error"),
    Case("json-single-quotes", b"json-single-quotes", b"{'user_email': 'owner@example.com', 'prompt': 'hi'}",
         "invalid_json", "error"),
    Case("json-unquoted-keys", b"json-unquoted-keys", b"{user_email: \"owner@example.com\", prompt: \"hi\"}",
         "invalid_json", "error"),
    Case("json-nan-bare", b"json-nan-bare", b"NaN", "invalid_json", "error"),
    Case("json-invalid-utf8", b"json-invalid-utf8",
         b'{"user_email": "owner@example.com", "prompt": "caf\xe9 \xff\xfe"}', "invalid_json", "error"),
    Case("json-deep-arrays", b"json-deep-arrays", deep(), "invalid_json", "error"),
    Case("json-deep-in-object", b"json-deep-in-object",
         b'{"user_email": "owner@example.com", "prompt": "hi", "x": ' + deep() + b"}", "invalid_json", "error"),
    Case("json-empty-value", b"json-empty-value", b"", "invalid_json", "error"),
    Case("json-null-value-tombstone", b"json-null-value-tombstone", None, "invalid_json", "error"),
    Case("json-whitespace-only", b"json-whitespace-only", b" \n\t ", "invalid_json", "error"),
    # Decisions: Python's json reads a UTF-8 BOM and UTF-16/32 (RFC 4627 detection), and NaN/Infinity;
    # a NaN in a field the service ignores does no harm. These are accepted.
    Case("json-bom-utf8", b"json-bom-utf8", b"\xef\xbb\xbf" + text("BOM-prefixed"), "ok"),
    Case("json-utf16", b"json-utf16", json.dumps({"user_email": EMAIL, "prompt": "utf-16"}).encode("utf-16"), "ok"),
    Case("json-nan-unknown-field", b"json-nan-unknown-field",
         b'{"user_email": "owner@example.com", "prompt": "hi", "score": NaN}', "ok"),
    # --- JSON that is not an object: invalid_json on the error topic
    Case("not-object-array", b"not-object-array", b'[{"user_email": "owner@example.com", "prompt": "hi"}]',
         "invalid_json", "error"),
    Case("not-object-string", b"not-object-string", b'"Suggest a dinner"', "invalid_json", "error"),
    Case("not-object-number", b"not-object-number", b"42", "invalid_json", "error"),
    Case("not-object-null", b"not-object-null", b"null", "invalid_json", "error"),
    Case("not-object-true", b"not-object-true", b"true", "invalid_json", "error"),
    # --- wrong types: invalid_request, on the topic of the kind the value looks like, copied to the DLQ
    Case("type-prompt-number", b"type-prompt-number", req(prompt=17), "invalid_request"),
    Case("type-prompt-list", b"type-prompt-list", req(prompt=["a", "b"]), "invalid_request"),
    Case("type-prompt-object", b"type-prompt-object", req(prompt={"text": "hi"}), "invalid_request"),
    Case("type-prompt-nan", b"type-prompt-nan", b'{"user_email": "owner@example.com", "prompt": NaN}',
         "invalid_request"),
    Case("type-message-number", b"type-message-number", req(message=3.5), "invalid_request"),
    Case("type-user-email-list", b"type-user-email-list",
         json.dumps({"user_email": [EMAIL], "prompt": "hi"}).encode(), "invalid_request"),
    Case("type-photo-number", b"type-photo-number", req(prompt="p", photo=12345), "invalid_request", "photo"),
    Case("type-kind-unknown", b"type-kind-unknown", text(kind="poem"), "invalid_request"),
    Case("type-kind-wrong-type", b"type-kind-wrong-type", text(kind=5), "invalid_request"),
    Case("type-kind-unknown-photo", b"type-kind-unknown-photo", lambda: photo_value(_GOOD_B64(), kind="menu"),
         "invalid_request", "photo", photo_b64=True),
    Case("type-request-id-number", b"type-request-id-number", text(request_id=123), "invalid_request"),
    Case("type-model-number", b"type-model-number", text(model=7), "invalid_request"),
    # --- missing fields
    Case("missing-prompt-and-photo", b"missing-prompt-and-photo", req(), "invalid_request"),
    Case("missing-empty-prompt", b"missing-empty-prompt", text(""), "invalid_request"),
    Case("missing-whitespace-prompt", b"missing-whitespace-prompt", text(" \n\t\u00a0 "), "invalid_request"),
    Case("missing-empty-message-alias", b"missing-empty-message-alias", req(message=""), "invalid_request"),
    Case("missing-photo-null-no-prompt", b"missing-photo-null-no-prompt", req(photo=None), "invalid_request",
         "photo"),  # "photo" is present, so it is answered on the photo topic
    Case("photo-null-with-prompt", b"photo-null-with-prompt", req(prompt="hi", photo=None), "ok"),
    Case("message-alias-ok", b"message-alias-ok", req(message="alias of prompt"), "ok"),
    # --- huge
    Case("huge-prompt-over-limit", b"huge-prompt-over-limit",
         text(SECRET_CANARY + "x" * MAX_PROMPT_CHARS), "invalid_request", secret=SECRET_CANARY),
    Case("huge-prompt-at-limit", b"huge-prompt-at-limit", text("y" * MAX_PROMPT_CHARS), "ok"),
    Case("huge-value-over-max-message-bytes", b"huge-value-over-max-message-bytes",
         lambda: text("z" * (MAX_MESSAGE_BYTES + 1024)), "invalid_request"),
    # Above Kafka's 1 MiB default, under MAX_MESSAGE_BYTES and MAX_IMAGE_BYTES: the sample JPEG with 1.2 MB
    # of random bytes after its end-of-image marker (decoders stop there).
    Case("huge-photo-message-over-1mib-accepted", b"huge-photo-message-over-1mib-accepted",
         lambda: photo_value(b64(sample_bytes() + os.urandom(1_200_000))), "ok", "photo", photo_b64=True),
    photo_case("huge-photo-over-max-image-bytes", lambda: sample_bytes() + os.urandom(MAX_IMAGE_BYTES + 100_000),
               "image_too_large"),
    # --- bad base64: invalid_image on the photo topic, no DLQ copy (the requester's problem)
    photo_text_case("b64-illegal-chars", "iVBORw0KGgo!!!$$$***"),
    Case("b64-data-uri", b"b64-data-uri", lambda: photo_value("data:image/jpeg;base64," + _GOOD_B64()),
         "invalid_image", "photo", photo_b64=True),
    Case("b64-url-safe-alphabet", b"b64-url-safe-alphabet",
         lambda: photo_value(base64.urlsafe_b64encode(sample_bytes()).decode() + "-_"), "invalid_image", "photo",
         photo_b64=True),
    photo_text_case("b64-bad-padding", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB="),
    photo_text_case("b64-empty-string", ""),
    photo_text_case("b64-whitespace-only", "  \n\r\n  "),
    Case("b64-mime-wrapped-ok", b"b64-mime-wrapped-ok",  # 76-column MIME wrapping is plain base64
         lambda: photo_value(base64.encodebytes(sample_bytes()).decode()), "ok", "photo", photo_b64=True),
    # --- images
    photo_case("img-not-an-image", lambda: b"hello, this is plain text and not a picture" * 10, "invalid_image"),
    photo_case("img-zero-bytes", lambda: b"", "invalid_image"),
    photo_case("img-truncated-jpeg", lambda: truncated(sample_bytes()), "invalid_image"),
    photo_case("img-truncated-png", lambda: truncated(encoded(Image.effect_noise((256, 256), 64).convert("RGB"), "PNG")),
               "invalid_image"),
    photo_case("img-header-only-png", lambda: encoded(small_image(), "PNG")[:40], "invalid_image"),
    photo_case("img-decompression-bomb-png",
               lambda: encoded(Image.new("L", (8000, 6000), 0), "PNG", optimize=True), "image_too_large"),
    photo_case("img-oversized-dimensions", lambda: raw_png(100_000, 100_000, zlib.compress(b"\0" * 1000)),
               "image_too_large"),
    photo_case("img-png-text-chunk-bomb", text_chunk_bomb, "image_too_large"),
    photo_case("img-gif-refused", lambda: encoded(small_image(), "GIF"), "invalid_image"),
    photo_case("img-bmp-refused", lambda: encoded(small_image(), "BMP"), "invalid_image"),
    photo_case("img-tiff-refused", lambda: encoded(small_image(), "TIFF"), "invalid_image"),
    photo_case("img-pdf", lambda: b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n", "invalid_image"),
    # A PDF that embeds a PNG is still a PDF: refused by its first bytes, the PNG is never looked at.
    photo_case("img-pdf-with-png-inside", lambda: b"%PDF-1.7\n" + encoded(small_image(), "PNG") + b"\n%%EOF\n",
               "invalid_image"),
    # A ZIP whose only entry is a PNG: starts with PK, not an image.
    photo_case("img-zip-with-png-entry", lambda: zip_bytes("photo.png", encoded(small_image(), "PNG")),
               "invalid_image"),
    # A PNG signature followed by a PDF body: the PNG decoder finds no valid chunks.
    photo_case("img-png-header-pdf-body", lambda: b"\x89PNG\r\n\x1a\n%PDF-1.7\n<< >>\n%%EOF", "invalid_image"),
    # Decision (as tests/unit/test_images.py): a valid image with a ZIP appended is accepted; the tail is
    # never read or kept (only the decoded pixels are used).
    photo_case("img-jpeg-with-zip-appended", lambda: sample_bytes() + zip_bytes("payload.txt", b"hello"), "ok"),
    # --- unicode edge cases: accepted; the prompt reaches the model unchanged
    Case("unicode-emoji", b"unicode-emoji", text("Dinner ideas \U0001F355\U0001F957\U0001F1EE\U0001F1F9"), "ok"),
    Case("unicode-rtl", b"unicode-rtl", text("\u202e\u0627\u0642\u062a\u0631\u062d \u0639\u0634\u0627\u0621 \u05e2\u05d1\u05e8\u05d9\u05ea"), "ok"),
    Case("unicode-zwj", b"unicode-zwj", text("family \U0001F468\u200d\U0001F469\u200d\U0001F467 dinner\u200b\ufeff"), "ok"),
    Case("unicode-nul-in-prompt", b"unicode-nul-in-prompt", text("before\u0000after\u0000"), "ok"),
    # A lone surrogate escaped in JSON ("\ud800") decodes to a str UTF-8 cannot encode; the echoed answer
    # carries U+FFFD in its place (was: the dispatcher thread died serialising the answer).
    Case("unicode-lone-surrogate-prompt", b"unicode-lone-surrogate-prompt",
         b'{"user_email": "owner@example.com", "prompt": "lone \\ud800 surrogate \\udfff"}', "ok"),
    Case("unicode-lone-surrogate-request-id-empty-key", b"",
         b'{"user_email": "owner@example.com", "prompt": "hi", "request_id": "\\ud800"}', "ok",
         answer_key=POSITION),  # unusable as a key: answered under its position (was: dispatcher crash)
    Case("unicode-key", "\u00fcml\u00e4ut-\U0001F355".encode(), text("unicode key"), "ok"),
    # --- keys
    Case("key-empty-with-request-id", b"", text("no key", request_id="rid-empty-key"), "ok",
         answer_key="rid-empty-key"),
    Case("key-null-with-request-id", None, text("null key", request_id="rid-null-key"), "ok",
         answer_key="rid-null-key"),
    Case("key-empty-no-request-id", b"", text("no key, no id"), "invalid_request", answer_key=POSITION),
    Case("key-null-no-request-id", None, text("null key, no id"), "invalid_request", answer_key=POSITION),
    Case("key-invalid-utf8-with-request-id", b"\xff\xfe\xfd", text("binary key", request_id="rid-binary-key"), "ok",
         answer_key="rid-binary-key"),
    # --- EXPECTED_USER_EMAIL: skipped, no answer, offset committed
    Case("skip-other-user", b"skip-other-user", req(user_email=OTHER, prompt="hi"), "skipped"),
    Case("skip-email-case-differs", b"skip-email-case-differs", req(user_email=EMAIL.upper(), prompt="hi"), "skipped"),
    Case("skip-email-trailing-space", b"skip-email-trailing-space", req(user_email=EMAIL + " ", prompt="hi"),
         "skipped"),
    Case("skip-email-missing", b"skip-email-missing", json.dumps({"prompt": "hi"}).encode(), "skipped"),
    Case("skip-email-lone-surrogate", b"skip-email-lone-surrogate",
         b'{"user_email": "\\ud800", "prompt": "hi"}', "skipped"),
    Case("skip-other-user-photo", b"skip-other-user-photo",
         lambda: req(user_email=OTHER, prompt="p", photo=_GOOD_B64()), "skipped", photo_b64=True),
    # Another user's request belongs to another instance even when it is malformed: answering it here
    # would give that user a second, conflicting answer. Only a readable user_email is filtered on.
    Case("other-user-malformed-skipped", b"other-user-malformed-skipped", req(user_email=OTHER, prompt=5),
         "skipped"),
    # --- allow-lists
    Case("model-not-allowed", b"model-not-allowed", text(model="llama3:70b"), "invalid_request"),
    Case("model-allowed", b"model-allowed", text("allowed model", model=ALLOWED_MODEL), "ok"),
    Case("model-not-allowed-photo", b"model-not-allowed-photo", lambda: photo_value(_GOOD_B64(), model="evil"),
         "invalid_request", "photo", photo_b64=True),
    Case("reply-topic-not-allowed", b"reply-topic-not-allowed", text(reply_topic="__consumer_offsets"),
         "invalid_request"),
    Case("reply-topic-allowed", b"reply-topic-allowed", text("reply elsewhere", reply_topic=REPLY_TOPIC), "ok",
         "reply"),
    # --- secrets: the canary prompt is answered, and never logged
    Case("secret-canary-prompt", b"secret-canary-prompt", text(f"my password is {SECRET_CANARY} keep it"), "ok",
         secret=SECRET_CANARY),
    # --- a good photo in the middle of the corpus
    photo_case("good-photo", sample_bytes, "ok"),
]

