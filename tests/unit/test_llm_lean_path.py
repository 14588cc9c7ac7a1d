"""The client's lean generate/chat path (llm/transport.py, the fast line reader in llm/api.py): what it
skips, and that it gives the same answers and failures as the full path."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from prometheus_client import CollectorRegistry
from requests.adapters import HTTPAdapter

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, GenerateRequest, GenerateResponse, Message
from models_processor.llm.client import OllamaClient
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.metrics import Metrics
from testkit.fakes.ollama_server import OllamaStandIn, Reply

pytestmark = pytest.mark.ollama


@pytest.fixture
def srv():
    with OllamaStandIn(models=("llava:7b",)) as server:
        yield server


def client_for(url, session=None, **kw):
    return OllamaClient(url, connect_timeout=1.0, read_timeout=5.0, metrics=Metrics(CollectorRegistry()),
                        session=session, backoff_initial=0.01, backoff_max=0.05, **kw)


def test_only_the_final_line_of_a_stream_is_validated_by_pydantic(srv, monkeypatch):
    validated = []
    original = GenerateResponse.model_validate.__func__

    def counting(cls, obj, *args, **kwargs):
        validated.append(obj)
        return original(cls, obj, *args, **kwargs)

    monkeypatch.setattr(GenerateResponse, "model_validate", classmethod(counting))
    srv.enqueue(Reply(text="one two three four five six seven eight"))  # 10 chunks of 4 characters
    out = client_for(srv.url).generate(GenerateRequest(model="llava:7b", prompt="hi"), deadline=Deadline.after(10))
    assert out.text == "one two three four five six seven eight" and out.eval_count == 10
    assert len(validated) == 1 and validated[0]["done"] is True


def test_sequential_streams_reuse_one_connection_of_the_sessions_pool(srv):
    session = requests.Session()
    session.trust_env = False  # as the client's own session: no CA bundle from the environment
    session.mount("http://", HTTPAdapter(pool_maxsize=4, max_retries=0))
    client = client_for(srv.url, session=session)
    for _ in range(5):
        client.generate(GenerateRequest(model="llava:7b", prompt="hi"), deadline=Deadline.after(10))
    client.chat(ChatRequest(model="llava:7b", messages=[Message(role="user", content="hi")]),
                deadline=Deadline.after(10))
    client.tags()  # the management calls go through the same pool
    # the pool session.request uses for this URL (its key carries requests' TLS defaults)
    pool = session.get_adapter(srv.url).get_connection_with_tls_context(requests.Request("GET", srv.url).prepare(),
                                                                        verify=True)
    assert pool.num_connections == 1 and pool.num_requests == 7


def test_a_prompt_with_a_lone_surrogate_is_still_sent(srv):
    srv.enqueue(Reply(text="ok"))  # not the default echo: the stand-in would answer with the surrogate
    out = client_for(srv.url).generate(GenerateRequest(model="llava:7b", prompt="a\ud800b"),
                                       deadline=Deadline.after(10))
    assert out.text == "ok"
    sent = [r.body for r in srv.requests if r.path == "/api/generate"]
    assert sent[-1]["prompt"] == "a\ud800b"  # escaped by json.dumps, decoded back by the server


class _Lines(BaseHTTPRequestHandler):
    """Sends each string of `server.chunks` as one HTTP chunk, then ends: line shapes and splits no real
    Ollama sends on demand."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.server.peers.append(self.client_address)  # one per connection the client opened
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in self.server.chunks:
            data = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def lines_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Lines)
    server.chunks = []
    server.peers = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


FINAL = json.dumps({"model": "m", "response": "", "done": True, "done_reason": "stop", "eval_count": 2}) + "\n"


@pytest.mark.parametrize("bad", ['{"model": "m", "response": 5, "done": false}',
                                 '{"model": "m", "message": {"content": ["x"]}, "done": false}',
                                 '{"model": "m", "response": "a", "done": "maybe"}'])
def test_a_line_the_fast_reader_cannot_vouch_for_is_validated_and_refused(lines_server, bad):
    lines_server.chunks = ['{"model": "m", "response": "a", "done": false}\n', bad + "\n", FINAL]
    url = f"http://127.0.0.1:{lines_server.server_address[1]}"
    request = (ChatRequest(model="m", messages=[Message(role="user", content="hi")]) if "message" in bad
               else GenerateRequest(model="m", prompt="hi"))
    call = client_for(url, max_attempts=1).chat if "message" in bad else client_for(url, max_attempts=1).generate
    with pytest.raises(OllamaCallError) as caught:
        call(request, deadline=Deadline.after(10))
    assert caught.value.reason is FailureReason.BAD_RESPONSE and caught.value.code is ErrorCode.MODEL_UNAVAILABLE


def test_lines_split_across_chunks_and_thinking_are_joined(lines_server):
    first = json.dumps({"model": "m", "response": "he", "thinking": "hm", "done": False}) + "\n"
    second = json.dumps({"model": "m", "response": "llo", "done": False}) + "\n"
    # the first line in two chunks, the second line sharing a chunk with the final one
    lines_server.chunks = [first[:10], first[10:], second + FINAL]
    url = f"http://127.0.0.1:{lines_server.server_address[1]}"
    out = client_for(url).generate(GenerateRequest(model="m", prompt="hi", think=True), deadline=Deadline.after(10))
    assert (out.text, out.thinking, out.eval_count) == ("hello", "hm", 2)


def test_a_refused_connection_is_still_a_transient_connection_failure():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(OllamaCallError) as caught:
        client_for(f"http://127.0.0.1:{port}", max_attempts=1).generate(
            GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(5))
    assert caught.value.transient and caught.value.reason is FailureReason.CONNECTION
    assert "refused" in caught.value.message


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


@pytest.mark.parametrize(("line", "ok"), [
    (' {"model": "m", "response": "a", "done": false}\r', True),  # JSON whitespace around: as json.loads
    ('{"model": "m", "response": "a", "done": false} {"x": 1}', False),  # extra data: refused
    ('\u00a0{"model": "m", "response": "a", "done": false}', False),  # not JSON whitespace: refused
])
def test_a_line_is_read_as_json_loads_reads_it(lines_server, line, ok):
    lines_server.chunks = [line + "\n", FINAL]
    client = client_for(f"http://127.0.0.1:{lines_server.server_address[1]}", max_attempts=1)
    if ok:
        assert client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10)).text == "a"
        assert json.loads(line)["response"] == "a"
    else:
        with pytest.raises(OllamaCallError) as caught:
            client.generate(GenerateRequest(model="m", prompt="hi"), deadline=Deadline.after(10))
        assert caught.value.reason is FailureReason.BAD_RESPONSE
        with pytest.raises(ValueError):
            json.loads(line)
