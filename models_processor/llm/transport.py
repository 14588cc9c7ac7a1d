"""The HTTP exchange of a generate/chat call, on the Session's own urllib3 pool, without requests' per-call work.

Why: profiled under load, requests' per-call work (building and preparing a Request, merging the session's
settings, hooks, cookie jars, a Response object, then iter_lines over iter_content) was about a third of the
service's CPU, for a call whose method, headers and host never change (docs/BENCHMARKS.md, "A leaner
per-request path"). Here the body goes out pre-serialised with fixed headers on the connection pool the
Session's adapter already holds for this server (same connections, same size), with urllib3's retries
off, and the NDJSON stream is read as the server flushes it (one line per token), so every token is seen as
it arrives and the caller can still tighten the socket timeout between tokens. The chunked framing is parsed
here, one read per arrival, and the reads after the first wait in recv under the kernel's receive timeout
(docs/BENCHMARKS.md, "2026-12-01 (later): a leaner request path").

urllib3's exceptions leave this module as the requests exceptions requests itself would raise for them
(requests/adapters.py and Response.iter_content), so failures.py classifies both paths alike.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable, Iterator
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

# Bytes asked of the connection per read (the buffered reader returns what it has, up to this), and the
# longest chunk size or trailer line accepted (urllib3's limit).
_READ_SIZE = 16384
_MAX_SIZE_LINE = 4096

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
    hands the connection back to the pool (as urllib3 does when a response is read to its end)."""
    original = getattr(resp, "_original_response", None)  # the http.client response (requests reads it too)
    fp = getattr(original, "fp", None)
    if not getattr(resp, "chunked", False) or original is None or fp is None:
        yield from _stream_lines(resp)  # a body with a length (no real Ollama stream): urllib3's reader
        return
    reads = _Reads(fp.read1, socket_of(resp))
    try:
        yield from _chunked_lines(reads)
    except TimeoutError as exc:
        # As urllib3's reader would say it: requests turns this into ConnectionError(ReadTimeoutError).
        raise as_requests_error(ReadTimeoutError(None, None, "Read timed out."), in_body=True) from exc  # type: ignore[arg-type]
    except (Urllib3Error, OSError) as exc:
        raise as_requests_error(_as_urllib3_error(exc), in_body=True) from exc
    reads.restore()
    # Read to its end: the http.client response is closed first (the connection refuses a new request
    # while it is open), then the connection goes back to the pool.
    original.close()
    resp.release_conn()


class _Reads:
    """The reads of one body: the first from the connection's buffered reader (the first chunks may have
    come in with the headers; a read of more than its buffer leaves it empty), the rest from the socket.
    Python's timeout mode makes each read a poll and then a recv, two system calls and two GIL hand-overs;
    here the socket blocks in recv and the kernel's receive timeout (SO_RCVTIMEO) holds the timeout the
    caller set with settimeout, applied again whenever the caller changes it (the deadline's remainder)."""

    def __init__(self, buffered: Callable[[int], bytes], sock: socket.socket | None) -> None:
        self._buffered = buffered
        self._first = True
        self._sock = sock
        self._timeout: float | None = None  # the timeout SO_RCVTIMEO holds (None: not applied)

    def __call__(self, size: int) -> bytes:
        sock = self._sock
        if self._first or sock is None:  # no socket: a stand-in reader in tests
            self._first = False
            return self._buffered(size)
        wanted = sock.gettimeout()  # None once applied, unless the caller set a new one
        if wanted is not None:
            self._apply(sock, wanted)
        try:
            return sock.recv(size)
        except BlockingIOError:  # EAGAIN from a blocking recv: SO_RCVTIMEO ran out
            raise TimeoutError("timed out") from None

    def _apply(self, sock: socket.socket, timeout: float) -> None:
        whole = int(timeout)
        micros = int((timeout - whole) * 1e6) or (0 if whole else 1)  # 0 s 0 µs would mean "no timeout"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", whole, micros))
        sock.settimeout(None)  # blocking: recv waits in the kernel, up to SO_RCVTIMEO
        self._timeout = timeout

    def restore(self) -> None:
        """The socket as the caller left it (timeout mode, no kernel receive timeout), for the pool."""
        sock, timeout = self._sock, self._timeout
        if sock is not None and timeout is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 0))
            sock.settimeout(timeout)
            self._timeout = None


def _as_urllib3_error(exc: Exception) -> Exception:
    """What urllib3's reader raises for this failure while reading a body (HTTPResponse._error_catcher)."""
    if isinstance(exc, Urllib3Error):
        return exc
    if isinstance(exc, ssl.SSLError):
        return Urllib3SSLError(exc)
    return ProtocolError(f"Connection broken: {exc!r}", exc)


def _chunked_lines(read1: Callable[[int], bytes]) -> Iterator[bytes]:
    """The non-blank lines of a chunked body (RFC 9112 7.1), parsed from whatever each read returns: one
    read per arrival hands over every chunk that came in it, where http.client and urllib3 make a readline
    and two reads per chunk. `read1`: the connection's buffered reader, which answers from its buffer first
    (the first chunks may have come in with the headers) and otherwise makes one socket read."""
    buf = b""  # received, not yet parsed
    line = b""  # the current NDJSON line, possibly spread over several chunks
    left = 0  # bytes of the current chunk's data still to come; 0: a size line comes next
    while True:
        if left == 0:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > _MAX_SIZE_LINE:
                    raise ProtocolError("Response chunk size line exceeded maximum allowed length")
                buf += _more(read1)
                continue
            try:
                left = int(buf[:end].split(b";", 1)[0], 16)
            except ValueError:
                raise ProtocolError(f"Invalid chunk size line {buf[:end][:40]!r}") from None
            buf = buf[end + 2:]
            if left < 0:
                raise ProtocolError("Negative chunk size")
            if left == 0:
                break
        while len(buf) < left + 2:  # the data and its CRLF
            buf += _more(read1)
        if buf[left:left + 2] != b"\r\n":
            raise ProtocolError("Chunk data not followed by CRLF")
        line += buf[:left]
        buf = buf[left + 2:]
        left = 0
        if b"\n" in line:
            *whole, line = line.split(b"\n")
            for one in whole:
                if one.strip():
                    yield one
    _end_of_body(buf, read1)
    if line.strip():
        yield line


def _more(read1: Callable[[int], bytes]) -> bytes:
    data = read1(_READ_SIZE)
    if not data:
        raise ProtocolError("Response ended prematurely")
    return data


def _end_of_body(buf: bytes, read1: Callable[[int], bytes]) -> None:
    """After the last chunk: the trailer fields, if any, then the empty line that ends the body."""
    while True:
        end = buf.find(b"\r\n")
        if end == 0:
            return
        if end > 0:
            buf = buf[end + 2:]  # a trailer field: nothing we use
            continue
        if len(buf) > _MAX_SIZE_LINE:
            raise ProtocolError("Response chunk trailer line exceeded maximum allowed length")
        data = read1(_READ_SIZE)
        if not data:
            return  # some servers end without the final CRLF (urllib3 accepts that too)
        buf += data


def _stream_lines(resp: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    pending = b""
    try:
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
