"""Wire-level behaviour of Ollama v0.17.4 for the stand-in: exact error strings, model-name rules,
Go-like JSON/base64/duration decoding, option type checks, and schema-shaped default answers.
(Split out of ollama_server.py; see its docstring for what it follows and where.)"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_FOREVER = float("inf")

# Exact server strings. Tests and the product's client assert on them.
ERR_MAX_QUEUE = "server busy, please try again.  maximum pending requests exceeded"  # two spaces
ERR_RUNNER_CRASH = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal "
    "error, check ollama server logs for details"
)
ERR_RUNNER = "an error was encountered while running the model"
ERR_IMAGE_FORMAT = "Failed to create new sequence: failed to process inputs: image: unknown format"
ERR_PULL_MANIFEST = "pull model manifest: file does not exist"
ERR_NO_VISION = ("Failed to create new sequence: failed to process inputs: this model is missing data required "
                 "for image input")
ERR_INPUT_TOO_LONG = "the input length exceeds the context length"
ERR_OUT_OF_MEMORY = "model requires more system memory (7.9 GiB) than is available (3.1 GiB)"
IMAGE_TOKENS = 768  # server/prompt.go imageNumTokens
RUNNER_OPTIONS = ("num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread")


class _HTTPError(Exception):
    """An error answered as `{"error": message}` before any byte of the response was sent."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --------------------------------------------------------------------------- model names (§4)

_DEFAULT_HOST, _DEFAULT_NS, _DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")
_NS_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")


def parse_model_name(name: str) -> tuple[str, str, str, str] | None:
    """(host, namespace, model, tag) with Ollama's defaults filled in, or None when invalid."""
    if not isinstance(name, str) or not name:
        return None
    if "@" in name:
        return None  # v0.17.4 has no digest form: `@` is not a valid character of any part
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):  # a colon before the last slash belongs to a host:port
        name, tag = name[:colon], name[colon + 1:]
    parts = name.split("/")
    if len(parts) > 3:
        return None
    model = parts[-1]
    ns = parts[-2] if len(parts) >= 2 else _DEFAULT_NS
    host = parts[-3] if len(parts) == 3 else _DEFAULT_HOST
    tag = tag or _DEFAULT_TAG  # Go merges empty parts with the defaults
    ok = (_PART_RE.fullmatch(model) and _PART_RE.fullmatch(tag)
          and _NS_RE.fullmatch(ns) and _HOST_RE.fullmatch(host))
    return (host, ns, model, tag) if ok else None


def display_name(parts: tuple[str, str, str, str]) -> str:
    """Go's DisplayShortest: drop the default host and namespace, always keep the tag."""
    host, ns, model, tag = parts
    if host.lower() != _DEFAULT_HOST:
        return f"{host}/{ns}/{model}:{tag}"
    if ns.lower() != _DEFAULT_NS:
        return f"{ns}/{model}:{tag}"
    return f"{model}:{tag}"


def _key(parts: tuple[str, str, str, str]) -> str:
    # Matching is case-insensitive per part.
    return "/".join(parts[:3]).lower() + ":" + parts[3].lower()


def _full_name(parts: tuple[str, str, str, str]) -> str:
    return f"{parts[0]}/{parts[1]}/{parts[2]}:{parts[3]}"


# --------------------------------------------------------------------------- Go-like decoding


def go_base64_error(s: str) -> int | None:
    """Index Go's base64.StdEncoding.Decode reports as `illegal base64 data at input byte N`, or None.

    A port of Go's decodeQuantum: '\\r' and '\\n' are skipped, padding is required.
    """
    std = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    si, n = 0, len(s)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return si - j  # input ended inside a quantum (padding is mandatory)
            c = s[si]
            si += 1
            if c in std:
                j += 1
                continue
            if c in "\r\n":
                continue
            if c != "=" or j < 2:
                return si - 1
            if j == 2:  # "==" expected; the first "=" is consumed
                while si < n and s[si] in "\r\n":
                    si += 1
                if si == n:
                    return n
                if s[si] != "=":
                    return si - 1
                si += 1
            while si < n and s[si] in "\r\n":
                si += 1
            return si if si < n else None  # trailing garbage after padding
        # a full quantum; continue with the next one


def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(v), "null")


def _go_syntax_error(doc: str, err: json.JSONDecodeError) -> str:
    """Translate Python's JSON error into the text Go's decoder gives for the same input."""
    if err.pos >= len(doc.rstrip()):
        return "unexpected EOF"
    ch = doc[err.pos]
    q = {"'": "\\'", '"': '"'}.get(ch) or json.dumps(ch, ensure_ascii=False)[1:-1]  # Go's quoteChar
    if err.msg.startswith("Expecting property name"):
        return f"invalid character '{q}' looking for beginning of object key string"
    if err.msg.startswith("Expecting ':'"):
        return f"invalid character '{q}' after object key"
    if err.msg.startswith("Expecting ','"):
        where = "object key:value pair" if _innermost_container(doc, err.pos) == "{" else "array element"
        return f"invalid character '{q}' after {where}"
    if err.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    if err.msg.startswith("Invalid control character"):
        return f"invalid character '{q}' in string literal"
    return f"invalid character '{q}' looking for beginning of value"


def _innermost_container(doc: str, pos: int) -> str:
    """'{' or '[': the innermost open container at `pos` (Go's messages differ between the two)."""
    stack: list[str] = []
    in_str = escaped = False
    for ch in doc[:pos]:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


_DURATION_RE = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(v: Any) -> float:
    """Seconds from a keep_alive value (number of seconds or Go duration); negative = forever."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise _HTTPError(400, f"Unsupported type: '{_json_type(v) if v is not None else 'nil'}'")
    if isinstance(v, (int, float)):
        return _FOREVER if v < 0 else float(v)
    if v in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION_RE.fullmatch(v):
        if re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", v):
            raise _HTTPError(400, f'time: missing unit in duration "{v}"')
        raise _HTTPError(400, f'time: invalid duration "{v}"')
    total = sum(float(num) * _UNIT_S[unit]
                for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", v))
    return _FOREVER if v.startswith("-") and total > 0 else total


# api.Options field kinds, for FromMap's type errors (unknown keys are ignored, like Ollama).
_INT_OPTS = {"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch",
             "num_gpu", "main_gpu", "num_thread"}
_FLOAT_OPTS = {"top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty",
               "frequency_penalty"}
_BOOL_OPTS = {"use_mmap", "numa"}


def check_options(options: dict) -> None:
    for key, val in options.items():
        if val is None:
            continue
        is_num = isinstance(val, (int, float)) and not isinstance(val, bool)
        if key in _INT_OPTS and not is_num:
            raise _HTTPError(500, f'option "{key}" must be of type integer')
        if key in _FLOAT_OPTS and not is_num:
            raise _HTTPError(500, f'option "{key}" must be of type float32')
        if key in _BOOL_OPTS and not isinstance(val, bool):
            raise _HTTPError(500, f'option "{key}" must be of type boolean')
        if key == "stop":
            if not isinstance(val, list):
                raise _HTTPError(500, f'option "{key}" must be of type array')
            if not all(isinstance(s, str) for s in val):
                raise _HTTPError(500, f'option "{key}" must be of an array of strings')


# Top-level field -> (accepted JSON types, Go type name) for "cannot unmarshal" errors.
_STR, _BOOL, _OBJ, _ARR = ("string",), ("bool",), ("object",), ("array",)
_FIELDS = {
    "GenerateRequest": {"model": (_STR, "string"), "prompt": (_STR, "string"),
                        "suffix": (_STR, "string"), "system": (_STR, "string"),
                        "template": (_STR, "string"), "stream": (_BOOL, "bool"),
                        "raw": (_BOOL, "bool"), "images": (_ARR, "[]api.ImageData"),
                        "context": (_ARR, "[]int"),
                        "options": (_OBJ, "map[string]interface {}")},
    "ChatRequest": {"model": (_STR, "string"), "stream": (_BOOL, "bool"),
                    "messages": (_ARR, "[]api.Message"),
                    "options": (_OBJ, "map[string]interface {}")},
    "Message": {"role": (_STR, "string"), "content": (_STR, "string"),
                "thinking": (_STR, "string"), "images": (_ARR, "[]api.ImageData")},
}


def _type_error(json_type: str, struct: str, path: str, go_type: str) -> _HTTPError:
    return _HTTPError(400, f"json: cannot unmarshal {json_type} into Go struct field "
                           f"{struct}.{path} of type {go_type}")


def _check_fields(obj: dict, struct: str, prefix: str = "") -> None:
    for name, (accepted, go_type) in _FIELDS[struct].items():
        val = obj.get(name)
        if val is not None and _json_type(val) not in accepted:  # null is a no-op in Go
            raise _type_error(_json_type(val), struct, prefix + name, go_type)


def decode_images(images: list, struct: str, path: str) -> list[bytes]:
    """Decode an `images` array exactly as Go's encoding/json decodes []api.ImageData."""
    out = []
    for item in images:
        if not isinstance(item, str):
            raise _type_error(_json_type(item), struct, path, "api.ImageData")
        bad = go_base64_error(item)
        if bad is not None:
            raise _HTTPError(400, f"illegal base64 data at input byte {bad}")
        out.append(base64.b64decode(item.replace("\r", "").replace("\n", ""), validate=True))
    return out


def is_image(data: bytes) -> bool:
    """Does the payload start like a format Ollama's image decoders accept (PNG, JPEG, WebP, GIF)?"""
    return (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")
            or data[:6] in (b"GIF87a", b"GIF89a") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


# --------------------------------------------------------------------------- default answers


def schema_instance(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A small JSON value that validates against `schema` (covers pydantic-generated schemas)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if part else target
        return schema_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = schema[key]
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if not real or (depth > 8 and len(real) < len(options)):
                return None  # Optional and deep (recursive models): stop with null
            return schema_instance(real[0], root, depth + 1)
    if schema.get("allOf"):
        merged: dict = {}
        for part in schema["allOf"]:
            part = part if "$ref" not in part else _resolve(part["$ref"], root)
            merged = {**merged, **part,
                      "properties": {**merged.get("properties", {}), **part.get("properties", {})}}
        return schema_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None
    if kind == "object":
        props = schema.get("properties") or {}
        value = {k: schema_instance(v, root, depth + 1) for k, v in props.items()}
        for name in schema.get("required", []):
            value.setdefault(name, "x")
        return value
    if kind == "array":
        if schema.get("prefixItems"):
            return [schema_instance(s, root, depth + 1) for s in schema["prefixItems"]]
        return [schema_instance(schema.get("items", {}), root, depth + 1)
                for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        fmt = {"date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "00:00:00",
               "email": "x@example.com", "uri": "http://x.example",
               "uuid": "00000000-0000-0000-0000-000000000000"}.get(schema.get("format"))
        return fmt or "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        value = 1
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "exclusiveMinimum" in schema:
            value = max(value, schema["exclusiveMinimum"] + 1)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        if "exclusiveMaximum" in schema:
            value = min(value, schema["exclusiveMaximum"] - 1)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    return None


def _resolve(ref: str, root: dict) -> dict:
    target: Any = root
    for part in ref.lstrip("#/").split("/"):
        target = target.get(part, {})
    return target


def default_responder(endpoint: str, body: dict) -> str:
    fmt = body.get("format")
    if isinstance(fmt, dict):
        return json.dumps(schema_instance(fmt))
    if fmt == "json":
        return "{}"
    if endpoint == "/api/chat":
        users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
        prompt = users[-1] if users else ""
    else:
        prompt = body.get("prompt") or ""
    return f"stand-in answer to: {prompt[:40]}"


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it. Times are time.monotonic()."""

    method: str
    path: str
    body: dict | None
    started_at: float
    ended_at: float | None = None
    status: int | None = None  # HTTP status sent (None: no response, e.g. hang or disconnect)


# --------------------------------------------------------------------------- scripted replies

FAULTS = (None, "invalid_json", "truncated", "empty_ws", "hang", "error_before", "error_after",
          "status_503", "status_500", "repeat_cut")
_CHUNK_CHARS = 4  # streamed text is split into chunks this long, like a few tokens each


@dataclass
class Reply:
    """One scripted answer, consumed FIFO by the next generate/chat call that generates."""

    text: str | None = None  # response/message content; None = responder / default responder
    done_reason: str = "stop"
    fault: str | None = None  # one of FAULTS, see the module docstring
    delay_s: float | None = None  # overrides latency_s for this reply
    eval_count: int = 10
    prompt_eval_count: int = 20
    error: str | None = None  # message for error_before / error_after (default: runner error text)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")


def _faulty_text(reply: Reply, text: str) -> tuple[str, str]:
    """(content, done_reason) for the content faults."""
    if reply.fault == "invalid_json":
        return (reply.text or '{"answer": "stand-in", "broken": }'), reply.done_reason
    if reply.fault == "truncated":
        return text[: max(1, len(text) // 2)], "length"
    if reply.fault == "empty_ws":
        return "{}" + "\n \n \n" * 200, reply.done_reason
    return text, reply.done_reason


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
