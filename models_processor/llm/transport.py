"""The HTTP exchange of a generate/chat call, on the Session's own urllib3 pool, without requests' per-call work.

Why: profiled under load, requests' per-call work (building and preparing a Request, merging the session's
settings, hooks, cookie jars, a Response object, then iter_lines over iter_content) was about a third of the
service's CPU, for a call whose method, headers and host never change (docs/BENCHMARKS.md, "A leaner
per-request path"). Here the body goes out pre-serialised with fixed headers on the connection pool the
Session's adapter already holds for this server (same connections, same size), with urllib3's retries
off, and the NDJSON stream is read chunk by chunk as the server flushes it (one line per token), so every
token is seen as it arrives and the caller can still tighten the socket timeout between tokens.

urllib3's exceptions leave this module as the requests exceptions requests itself would raise for them
(requests/adapters.py and Response.iter_content), so failures.py classifies both paths alike.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError as Urllib3SSLError

__all__ = ["StreamingPost", "as_requests_error", "body_lines", "body_text", "finish", "socket_of"]

# Fewer than requests sends: HTTP/1.1 keeps the connection alive without saying so, and Ollama's Go server
# does not compress (urllib3 asks for identity).
_HEADERS = {"Content-Type": "application/json", "User-Agent": "models-processor"}


def as_requests_error(exc: Exception, *, in_body: bool) -> requests.RequestException:
    """The requests exception requests raises for this urllib3/socket failure (`in_body`: while reading the
    body, where requests reports a read timeout as ConnectionError(ReadTimeoutError))."""
    if isinstance(exc, requests.RequestException):
        return exc
    if isinstance(exc, ReadTimeoutError):
        return requests.ConnectionError(exc) if in_body else requests.ReadTimeout(exc)
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return requests.ConnectTimeout(exc)
    if isinstance(exc, Urllib3SSLError):
        return requests.exceptions.SSLError(exc)
    if in_body and isinstance(exc, ProtocolError):
        return requests.exceptions.ChunkedEncodingError(exc)
    if isinstance(exc, (ProtocolError, NewConnectionError, OSError, Urllib3Error)):
        return requests.ConnectionError(exc)
    return requests.RequestException(exc)


class StreamingPost:
    """POSTs of JSON bodies to one server, streamed back, on the connection pool of `session`'s adapter."""

    def __init__(self, session: requests.Session, base_url: str) -> None:
        parts = urlsplit(base_url)
        self._prefix = parts.path.rstrip("/")
        adapter = session.get_adapter(base_url)
        if not isinstance(adapter, HTTPAdapter):
            raise TypeError(f"the session's adapter for {base_url} is a {type(adapter).__name__}, not an HTTPAdapter")
        # The pool requests itself would use for this URL (TLS settings included: verify on, as a plain
        # session.request does).
        probe = requests.Request("POST", base_url).prepare()
        pool = adapter.get_connection_with_tls_context(probe, verify=True)
        if not isinstance(pool, urllib3.HTTPConnectionPool):  # HTTPSConnectionPool is one too
            raise TypeError(f"no urllib3 connection pool for {base_url}")
        self._pool = pool

    def post(self, path: str, body: bytes, timeout: tuple[float, float]) -> urllib3.BaseHTTPResponse:
        """Up to the response headers; the body is left on the connection for body_lines()."""
        try:
            return self._pool.urlopen("POST", self._prefix + path, body=body, headers=_HEADERS, retries=False,
                                      redirect=False, assert_same_host=False, preload_content=False,
                                      decode_content=False, timeout=urllib3.Timeout(connect=timeout[0],
                                                                                    read=timeout[1]))
        except (Urllib3Error, OSError) as exc:
            raise as_requests_error(exc, in_body=False) from exc


def body_text(resp: urllib3.BaseHTTPResponse) -> str:
    """The whole (small) body of an answer, e.g. an error status's `{"error": ...}`."""
    try:
        return resp.read().decode("utf-8", "replace")
    except (Urllib3Error, OSError) as exc:
        raise as_requests_error(exc, in_body=True) from exc


def body_lines(resp: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The non-blank lines of an NDJSON body, each as soon as its last byte arrived. A body read to its end
    hands the connection back to the pool (urllib3 releases it when the response closes)."""
    pending = b""
    try:
        # amt=None: each HTTP chunk whole, as it arrives (Ollama flushes one chunk per line).
        for data in resp.stream(None):
            if pending:
                data = pending + data
            *lines, pending = data.split(b"\n")
            for line in lines:
                if line.strip():
                    yield line
    except (Urllib3Error, OSError) as exc:
        raise as_requests_error(exc, in_body=True) from exc
    if pending.strip():
        yield pending


def socket_of(resp: urllib3.BaseHTTPResponse) -> socket.socket | None:
    """The socket a streamed body is read from (None once the connection went back to the pool)."""
    conn = getattr(resp, "connection", None)
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def finish(resp: urllib3.BaseHTTPResponse) -> None:
    """Done with a response: one read to its end already went back to the pool; one left unread is closed
    (its connection has bytes we will not read) and its slot handed back, as requests' Response.close does."""
    resp.close()
    resp.release_conn()
