"""A faithful stand-in Ollama server for tests (a fixture; the product never imports it).

It is a real HTTP server on loopback that follows Ollama v0.17.4 (docs/ollama.md; the Go source files
named below): the same routes, status codes, error strings, NDJSON streaming, model-name rules, and the
scheduler's concurrency shape (per-model NUM_PARALLEL slots with unbounded waiting, one model load at a
time, a bounded load queue that answers 503). Faults are scripted with `Reply` objects. The real server
(testkit/local_ollama, tests/ollama/) is the reference; this stand-in is for what it cannot be made to do
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
- a freed slot goes to the call that has waited longest (llmServer.sem is x/sync's semaphore.Weighted,
  FIFO; fifo_slots.py).
- TCP_NODELAY, and headers sent together with the body (or the first stream chunk) in one write, as Go's
  net/http does; two small writes without it cost ~40 ms per call on a reused connection (Nagle plus
  delayed ACK).

Stdlib only. All mutable state lives on an `OllamaStandIn` instance, guarded by its lock.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from testkit.fakes.fifo_slots import FifoSlots
from testkit.fakes.ollama_generation import GenerationEndpoints
from testkit.fakes.ollama_http import _Handler, _Server
from testkit.fakes.ollama_wire import (
    ERR_IMAGE_FORMAT,
    ERR_INPUT_TOO_LONG,
    ERR_MAX_QUEUE,
    ERR_NO_VISION,
    ERR_OUT_OF_MEMORY,
    ERR_PULL_MANIFEST,
    ERR_RUNNER,
    ERR_RUNNER_CRASH,
    FAULTS,
    IMAGE_TOKENS,
    RecordedRequest,
    Reply,
    _HTTPError,
    _key,
    display_name,
    go_base64_error,
    parse_model_name,
    schema_instance,
)

__all__ = ["ERR_IMAGE_FORMAT", "ERR_INPUT_TOO_LONG", "ERR_MAX_QUEUE", "ERR_NO_VISION", "ERR_OUT_OF_MEMORY",
           "ERR_PULL_MANIFEST", "ERR_RUNNER", "ERR_RUNNER_CRASH", "FAULTS", "IMAGE_TOKENS", "OllamaStandIn",
           "RecordedRequest", "Reply", "StandInStats", "display_name", "go_base64_error", "parse_model_name",
           "schema_instance"]


_POLL_S = 0.02  # how often waiting threads look for a client disconnect or stop()


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


# --------------------------------------------------------------------------- the server


@dataclass
class _Model:
    parts: tuple[str, str, str, str]
    vision: bool
    modified_at: str
    digest: str
    size: int
    slots: FifoSlots
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


class OllamaStandIn(GenerationEndpoints):
    """A threaded loopback server that behaves like Ollama (see the module docstring)."""

    def __init__(self, models=("llava:7b",), *, num_parallel: int = 1, max_queue: int = 512,
                 latency_s: float = 0.0, cold_start_s: float = 0.0, keep_alive_s: float = 300.0,
                 version: str = "0.17.4", pre_stream_error_mode: str = "status",
                 vision_models=None, responder: Callable[[str, dict], str] | None = None,
                 pullable=None, host: str = "127.0.0.1", port: int = 0, thinking_models=(),
                 default_num_ctx: int = 4096, aliases: dict[str, str] | None = None,
                 latency_for: Callable[[dict], float | None] | None = None):
        if pre_stream_error_mode not in ("status", "ndjson"):
            raise ValueError("pre_stream_error_mode must be 'status' (>=0.12.6) or 'ndjson' (<=0.12.5)")
        self.num_parallel = num_parallel
        self.max_queue = max_queue
        self.latency_s = latency_s
        self.latency_for = latency_for  # the request body -> its own latency (None: latency_s)
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
                       slots=FifoSlots(self.num_parallel))
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

    def settled_requests(self, timeout_s: float = 5.0) -> list[RecordedRequest]:
        """The recorded requests once every handler has finished: a client holds its answer a moment
        before the handler records its end, so a test reading `ended_at` waits for that here."""
        deadline = time.monotonic() + timeout_s
        while any(r.ended_at is None for r in self.requests) and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    def settled_stats(self, timeout_s: float = 5.0) -> StandInStats:
        """The counters once every handler has finished: the slot (`active`, `busy_slot_seconds`) and the
        model's keep-alive are let go just after the answer is written, as in Go (see settled_requests)."""
        self.settled_requests(timeout_s)
        return self.stats

    def is_loading(self) -> bool:
        """A model load is in progress (the scheduler's one load at a time): tests wait for it instead of
        sleeping."""
        return self._load_lock.locked()

    def open_connections(self) -> list[socket.socket]:
        """The server's side of every open client connection (a copy: handlers add and drop them)."""
        with self._lock:
            return list(self._connections)

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
        model.slots.acquire(conn.check_alive, _POLL_S)  # unbounded wait in arrival order, like llmServer.sem
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

    # ------------------------------------------------------------------ bookkeeping for handlers

    def _record(self, rec: RecordedRequest, sock: socket.socket) -> None:
        with self._lock:
            self._requests.append(rec)
            self._stats.per_path[rec.path] = self._stats.per_path.get(rec.path, 0) + 1
            self._busy.add(sock)

    def _finish(self, rec: RecordedRequest, sock: socket.socket, status: int | None) -> bool:
        """Record the end; True when the connection must close now: the server went down while this
        request was in flight (set_down closes idle connections only; Go's Server.Shutdown closes the
        busy ones once their answer is out, so a down server never answers on a kept-alive one)."""
        with self._lock:
            rec.ended_at = time.monotonic()
            rec.status = status
            self._busy.discard(sock)
            return self._httpd is None

    def _connection(self, sock: socket.socket, is_open: bool) -> None:
        with self._lock:
            (self._connections.add if is_open else self._connections.discard)(sock)


# route -> allowed methods (gin answers 405 for a known path with another method)
