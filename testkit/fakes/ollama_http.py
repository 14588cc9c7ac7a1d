"""The HTTP side of the Ollama stand-in: a threaded HTTP/1.1 server whose handler routes to an
OllamaStandIn (ollama_server.py), with Go net/http's habits (TCP_NODELAY, headers and body in one write,
chunked NDJSON streams)."""

from __future__ import annotations

import json
import select
import socket
import socketserver
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testkit.fakes.ollama_wire import RecordedRequest, _go_syntax_error, _HTTPError, _json_type

if TYPE_CHECKING:
    from testkit.fakes.ollama_server import OllamaStandIn


def _system_backlog() -> int:
    """The listen backlog Go's net.Listen asks for on Linux: net.core.somaxconn (sock_linux.go)."""
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return socket.SOMAXCONN


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # hung handlers must not keep the test process alive
    allow_reuse_address = True  # come back on the same port despite TIME_WAIT
    # socketserver's backlog is 5: a burst of new connections (16 workers at the start of a burst) overflowed
    # it, the kernel dropped the extra SYNs, and the client resent them a second later, a 1 s call that
    # Ollama never causes (docs/BENCHMARKS.md).
    request_queue_size = _system_backlog()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), which can stall on a DNS lookup; loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Gone(Exception):
    """The client disconnected or the server is stopping: end the request without answering."""


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
            if standin._finish(rec, self.connection, self._status):
                self.close_connection = True

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
