"""A faithful stand-in Ollama server for tests (a fixture; the product never imports it).

It is a real HTTP server on loopback that follows Ollama v0.17.4 (docs/ollama.md; the Go source files
named below): the same routes, status codes, error strings, NDJSON streaming, model-name rules, and the
scheduler's concurrency shape (per-model NUM_PARALLEL slots with unbounded waiting, one model load at a
time, a bounded load queue that answers 503). Faults are scripted with `Reply` objects. The real server
(deploy/local-ollama, tests/ollama/) is the reference; this stand-in is for what it cannot be made to do
on demand (503 storms, hung streams, crashes at a chosen moment).

Corrected where it differed from the real v0.17.4 server:
- version 0.17.4; `@sha256:` digests are not part of a name (types/model/name.go: `@` is invalid, so
  generate/chat answer 404); server-side aliases resolve in generate/chat, not in show
  (server/aliases.go, routes.go GenerateHandler/ChatHandler vs GetModelInfo), listed at
  GET /api/experimental/aliases.
- the repeat guard: fault "repeat_cut" ends the stream without a final chunk, and stream:false answers
  200 with `done: false` (llm/server.go Completion returns nil after 30 repeated tokens).
- an image sent to a model without the vision capability: 500 `Failed to create new sequence: failed to
  process inputs: this model is missing data required for image input` (runner, model/model.go).
- `think`: absent means on for thinking models (`thinking_models`), which then spend the answer on
  thinking; `think: true` on another model is 400 `"NAME" does not support thinking` (routes.go).
- `truncate`: a prompt over num_ctx (estimated at 4 chars a token plus 768 per image, server/prompt.go)
  loses its oldest chat messages silently by default; `truncate: false` gives 400 `the input length
  exceeds the context length` (runner/ollamarunner/runner.go).
- runner options: a model is loaded with the request's num_ctx (or `default_num_ctx`); a request with
  other runner options reloads it (server/sched.go needsReload); /api/ps shows the loaded context_length.
- `load_duration` ends when the model is loaded, before the wait for a parallel slot (routes.go).
- TCP_NODELAY, and headers sent together with the body (or the first stream chunk) in one write, as Go's
  net/http does; two small writes without it cost ~40 ms per call on a reused connection (Nagle plus
  delayed ACK).

Stdlib only. All mutable state lives on an `OllamaStandIn` instance, guarded by its lock.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import select
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Exact server strings (the reference, §3.1). Tests and the product's client assert on them.
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

FAULTS = (None, "invalid_json", "truncated", "empty_ws", "hang", "error_before", "error_after",
          "status_503", "status_500", "repeat_cut")

_POLL_S = 0.02  # how often waiting threads look for a client disconnect or stop()
_CHUNK_CHARS = 4  # streamed text is split into chunks this long, like a few tokens each
_FOREVER = float("inf")


@dataclass
class Reply:
    """One scripted answer, consumed FIFO by the next generate/chat call that generates."""

    text: str | None = None  # response/message content; None = responder / default responder
    done_reason: str = "stop"
    fault: str | None = None  # one of FAULTS, see module docs in the brief
    delay_s: float | None = None  # overrides latency_s for this reply
    eval_count: int = 10
    prompt_eval_count: int = 20
    error: str | None = None  # message for error_before / error_after (default: runner error text)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")


@dataclass
class RecordedRequest:
    """One HTTP request as the server saw it. Times are time.monotonic()."""

    method: str
    path: str
    body: dict | None
    started_at: float
    ended_at: float | None = None
    status: int | None = None  # HTTP status sent (None: no response, e.g. hang or disconnect)


@dataclass
class StandInStats:
    """A consistent snapshot of the server's counters (see OllamaStandIn.stats)."""

    active: int = 0  # generations holding a slot right now
    max_concurrent_generations: int = 0  # peak of `active` since the last reset
    total_generations: int = 0  # generations that got a slot
    busy_slot_seconds: float = 0.0  # summed slot holding time (finished holds + running ones so far)
    rejected_503: int = 0
    loads: int = 0  # completed (cold) model loads, reloads for other runner options included
    truncated_messages: int = 0  # chat messages dropped silently because the prompt exceeded num_ctx
    per_path: dict[str, int] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # hung handlers must not keep the test process alive
    allow_reuse_address = True  # come back on the same port despite TIME_WAIT

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall on a DNS lookup; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _HTTPError(Exception):
    """An error answered as `{"error": message}` before any byte of the response was sent."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Gone(Exception):
    """The client disconnected or the server is stopping: end the request without answering."""


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


def _faulty_text(reply: Reply, text: str) -> tuple[str, str]:
    """(content, done_reason) for the content faults."""
    if reply.fault == "invalid_json":
        return (reply.text or '{"answer": "stand-in", "broken": }'), reply.done_reason
    if reply.fault == "truncated":
        return text[: max(1, len(text) // 2)], "length"
    if reply.fault == "empty_ws":
        return "{}" + "\n \n \n" * 200, reply.done_reason
    return text, reply.done_reason


# --------------------------------------------------------------------------- the server


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Model:
    parts: tuple[str, str, str, str]
    vision: bool
    modified_at: str
    digest: str
    size: int
    slots: threading.Semaphore
    loaded_until: float | None = None  # monotonic time it unloads; None = not loaded
    users: int = 0  # requests between load and answer: the model cannot expire under them
    thinking: bool = False  # has the `thinking` capability
    runner: dict | None = None  # the runner options it is loaded with

    @property
    def name(self) -> str:
        return display_name(self.parts)

    def details(self) -> dict:
        families = ["llama", "clip"] if self.vision else ["llama"]
        return {"parent_model": "", "format": "gguf", "family": "llama", "families": families,
                "parameter_size": "7B", "quantization_level": "Q4_0"}


class OllamaStandIn:
    """A threaded loopback server that behaves like Ollama (see the module docstring)."""

    def __init__(self, models=("llava:7b",), *, num_parallel: int = 1, max_queue: int = 512,
                 latency_s: float = 0.0, cold_start_s: float = 0.0, keep_alive_s: float = 300.0,
                 version: str = "0.17.4", pre_stream_error_mode: str = "status",
                 vision_models=None, responder: Callable[[str, dict], str] | None = None,
                 pullable=None, host: str = "127.0.0.1", port: int = 0, thinking_models=(),
                 default_num_ctx: int = 4096, aliases: dict[str, str] | None = None):
        if pre_stream_error_mode not in ("status", "ndjson"):
            raise ValueError("pre_stream_error_mode must be 'status' (>=0.12.6) or 'ndjson' (<=0.12.5)")
        self.num_parallel = num_parallel
        self.max_queue = max_queue
        self.latency_s = latency_s
        self.cold_start_s = cold_start_s
        self.keep_alive_s = keep_alive_s
        self.version = version
        self.pre_stream_error_mode = pre_stream_error_mode
        self.responder = responder
        self.host = host
        self.port = port
        self._vision = None if vision_models is None else {self._norm(n) for n in vision_models}
        # None: every name pulls except ones containing "missing"; else only these names pull.
        self._pullable = None if pullable is None else {self._norm(n) for n in pullable}
        self._thinking = {self._norm(n) for n in thinking_models}
        self.default_num_ctx = default_num_ctx
        self.aliases = dict(aliases or {})  # alias -> target, exact aliases only

        self._lock = threading.Lock()  # guards everything below
        self._models: dict[str, _Model] = {}
        self._replies: deque[Reply] = deque()
        self._fail_503 = 0
        self._load_waiters = 0  # requests queued behind a model load (the scheduler's channel)
        self._stats = StandInStats()
        self._stats_epoch = time.monotonic()
        self._slot_starts: dict[int, float] = {}  # token -> start of each slot hold in progress
        self._slot_ids = itertools.count()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()  # open client connections
        self._busy: set[socket.socket] = set()  # connections with a request in progress

        self._load_lock = threading.Lock()  # the scheduler loads one model at a time
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        for name in models:
            self.add_model(name)

    # ------------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        self._stopping.clear()
        self._listen()
        return self.url

    def stop(self) -> None:
        self._stopping.set()  # wakes every waiting or hung handler
        self._unlisten()

    def __enter__(self) -> OllamaStandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def pending_replies(self) -> int:
        with self._lock:
            return len(self._replies)

    def set_down(self, down: bool, *, drop_connections: bool = False) -> None:
        """down: stop listening (connections are refused); up: listen again on the same port.

        drop_connections also resets the requests in flight, like a crashed Ollama process.
        """
        if not down:
            self._listen()
            return
        self._unlisten()
        # Idle keep-alive connections must not keep answering while "down": close them too.
        with self._lock:
            socks = self._connections if drop_connections else self._connections - self._busy
            socks = list(socks)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def fail_with_503(self, count: int) -> None:
        with self._lock:
            self._fail_503 = count

    def add_model(self, name: str, *, vision: bool | None = None) -> None:
        parts = parse_model_name(name)
        if parts is None:
            raise ValueError(f"invalid model name {name!r}")
        if vision is None:
            vision = self._vision is None or _key(parts) in self._vision
        digest = hashlib.sha256(_key(parts).encode()).hexdigest()
        model = _Model(parts=parts, vision=vision, digest=digest, thinking=_key(parts) in self._thinking,
                       modified_at=datetime.now().astimezone().isoformat(),
                       size=4_000_000_000 + int(digest[:6], 16),
                       slots=threading.Semaphore(self.num_parallel))
        with self._lock:
            self._models[_key(parts)] = model

    def remove_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(self._norm(name), None)

    def is_loaded(self, name: str) -> bool:
        with self._lock:
            model = self._models.get(self._norm(name))
            return model is not None and self._loaded(model, time.monotonic())

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def stats(self) -> StandInStats:
        with self._lock:
            now = time.monotonic()
            running = sum(now - max(t, self._stats_epoch) for t in self._slot_starts.values())
            return replace(self._stats, per_path=dict(self._stats.per_path),
                           busy_slot_seconds=self._stats.busy_slot_seconds + running)

    def reset_stats(self) -> None:
        with self._lock:
            active = self._stats.active
            self._stats = StandInStats(active=active, max_concurrent_generations=active)
            self._stats_epoch = time.monotonic()

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ------------------------------------------------------------------ listening

    def _listen(self) -> None:
        if self._httpd is not None:
            return
        standin = self

        class Handler(_Handler):
            server_standin = standin

        httpd = _Server((self.host, self.port), Handler)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._serve_thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                              name=f"ollama-standin-{self.port}", daemon=True)
        self._serve_thread.start()

    def _unlisten(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()  # closes the listening socket: new connections are refused

    # ------------------------------------------------------------------ helpers

    def _norm(self, name: str) -> str:
        parts = parse_model_name(name)
        return _key(parts) if parts else name.lower()

    def _loaded(self, model: _Model, now: float) -> bool:
        return model.users > 0 or (model.loaded_until is not None and now < model.loaded_until)

    def _find(self, name: str) -> _Model | None:
        parts = parse_model_name(name)
        with self._lock:
            return self._models.get(_key(parts)) if parts else None

    def _count_503(self) -> _HTTPError:
        with self._lock:
            self._stats.rejected_503 += 1
        return _HTTPError(503, ERR_MAX_QUEUE)

    def _wait(self, seconds: float, conn: _Handler) -> None:
        """Sleep, but raise _Gone as soon as the client leaves or the server stops."""
        deadline = time.monotonic() + seconds
        while True:
            conn.check_alive()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._stopping.wait(min(left, _POLL_S))

    def _acquire(self, lock, conn: _Handler) -> None:
        while not lock.acquire(timeout=_POLL_S):
            conn.check_alive()

    # ------------------------------------------------------------------ scheduler (§5)

    def _ensure_loaded(self, model: _Model, conn: _Handler, runner: dict) -> None:
        """Load the model if needed: one load at a time, a bounded queue behind it, abortable. A model
        loaded with other runner options is loaded again (sched.go needsReload)."""
        with self._lock:
            if self._loaded(model, time.monotonic()) and model.runner == runner:
                model.users += 1  # v0.12 fast path: a loaded model skips the queue
                return
        if not self._load_lock.acquire(blocking=False):
            with self._lock:
                if self._load_waiters >= self.max_queue:
                    self._stats.rejected_503 += 1
                    raise _HTTPError(503, ERR_MAX_QUEUE)
                self._load_waiters += 1
            try:
                self._acquire(self._load_lock, conn)
            finally:
                with self._lock:
                    self._load_waiters -= 1
        try:
            with self._lock:
                loaded = self._loaded(model, time.monotonic()) and model.runner == runner
            if not loaded:
                # A disconnect during the load aborts it; the next waiter loads again.
                self._wait(self.cold_start_s, conn)
                with self._lock:
                    self._stats.loads += 1
                    model.runner = runner
            with self._lock:
                model.users += 1
        finally:
            self._load_lock.release()

    def _release_model(self, model: _Model, keep_alive_s: float) -> None:
        with self._lock:
            model.users -= 1
            # Each request restarts the idle timer; keep_alive 0 unloads once the model is idle.
            model.loaded_until = None if keep_alive_s == 0 else time.monotonic() + keep_alive_s

    def _hold_slot(self, model: _Model, conn: _Handler) -> int:
        self._acquire(model.slots, conn)  # unbounded wait, like llmServer.sem
        with self._lock:
            token = next(self._slot_ids)
            st = self._stats
            st.active += 1
            st.total_generations += 1
            st.max_concurrent_generations = max(st.max_concurrent_generations, st.active)
            self._slot_starts[token] = time.monotonic()
        return token

    def _free_slot(self, model: _Model, token: int) -> None:
        with self._lock:
            start = self._slot_starts.pop(token)
            self._stats.active -= 1
            self._stats.busy_slot_seconds += time.monotonic() - max(start, self._stats_epoch)
        model.slots.release()

    # ------------------------------------------------------------------ generate / chat

    def handle_generation(self, h: _Handler, endpoint: str, raw: bytes) -> None:
        arrival = time.monotonic()
        chat = endpoint == "/api/chat"
        struct = "ChatRequest" if chat else "GenerateRequest"
        body = h.decode_body(raw, struct)

        # Binding (all 400): field types, images, keep_alive.
        _check_fields(body, struct)
        if chat:
            all_images = []
            for msg in body.get("messages") or []:
                if not isinstance(msg, dict):
                    raise _type_error(_json_type(msg), struct, "messages", "api.Message")
                _check_fields(msg, "Message", "messages.")
                all_images += decode_images(msg.get("images") or [], "Message", "messages.images")
        else:
            all_images = decode_images(body.get("images") or [], struct, "images")
        keep_alive = (parse_keep_alive(body["keep_alive"]) if body.get("keep_alive") is not None
                      else self.keep_alive_s)
        think = body.get("think")
        if think is not None and not isinstance(think, (bool, str)):
            raise _HTTPError(400, f"invalid think value: {json.dumps(think)}")

        as_sent = body.get("model") or ""
        parts = parse_model_name(as_sent)
        if parts is None:
            if chat:
                raise _HTTPError(400, "model is required")
            raise _HTTPError(404, f"model '{as_sent}' not found")  # generate is odd (routes.go)
        if not chat and body.get("raw") and (body.get("template") or body.get("system")
                                             or body.get("context")):
            raise _HTTPError(400, "raw mode does not support template, system, or context")
        model = self._find(as_sent) or self._find(self._alias_target(as_sent))
        if model is None:
            raise _HTTPError(404, f"model '{as_sent}' not found")
        if think is True and not model.thinking:
            raise _HTTPError(400, f"{json.dumps(as_sent)} does not support thinking")
        thinks = model.thinking and think is not False  # absent means on for a thinking model

        load_only = not (body.get("messages") if chat else body.get("prompt"))
        if load_only and keep_alive == 0:
            with self._lock:
                if model.users == 0:
                    model.loaded_until = None
            h.send_json(200, self._final(chat, as_sent, "unload", None))
            return

        # Scheduling: options, 503s, the load (§5).
        options = body.get("options") or {}
        check_options(options)
        runner = {k: options.get(k) for k in RUNNER_OPTIONS if options.get(k) is not None}
        runner.setdefault("num_ctx", self.default_num_ctx)
        with self._lock:
            reply = None if load_only or not self._replies else self._replies.popleft()
            forced_503 = self._fail_503 > 0
            self._fail_503 -= 1 if forced_503 else 0
        if forced_503 or (reply and reply.fault == "status_503"):
            raise self._count_503()
        self._ensure_loaded(model, h, runner)
        try:
            loaded_at = time.monotonic()
            if not load_only:
                self._fit_context(body, chat, model, runner["num_ctx"], len(all_images))
            self._after_load(h, chat, body, as_sent, model, reply, all_images, load_only, (arrival, loaded_at),
                             thinks)
        finally:
            self._release_model(model, keep_alive)

    def _alias_target(self, name: str) -> str:
        """server/aliases.go ResolveName, exact aliases (keys without `:latest`), followed in a chain."""
        by_key = {self._alias_key(a): t for a, t in self.aliases.items()}
        current, seen = name, set()
        while self._alias_key(current) in by_key and self._alias_key(current) not in seen:
            seen.add(self._alias_key(current))
            current = by_key[self._alias_key(current)]
        return current

    def _alias_key(self, name: str) -> str:
        parts = parse_model_name(name)
        if parts is None:
            return name.lower()
        shown = display_name(parts)
        return (shown.rsplit(":", 1)[0] if parts[3].lower() == _DEFAULT_TAG else shown).lower()

    def _fit_context(self, body: dict, chat: bool, model: _Model, num_ctx: int, images: int) -> None:
        """Prompt over num_ctx: 400 with truncate:false (the runner), else chat drops its oldest
        non-system messages silently (server/prompt.go chatPrompt) and generate keeps the end."""
        def tokens(messages: list) -> int:
            return sum(len(m.get("content") or "") // 4 + IMAGE_TOKENS * len(m.get("images") or [])
                       for m in messages)
        if not chat:
            need = len(body.get("prompt") or "") // 4 + len(body.get("system") or "") // 4 + IMAGE_TOKENS * images
            if need > num_ctx and body.get("truncate") is False:
                raise _HTTPError(400, ERR_INPUT_TOO_LONG)
            return
        messages = list(body.get("messages") or [])
        if tokens(messages) <= num_ctx:
            return
        if body.get("truncate") is False:
            raise _HTTPError(400, ERR_INPUT_TOO_LONG)
        system = [m for m in messages if m.get("role") == "system"]
        rest = [m for m in messages if m.get("role") != "system"]
        while len(rest) > 1 and tokens(system + rest) > num_ctx:
            rest.pop(0)
            with self._lock:
                self._stats.truncated_messages += 1
        body["messages"] = system + rest

    def _after_load(self, h, chat, body, as_sent, model, reply, images, load_only, times, thinks) -> None:
        arrival, loaded_at = times
        reply = reply or Reply()
        if reply.fault == "status_500":
            raise _HTTPError(500, reply.error or ERR_RUNNER_CRASH)
        if load_only:
            h.send_json(200, self._final(chat, as_sent, "load", None))
            return
        stream = body.get("stream") is not False  # absent or null => stream
        fmt = body.get("format")
        if not (fmt is None or fmt in ("json", "") or isinstance(fmt, dict)):
            raw_fmt = json.dumps(fmt, ensure_ascii=False)
            self._pre_stream_error(h, stream, f"invalid format: {json.dumps(raw_fmt)}; "
                                              f'expected "json" or a valid JSON Schema object')
            return
        token = self._hold_slot(model, h)
        try:
            slot_at = time.monotonic()
            if images and not model.vision:
                self._pre_stream_error(h, stream, ERR_NO_VISION)
                return
            if any(not is_image(im) for im in images):
                self._pre_stream_error(h, stream, ERR_IMAGE_FORMAT)
                return
            if reply.fault == "hang":
                self._wait(_FOREVER, h)
            if reply.fault == "error_before":
                self._wait(self._latency(reply) / 2, h)
                self._pre_stream_error(h, stream, reply.error or ERR_RUNNER)
                return
            text = reply.text
            if text is None:
                text = (self.responder or default_responder)(h.path_only, body)
            text, done_reason = _faulty_text(reply, text)
            thinking = ""
            if thinks:  # the model spends its num_predict thinking: no answer left
                thinking, text, done_reason = "Let me think about this. " + text, "", "length"
            self._generate(h, chat, stream, as_sent, (text, thinking), done_reason, reply, (arrival, loaded_at),
                           slot_at)
        finally:
            self._free_slot(model, token)

    def _latency(self, reply: Reply) -> float:
        return self.latency_s if reply.delay_s is None else reply.delay_s

    def _generate(self, h, chat, stream, as_sent, texts, done_reason, reply, times, slot_at) -> None:
        text, thinking = texts
        arrival, loaded_at = times
        latency = self._latency(reply)
        pieces = [("", thinking[i:i + _CHUNK_CHARS]) for i in range(0, len(thinking), _CHUNK_CHARS)]
        pieces += [(text[i:i + _CHUNK_CHARS], "") for i in range(0, len(text), _CHUNK_CHARS)]
        pieces = pieces or [("", "")]
        if reply.fault == "error_after":
            pieces = pieces[:1]

        def metrics() -> dict:
            end = time.monotonic()
            gen_ns = max(2, int((end - slot_at) * 1e9))
            # load_duration is taken when the runner is ready, before the wait for a slot (routes.go).
            return {"total_duration": max(1, int((end - arrival) * 1e9)),
                    "load_duration": max(1, int((loaded_at - arrival) * 1e9)),
                    "prompt_eval_count": reply.prompt_eval_count,
                    "prompt_eval_duration": gen_ns // 5,
                    "eval_count": reply.eval_count, "eval_duration": gen_ns - gen_ns // 5}

        if not stream:
            self._wait(latency, h)
            if reply.fault == "error_after":
                raise _HTTPError(500, reply.error or ERR_RUNNER)  # non-stream: any runner error is 500
            if reply.fault == "repeat_cut":  # the collected chunks, and no final one: done stays false
                h.send_json(200, self._chunk(chat, as_sent, text, thinking))
                return
            h.send_json(200, self._final(chat, as_sent, done_reason, metrics(), text, thinking))
            return
        h.start_stream()
        for content, thought in pieces:
            self._wait(latency / len(pieces), h)
            h.write_line(self._chunk(chat, as_sent, content, thought))
        if reply.fault == "error_after":
            h.write_line({"error": reply.error or ERR_RUNNER})  # status stays 200 (routes.go streamResponse)
        elif reply.fault != "repeat_cut":  # the repeat guard ends the stream without a final chunk
            h.write_line(self._final(chat, as_sent, done_reason, metrics(), ""))
        h.end_stream()

    def _pre_stream_error(self, h, stream: bool, message: str) -> None:
        if stream and self.pre_stream_error_mode == "ndjson":  # <= v0.12.5: 200 + one error line
            h.start_stream()
            h.write_line({"error": message})
            h.end_stream()
        else:
            raise _HTTPError(500, message)

    @staticmethod
    def _chunk(chat: bool, as_sent: str, content: str, thinking: str = "") -> dict:
        out: dict = {"model": as_sent, "created_at": _now_rfc3339()}
        if chat:
            out["message"] = {"role": "assistant", "content": content}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = content
            if thinking:
                out["thinking"] = thinking
        out["done"] = False
        return out

    def _final(self, chat: bool, as_sent: str, done_reason: str, metrics: dict | None,
               content: str = "", thinking: str = "") -> dict:
        out = self._chunk(chat, as_sent, content, thinking)
        out["done"] = True
        out["done_reason"] = done_reason
        if metrics is not None:
            if not chat:
                out["context"] = [1, 2, 3]
            out.update(metrics)
        return out

    # ------------------------------------------------------------------ other endpoints

    def handle_tags(self, h: _Handler) -> None:
        with self._lock:
            models = sorted(self._models.values(), key=lambda m: m.modified_at, reverse=True)
            rows = [{"name": m.name, "model": m.name, "modified_at": m.modified_at, "size": m.size,
                     "digest": m.digest, "details": m.details()} for m in models]
        h.send_json(200, {"models": rows})

    def handle_ps(self, h: _Handler) -> None:
        now_m, now_w = time.monotonic(), datetime.now().astimezone()
        rows = []
        with self._lock:
            for m in self._models.values():
                if not self._loaded(m, now_m):
                    continue
                left = (m.loaded_until or now_m + self.keep_alive_s) - now_m
                expires = (now_w + timedelta(seconds=left) if left != _FOREVER
                           else now_w.replace(year=2318))
                rows.append({"name": m.name, "model": m.name, "size": m.size, "digest": m.digest,
                             "details": m.details(), "expires_at": expires.isoformat(),
                             "size_vram": m.size,
                             "context_length": (m.runner or {}).get("num_ctx", self.default_num_ctx)})
        rows.sort(key=lambda r: r["expires_at"], reverse=True)
        h.send_json(200, {"models": rows})

    def handle_show(self, h: _Handler, raw: bytes) -> None:
        body = h.decode_body(raw, "ShowRequest")
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HTTPError(400, "model is required")
        if parse_model_name(name) is None:
            raise _HTTPError(400, "invalid model name")
        model = self._find(name)
        if model is None:
            raise _HTTPError(404, f"model '{name}' not found")
        info = {"general.architecture": "llama", "general.parameter_count": 6_738_415_616,
                "llama.context_length": 32768, "llama.embedding_length": 4096}
        out = {"license": "stand-in license", "parameters": 'stop "[INST]"\nstop "[/INST]"',
               "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
               "template": "[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]",
               "details": model.details(), "model_info": info,
               "capabilities": ["completion"] + (["vision"] if model.vision else [])
                               + (["thinking"] if model.thinking else []),
               "modified_at": model.modified_at}
        if model.vision:
            out["projector_info"] = {"clip.has_vision_encoder": True}
        h.send_json(200, out)

    def handle_pull(self, h: _Handler, raw: bytes) -> None:
        body = h.decode_body(raw, "PullRequest")
        name = body.get("model") or body.get("name") or ""
        parts = parse_model_name(name)
        if parts is None:
            raise _HTTPError(400, "invalid model name")
        known = ("missing" not in name.lower() if self._pullable is None
                 else _key(parts) in self._pullable)
        digest = "sha256:" + hashlib.sha256(_key(parts).encode()).hexdigest()
        total = 4_108_916_384
        progress = [{"status": "pulling manifest"}]
        if known:
            progress += [{"status": f"pulling {digest[7:19]}", "digest": digest, "total": total},
                         {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total // 2},
                         {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total},
                         {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
                         {"status": "success"}]
        if body.get("stream") is False:
            if not known:
                raise _HTTPError(500, ERR_PULL_MANIFEST)
            self.add_model(name)
            h.send_json(200, progress[-1])
            return
        h.start_stream()
        for line in progress:
            h.write_line(line)
        if known:
            self.add_model(name)
        else:
            h.write_line({"error": ERR_PULL_MANIFEST})  # 200: output has started (§2.5)
        h.end_stream()

    # ------------------------------------------------------------------ bookkeeping for handlers

    def _record(self, rec: RecordedRequest, sock: socket.socket) -> None:
        with self._lock:
            self._requests.append(rec)
            self._stats.per_path[rec.path] = self._stats.per_path.get(rec.path, 0) + 1
            self._busy.add(sock)

    def _finish(self, rec: RecordedRequest, sock: socket.socket, status: int | None) -> None:
        with self._lock:
            rec.ended_at = time.monotonic()
            rec.status = status
            self._busy.discard(sock)

    def _connection(self, sock: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(sock)


# route -> allowed methods (gin answers 405 for a known path with another method)
_ROUTES = {"/": ("GET", "HEAD"), "/api/version": ("GET", "HEAD"), "/api/tags": ("GET", "HEAD"),
           "/api/ps": ("GET",), "/api/show": ("POST",), "/api/pull": ("POST",),
           "/api/generate": ("POST",), "/api/chat": ("POST",), "/api/experimental/aliases": ("GET",)}


class _Handler(BaseHTTPRequestHandler):
    """Per-connection HTTP/1.1 handler; the behaviour lives on OllamaStandIn."""

    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like Go's net/http
    server_standin: OllamaStandIn  # set on a per-server subclass
    server_version = "ollama-standin"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Go's net/http sets TCP_NODELAY: small writes leave at once instead of waiting for an ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server_standin._connection(self.connection, True)

    def finish(self) -> None:
        self.server_standin._connection(self.connection, False)
        super().finish()

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self):
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    @property
    def path_only(self) -> str:
        return self.path.split("?", 1)[0]

    def _dispatch(self) -> None:
        standin = self.server_standin
        raw = self._read_body()
        body = None
        try:
            parsed = json.loads(raw) if raw else None
            body = parsed if isinstance(parsed, dict) else None
        except ValueError:
            pass
        rec = RecordedRequest(self.command, self.path_only, body, time.monotonic())
        self._status: int | None = None
        self._streaming = False
        self._headers_pending = False
        standin._record(rec, self.connection)
        try:
            self._route(standin, raw)
        except _HTTPError as err:
            if self._streaming:  # cannot change the status any more: end the stream with the error
                self.write_line({"error": err.message})
                self.end_stream()
            else:
                self.send_json(err.status, {"error": err.message})
        except (_Gone, ConnectionError, OSError):
            self.close_connection = True
            self._status = None
        except Exception as exc:  # a stand-in bug: make it loud in the test rather than a hang
            self.close_connection = True
            if not self._streaming and self._status is None:
                self.send_json(500, {"error": f"ollama stand-in bug: {exc!r}"})
            raise
        finally:
            standin._finish(rec, self.connection, self._status)

    def _route(self, standin: OllamaStandIn, raw: bytes) -> None:
        path, method = self.path_only, self.command
        if path not in _ROUTES:
            return self.send_text(404, "404 page not found")
        if method not in _ROUTES[path]:
            return self.send_text(405, "405 method not allowed")
        if path == "/":
            return self.send_text(200, "Ollama is running")
        if path == "/api/version":
            return self.send_json(200, {"version": standin.version})
        if path == "/api/tags":
            return standin.handle_tags(self)
        if path == "/api/ps":
            return standin.handle_ps(self)
        if path == "/api/show":
            return standin.handle_show(self, raw)
        if path == "/api/pull":
            return standin.handle_pull(self, raw)
        if path == "/api/experimental/aliases":
            return self.send_json(200, {"aliases": [{"alias": a, "target": t} for a, t in standin.aliases.items()]})
        return standin.handle_generation(self, path, raw)

    # ------------------------------------------------------------------ request side

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def decode_body(self, raw: bytes, struct: str) -> dict:
        """Gin's ShouldBindJSON: 400 for an empty body, bad JSON or a non-object."""
        if not raw.strip():
            raise _HTTPError(400, "missing request body")
        doc = raw.decode("utf-8", errors="replace")
        try:
            value, _ = json.JSONDecoder().raw_decode(doc, len(doc) - len(doc.lstrip()))
        except json.JSONDecodeError as err:  # trailing data is ignored by Go's Decoder, like here
            raise _HTTPError(400, _go_syntax_error(doc, err)) from None
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _HTTPError(400, f"json: cannot unmarshal {_json_type(value)} into Go value of "
                                  f"type api.{struct}")
        return value

    def check_alive(self) -> None:
        """Raise _Gone if the server stops or the client has closed its end of the connection."""
        if self.server_standin._stopping.is_set():
            raise _Gone()
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                raise _Gone()
        except (OSError, ValueError):
            raise _Gone() from None

    # ------------------------------------------------------------------ response side

    def _headers_with(self, data: bytes) -> None:
        """End the headers and send them together with `data` in one write, as Go's net/http does."""
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self._headers_with(data if self.command != "HEAD" else b"")
        self._status = status

    def send_text(self, status: int, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", text.encode())

    def send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, "application/json; charset=utf-8", data)

    def start_stream(self) -> None:
        """Headers are held back and leave with the first chunk (gin writes them on the first Write)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self._headers_pending = True
        self._status = 200
        self._streaming = True

    def _write(self, data: bytes) -> None:
        if getattr(self, "_headers_pending", False):
            self._headers_pending = False
            self._headers_with(data)
        else:
            self.wfile.write(data)

    def write_line(self, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self._write(b"%x\r\n%s\r\n" % (len(data), data))  # one HTTP chunk per line = flush

    def end_stream(self) -> None:
        self._write(b"0\r\n\r\n")
        self._streaming = False
