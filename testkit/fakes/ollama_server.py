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

import hashlib
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from testkit.fakes.ollama_http import _Handler, _Server
from testkit.fakes.ollama_wire import (
    _DEFAULT_TAG,
    ERR_IMAGE_FORMAT,
    ERR_INPUT_TOO_LONG,
    ERR_MAX_QUEUE,
    ERR_NO_VISION,
    ERR_OUT_OF_MEMORY,
    ERR_PULL_MANIFEST,
    ERR_RUNNER,
    ERR_RUNNER_CRASH,
    IMAGE_TOKENS,
    RUNNER_OPTIONS,
    RecordedRequest,
    _check_fields,
    _HTTPError,
    _json_type,
    _key,
    _type_error,
    check_options,
    decode_images,
    default_responder,
    display_name,
    go_base64_error,
    is_image,
    parse_keep_alive,
    parse_model_name,
    schema_instance,
)

__all__ = ["ERR_IMAGE_FORMAT", "ERR_INPUT_TOO_LONG", "ERR_MAX_QUEUE", "ERR_NO_VISION", "ERR_OUT_OF_MEMORY",
           "ERR_PULL_MANIFEST", "ERR_RUNNER", "ERR_RUNNER_CRASH", "FAULTS", "IMAGE_TOKENS", "OllamaStandIn",
           "RecordedRequest", "Reply", "StandInStats", "display_name", "go_base64_error", "parse_model_name",
           "schema_instance"]

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
        self._httpd: _Server | None = None
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
