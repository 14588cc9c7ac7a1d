"""The chunked-body reader of generate/chat streams (llm/transport.py `_chunked_lines`): lines whatever way
the bytes arrive, the end of the body, and the failures urllib3's own reader gave for the same bytes."""

import json
import socket
import struct
import time

import pytest
import requests
from prometheus_client import CollectorRegistry

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm import transport
from models_processor.llm.api import GenerateRequest
from models_processor.llm.client import OllamaClient
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.metrics import Metrics
from testkit.fakes.ollama_server import OllamaStandIn, Reply
from tests.unit.test_llm_lean_path import FINAL, client_for, lines_server  # noqa: F401  (fixture)


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n" + trailer + b"\r\n"


class Reads:
    """read1 handing out the given byte strings one per call (one per arrival), then b"" (end of stream)."""

    def __init__(self, *arrivals: bytes) -> None:
        self.arrivals = list(arrivals)
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return self.arrivals.pop(0) if self.arrivals else b""


LINE_A = b'{"response":"a","done":false}\n'
LINE_B = b'{"response":"b","done":false}\n'
DONE = b'{"response":"","done":true,"done_reason":"stop"}\n'


def test_one_read_with_several_chunks_gives_every_line():
    body = chunked(LINE_A, LINE_B, DONE)
    reads = Reads(body)
    assert list(transport._chunked_lines(reads)) == [LINE_A[:-1], LINE_B[:-1], DONE[:-1]]
    assert reads.calls == 1  # no read after the body's end


@pytest.mark.parametrize("step", [1, 2, 3, 7])
def test_bytes_split_anywhere_across_reads_give_the_same_lines(step):
    body = chunked(LINE_A, LINE_B[:9], LINE_B[9:] + DONE)  # a line in two chunks, two lines in one
    reads = Reads(*(body[i:i + step] for i in range(0, len(body), step)))
    assert list(transport._chunked_lines(reads)) == [LINE_A[:-1], LINE_B[:-1], DONE[:-1]]
    assert not reads.arrivals  # everything up to the body's last CRLF was read


def test_a_final_line_without_newline_blank_lines_and_a_trailer():
    body = chunked(LINE_A, b"\n  \n", DONE[:-1], trailer=b"X-Trailer: 1\r\n")
    assert list(transport._chunked_lines(Reads(body))) == [LINE_A[:-1], DONE[:-1]]


def test_chunk_extensions_are_ignored():
    body = b"%x;name=value\r\n%s\r\n0\r\n\r\n" % (len(LINE_A), LINE_A)
    assert list(transport._chunked_lines(Reads(body))) == [LINE_A[:-1]]


@pytest.mark.parametrize("body", [
    chunked(LINE_A)[:-5],  # ends before the last chunk
    b"%x\r\n%s" % (len(LINE_A), LINE_A[:5]),  # ends inside a chunk's data
])
def test_a_body_that_ends_early_is_a_protocol_error(body):
    with pytest.raises(transport.ProtocolError, match="ended prematurely"):
        list(transport._chunked_lines(Reads(body)))


@pytest.mark.parametrize("body", [b"zz\r\n", b"3\r\nabcd\r\n", b"-1\r\n"])
def test_a_malformed_chunk_is_a_protocol_error(body):
    with pytest.raises(transport.ProtocolError):
        list(transport._chunked_lines(Reads(body)))


def test_a_size_line_that_never_ends_is_refused():
    with pytest.raises(transport.ProtocolError, match="maximum allowed length"):
        list(transport._chunked_lines(Reads(*[b"1" * 1000] * 10)))


def test_a_stand_in_stream_is_read_by_the_chunked_reader_and_its_connection_reused(monkeypatch):
    used = []
    real = transport._chunked_lines

    def counting(read1):
        used.append(read1)
        return real(read1)

    monkeypatch.setattr(transport, "_chunked_lines", counting)
    with OllamaStandIn(models=("m",)) as srv:
        srv.enqueue(Reply(text="one two three four"), Reply(text="five six"))
        client = client_for(srv.url)
        first = client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
        second = client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
    assert (first.text, second.text, first.done_reason) == ("one two three four", "five six", "stop")
    assert len(used) == 2
    pool = client._post._pool
    assert pool.num_connections == 1 and pool.num_requests == 2  # each body read to its end: kept alive


def test_an_error_line_mid_stream_is_the_servers_error_and_the_connection_is_dropped(lines_server):
    error = json.dumps({"error": "an error was encountered while running the model"}) + "\n"
    lines_server.chunks = ['{"model": "m", "response": "a", "done": false}\n', error, FINAL]
    client = client_for(f"http://127.0.0.1:{lines_server.server_address[1]}", max_attempts=1)
    with pytest.raises(OllamaCallError) as caught:
        client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
    assert caught.value.reason is FailureReason.STREAM_ERROR
    assert "while running the model" in caught.value.message
    lines_server.chunks = [FINAL]
    client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
    lines_server.chunks = [FINAL]
    client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
    # the stream left unread was closed with its connection: the next call needed a new one, the call
    # after it (a body read to its end) did not
    first, second, third = lines_server.peers
    assert first != second and second == third


def test_a_stall_between_tokens_is_a_read_timeout_as_before():
    with OllamaStandIn(models=("m",)) as srv:
        srv.enqueue(Reply(text="x" * 8, delay_s=1.4))  # 2 chunks: at 0.7 s and 1.4 s
        client = OllamaClient(srv.url, connect_timeout=1.0, read_timeout=0.3, first_byte_timeout=5,
                              metrics=Metrics(CollectorRegistry()), max_attempts=1)
        started = time.monotonic()
        with pytest.raises(OllamaCallError) as caught:
            client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(5))
    assert caught.value.reason is FailureReason.READ_TIMEOUT and caught.value.code is ErrorCode.MODEL_UNAVAILABLE
    assert time.monotonic() - started < 1.4  # ended by the silence after the first token, not the second


def test_timeouts_and_broken_connections_leave_as_the_requests_errors_urllib3_gave():
    def raising(exc):
        def read1(size):
            raise exc
        return read1

    class Resp:  # the attributes body_lines reads of a urllib3 response
        chunked = True

        def __init__(self, read1):
            self._original_response = type("Original", (), {"fp": type("Fp", (), {"read1": staticmethod(read1)})})()

    with pytest.raises(requests.ConnectionError) as timed_out:
        list(transport.body_lines(Resp(raising(TimeoutError("timed out")))))
    assert isinstance(timed_out.value.args[0], transport.ReadTimeoutError)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(transport.body_lines(Resp(raising(ConnectionResetError(104, "reset")))))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        list(transport.body_lines(Resp(Reads(b"5\r\nab"))))


def test_reads_after_the_first_wait_in_recv_under_the_kernel_timeout_and_the_socket_goes_back_as_it_was(
        monkeypatch):
    applied = []
    real_apply = transport._Reads._apply

    def recording(self, sock, timeout):
        real_apply(self, sock, timeout)
        kernel = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
        applied.append((timeout, sock.gettimeout(), kernel[0] + kernel[1] / 1e6))

    monkeypatch.setattr(transport._Reads, "_apply", recording)
    with OllamaStandIn(models=("m",)) as srv:
        srv.enqueue(Reply(text="x" * 16, delay_s=0.2))  # 4 chunks, 50 ms apart: one read each
        client = client_for(srv.url)
        out = client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
    assert out.text == "x" * 16
    # applied once, with the timeout the client set after the headers (its read timeout, 5 s): a blocking
    # socket whose recv the kernel ends after 5 s of silence
    assert len(applied) == 1 and applied[0][:2] == (5.0, None) and 5.0 <= applied[0][2] < 5.02
    (conn,) = [c for c in client._post._pool.pool.queue if c is not None]
    assert conn.sock.gettimeout() == 5.0  # back in timeout mode, as urllib3 left it to the client
    assert conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16) == struct.pack("ll", 0, 0)
