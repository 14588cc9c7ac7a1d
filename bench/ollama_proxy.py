"""A recording pass-through proxy in front of a real Ollama server, for the benchmarks.

A real server keeps no per-request record the benchmark could read, so this proxy sits between the client
(the service or the naive loop) and the server and records every generate call: when it started and ended
at the HTTP level, and Ollama's own accounting from the final chunk (eval_count, prompt_eval_count,
eval_duration). Bodies and streams pass through unchanged, chunk by chunk, so streaming, timeouts and
errors look to the client as they would without it. Loopback only; the cost is one local hop per call.

    with RecordingProxy("http://127.0.0.1:11434") as proxy:
        ... point OLLAMA_HOST at proxy.url ...
        occupancy(proxy.generations(), slots=2)
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

GENERATE_PATHS = ("/api/generate", "/api/chat")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}


@dataclass
class Call:
    """One generate/chat call that carried a prompt (warm-ups and unloads are not generations)."""

    started_at: float  # time.monotonic()
    ended_at: float
    status: int
    eval_count: int = 0  # output tokens (Ollama's final chunk); 0 when the stream had no final chunk
    prompt_eval_count: int = 0
    eval_duration_ns: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:  # quiet: the benchmark prints its own table
        return

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_DELETE(self) -> None:
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        started = time.monotonic()
        upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=3600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        final: dict[str, Any] = {}
        try:
            for line in iter(response.readline, b""):  # NDJSON: one chunk per line, passed on at once
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                final = _final_chunk(line) or final
            self.wfile.write(b"0\r\n\r\n")
        finally:
            upstream.close()
            self._record(body, started, response.status, final)

    def _record(self, body: bytes | None, started: float, status: int, final: dict[str, Any]) -> None:
        if self.path not in GENERATE_PATHS or not body:
            return
        request = json.loads(body)
        if not (request.get("prompt") or request.get("messages")):
            return
        call = Call(started, time.monotonic(), status, int(final.get("eval_count") or 0),
                    int(final.get("prompt_eval_count") or 0), int(final.get("eval_duration") or 0))
        with self.server.lock:
            self.server.calls.append(call)


def _final_chunk(line: bytes) -> dict[str, Any] | None:
    try:
        chunk = json.loads(line)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) and chunk.get("done") else None


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 11434
        self.lock = threading.Lock()
        self.calls: list[Call] = []


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        self._server = _ProxyServer(upstream)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="ollama-proxy")

    def start(self) -> RecordingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def generations(self) -> list[Call]:
        with self._server.lock:
            return list(self._server.calls)

    def clear(self) -> None:
        with self._server.lock:
            self._server.calls.clear()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def occupancy(calls: list[Call], slots: int) -> dict[str, float]:
    """Slot occupancy at the server, seen from its HTTP side: the integral of min(in flight, slots) over the
    window from the first call's start to the last one's end, divided by slots x window. A call in flight
    holds a slot or waits for one; the server never runs more than `slots` at once, so min() is its busy
    slots. Also the peak in flight (above `slots`: calls waiting at the server)."""
    if not calls:
        return {"window_s": 0.0, "occupancy": 0.0, "max_in_flight": 0}
    events = sorted([(c.started_at, 1) for c in calls] + [(c.ended_at, -1) for c in calls])
    busy = 0.0
    in_flight = peak = 0
    last = events[0][0]
    for at, delta in events:
        busy += min(in_flight, slots) * (at - last)
        last = at
        in_flight += delta
        peak = max(peak, in_flight)
    window = events[-1][0] - events[0][0]
    return {"window_s": window, "occupancy": busy / (slots * window) if window else 0.0, "max_in_flight": peak}
