"""Tests of the Ollama stand-in itself, over real HTTP, against the reference's contract."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pydantic
import pytest
import requests

from testkit.fakes.ollama_server import (
    ERR_IMAGE_FORMAT,
    ERR_MAX_QUEUE,
    OllamaStandIn,
    Reply,
    go_base64_error,
    parse_model_name,
)

pytestmark = pytest.mark.ollama

# A 1x1 PNG: a real image for the vision paths.
PNG_B64 = base64.b64encode(
    bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                  "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")
).decode()


@pytest.fixture
def server():
    with OllamaStandIn(("llava:7b", "LLaVA:latest")) as srv:
        yield srv


def wait_until(condition, message: str, timeout_s: float = 5.0) -> None:
    """Poll `condition` until it holds: a server thread's progress is waited for, never slept for."""
    until = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < until, message
        time.sleep(0.01)


def gen(srv, **body):
    body.setdefault("model", "llava:7b")
    body.setdefault("stream", False)
    return requests.post(f"{srv.url}/api/generate", json=body, timeout=10)


def ndjson(resp) -> list[dict]:
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- simple endpoints


def test_root_version_tags_and_names(server):
    assert requests.get(server.url).text == "Ollama is running"
    assert requests.head(server.url).status_code == 200
    assert requests.get(f"{server.url}/api/version").json() == {"version": "0.17.4"}
    models = requests.get(f"{server.url}/api/tags").json()["models"]
    assert {m["name"] for m in models} == {"llava:7b", "LLaVA:latest"}
    for m in models:
        assert m["name"] == m["model"] and ":" in m["name"]
        assert len(m["digest"]) == 64 and int(m["digest"], 16) >= 0  # bare hex, no "sha256:"
        assert isinstance(m["size"], int) and m["details"]["format"] == "gguf"
    server.remove_model("llava:7b")
    server.remove_model("llava")
    assert requests.get(f"{server.url}/api/tags").json() == {"models": []}


def test_model_name_rules(server):
    # Case-insensitive, ":latest" implied; the response echoes the name as sent.
    assert gen(server, model="LLAVA:7B", prompt="hi").json()["model"] == "LLAVA:7B"
    assert gen(server, model="llava", prompt="hi").status_code == 200
    assert gen(server, model="library/llava", prompt="hi").status_code == 200
    r = gen(server, model="mistral", prompt="hi")
    assert (r.status_code, r.json()) == (404, {"error": "model 'mistral' not found"})
    r = gen(server, model="", prompt="hi")
    assert (r.status_code, r.json()) == (404, {"error": "model '' not found"})
    r = requests.post(f"{server.url}/api/chat", json={"model": "", "messages": []})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    assert parse_model_name("a/b/c/d") is None and parse_model_name("bad name") is None
    assert parse_model_name("localhost:5000/ns/m:t") == ("localhost:5000", "ns", "m", "t")


def test_unknown_path_wrong_method_and_bad_bodies(server):
    r = requests.get(f"{server.url}/api/nope")
    assert (r.status_code, r.text) == (404, "404 page not found")
    r = requests.get(f"{server.url}/api/generate")
    assert (r.status_code, r.text) == (405, "405 method not allowed")
    r = requests.post(f"{server.url}/api/generate")
    assert (r.status_code, r.json()) == (400, {"error": "missing request body"})
    r = requests.post(f"{server.url}/api/generate", data="x")
    assert r.json() == {"error": "invalid character 'x' looking for beginning of value"}
    r = requests.post(f"{server.url}/api/chat", data='{"model": "llava:7b"')
    assert (r.status_code, r.json()) == (400, {"error": "unexpected EOF"})
    r = requests.post(f"{server.url}/api/chat", json={
        "model": "llava:7b", "messages": [{"role": "user", "content": [{"type": "text"}]}]})
    assert (r.status_code, r.json()["error"]) == (400, "json: cannot unmarshal array into Go struct "
                                                       "field Message.messages.content of type string")
    r = gen(server, prompt="hi", format="xml")
    assert r.status_code == 500
    assert r.json()["error"] == 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'
    r = gen(server, prompt="hi", options={"temperature": "hot"})
    assert r.json() == {"error": 'option "temperature" must be of type float32'}
    assert r.status_code == 500
    r = gen(server, prompt="hi", keep_alive="abc")
    assert (r.status_code, r.json()) == (400, {"error": 'time: invalid duration "abc"'})


def test_show_ps_and_load_unload(server):
    r = requests.post(f"{server.url}/api/show", json={"model": "llava:7b"}).json()
    assert "vision" in r["capabilities"] and "model_info" in r
    r = requests.post(f"{server.url}/api/show", json={})
    assert (r.status_code, r.json()) == (400, {"error": "model is required"})
    r = requests.post(f"{server.url}/api/show", json={"model": "x"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'x' not found"})
    assert requests.get(f"{server.url}/api/ps").json() == {"models": []}
    # An empty prompt only loads, and answers one object even though stream defaults to true.
    r = requests.post(f"{server.url}/api/generate", json={"model": "llava:7b"})
    assert r.json()["done_reason"] == "load" and r.json()["done"] is True
    loaded = requests.get(f"{server.url}/api/ps").json()["models"]
    assert [m["name"] for m in loaded] == ["llava:7b"] and "expires_at" in loaded[0]
    # The load's handler lets go of the model just after its answer; an unload while it is still held
    # leaves it loaded (the model is in use), so wait for that handler to finish first.
    server.settled_requests()
    r = requests.post(f"{server.url}/api/chat", json={"model": "llava:7b", "messages": [], "keep_alive": 0})
    assert r.json()["done_reason"] == "unload" and r.json()["message"]["content"] == ""
    assert requests.get(f"{server.url}/api/ps").json() == {"models": []}


def test_pull(server):
    r = requests.post(f"{server.url}/api/pull", json={"model": "moondream"})
    statuses = [line["status"] for line in ndjson(r)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "moondream:latest" in {m["name"] for m in requests.get(f"{server.url}/api/tags").json()["models"]}
    r = requests.post(f"{server.url}/api/pull", json={"model": "missing-model"})
    assert r.status_code == 200
    assert ndjson(r) == [{"status": "pulling manifest"},
                         {"error": "pull model manifest: file does not exist"}]
    r = requests.post(f"{server.url}/api/pull", json={"model": "missing-model", "stream": False})
    assert r.status_code == 500
    r = requests.post(f"{server.url}/api/pull", json={"model": "bad name"})
    assert (r.status_code, r.json()) == (400, {"error": "invalid model name"})


# --------------------------------------------------------------------------- images


def test_base64_rules(server):
    r = gen(server, prompt="hi", images=["data:image/png;base64," + PNG_B64])
    assert (r.status_code, r.json()) == (400, {"error": "illegal base64 data at input byte 4"})
    r = gen(server, prompt="hi", images=[PNG_B64.replace("+", "-")[:-2]])  # no padding
    assert r.status_code == 400 and r.json()["error"].startswith("illegal base64 data at input byte ")
    assert gen(server, prompt="hi", images=[PNG_B64[:20] + "\r\n" + PNG_B64[20:]]).status_code == 200
    not_image = base64.b64encode(b"hello, not an image").decode()
    r = gen(server, prompt="hi", images=[not_image])
    assert (r.status_code, r.json()) == (500, {"error": ERR_IMAGE_FORMAT})
    assert go_base64_error("abc") == 0 and go_base64_error("ab=c") == 2 and go_base64_error("ab==c") == 4
    assert go_base64_error("YQ==") is None and go_base64_error("YQ\r\n==") is None


# --------------------------------------------------------------------------- streaming and faults


def test_streaming_generate_and_chat(server):
    server.enqueue(Reply(text="The image shows a cat.", eval_count=7))
    r = requests.post(f"{server.url}/api/generate", json={"model": "llava:7b", "prompt": "what?"})
    assert r.headers["Content-Type"] == "application/x-ndjson"
    lines = ndjson(r)
    assert len(lines) > 2 and all(not line["done"] for line in lines[:-1])
    assert "".join(line["response"] for line in lines) == "The image shows a cat."
    final = lines[-1]
    assert final["done"] is True and final["response"] == "" and final["done_reason"] == "stop"
    assert final["eval_count"] == 7 and "context" in final
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    r = requests.post(f"{server.url}/api/chat", json={
        "model": "llava:7b", "messages": [{"role": "user", "content": "hello there"}]})
    lines = ndjson(r)
    assert all("message" in line for line in lines) and "context" not in lines[-1]
    assert "".join(line["message"]["content"] for line in lines) == "stand-in answer to: hello there"


def test_error_after_first_chunk_is_a_200_stream(server):
    server.enqueue(Reply(text="Yes it is", fault="error_after"))
    r = requests.post(f"{server.url}/api/generate", json={"model": "llava:7b", "prompt": "x"})
    lines = ndjson(r)
    assert r.status_code == 200 and len(lines) == 2
    assert lines[0]["done"] is False and lines[-1] == {"error": "an error was encountered while running the model"}


@pytest.mark.parametrize("mode", ["status", "ndjson"])
def test_error_before_first_chunk(mode):
    with OllamaStandIn(pre_stream_error_mode=mode) as srv:
        srv.enqueue(Reply(fault="error_before", error="boom"))
        r = requests.post(f"{srv.url}/api/chat", json={
            "model": "llava:7b", "messages": [{"role": "user", "content": "x"}]})
        if mode == "status":
            assert r.status_code == 500 and r.headers["Content-Type"].startswith("application/json")
        else:
            assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        assert ndjson(r) == [{"error": "boom"}]
        srv.enqueue(Reply(fault="error_before"))  # non-streaming is 500 in every version
        assert gen(srv, prompt="x").status_code == 500


def test_content_faults(server):
    server.enqueue(Reply(fault="truncated"), Reply(fault="empty_ws"), Reply(fault="invalid_json"))
    schema = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
    r = gen(server, prompt="x", format=schema).json()
    assert r["done_reason"] == "length"
    with pytest.raises(ValueError):
        json.loads(r["response"])
    r = gen(server, prompt="x", format="json").json()
    assert r["response"].startswith("{}") and len(r["response"]) > 100 and json.loads(r["response"]) == {}
    with pytest.raises(ValueError):
        json.loads(gen(server, prompt="x", format="json").json()["response"])


def test_503_texts(server):
    server.fail_with_503(2)
    for _ in range(2):
        r = gen(server, prompt="x")
        assert (r.status_code, r.json()) == (503, {"error": ERR_MAX_QUEUE})
    assert "again.  maximum" in ERR_MAX_QUEUE
    server.enqueue(Reply(fault="status_503"))
    assert gen(server, prompt="x").status_code == 503
    assert gen(server, prompt="x").status_code == 200
    assert server.stats.rejected_503 == 3


def test_default_responder_matches_a_pydantic_schema(server):
    class Ingredient(pydantic.BaseModel):
        original_text: str
        quantity: float | None = None
        unit: str | None = None

    class Recipe(pydantic.BaseModel):
        title: str | None
        servings: int | None = pydantic.Field(default=None, ge=1)
        ingredients: list[Ingredient] = pydantic.Field(min_length=1)
        kind: str = pydantic.Field(pattern="^recipe$", default="recipe", json_schema_extra={"const": "recipe"})

    r = requests.post(f"{server.url}/api/chat", json={
        "model": "llava:7b", "stream": False, "format": Recipe.model_json_schema(),
        "messages": [{"role": "user", "content": "read this recipe", "images": [PNG_B64]}]})
    recipe = Recipe.model_validate_json(r.json()["message"]["content"])
    assert len(recipe.ingredients) == 1


# --------------------------------------------------------------------------- concurrency


def test_num_parallel_is_enforced():
    with OllamaStandIn(num_parallel=2, latency_s=0.3) as srv:
        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            codes = list(pool.map(lambda _: gen(srv, prompt="x").status_code, range(6)))
        assert codes == [200] * 6
        # The slot is freed just after the answer is written (as in Go): the last one may still be closing.
        stats = srv.settled_stats()
        assert stats.max_concurrent_generations == 2 and stats.total_generations == 6
        # Six holds of at least 0.3 s each, and never more than two slots busy over the calls' span (a
        # bound that a loaded machine stretches together with the holds; a hold counted twice breaks it).
        recs = srv.requests
        span = max(r.ended_at for r in recs) - min(r.started_at for r in recs)
        assert stats.active == 0 and 1.8 - 1e-6 <= stats.busy_slot_seconds <= 2 * span
        assert time.monotonic() - started >= 0.85  # three waves of 0.3 s
        assert stats.per_path["/api/generate"] == 6


def test_max_queue_503_during_cold_start():
    with OllamaStandIn(max_queue=2, cold_start_s=1.0) as srv:
        with ThreadPoolExecutor(5) as pool:
            first = pool.submit(gen, srv, prompt="x")
            wait_until(srv.is_loading, "the first request never started its load")
            rest = [pool.submit(gen, srv, prompt="x") for _ in range(4)]
            results = [first.result()] + [f.result() for f in rest]
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 200, 200, 503, 503]
        assert first.result().json()["load_duration"] >= 1.0e9
        assert srv.stats.loads == 1 and srv.stats.rejected_503 == 2
        assert gen(srv, prompt="x").json()["load_duration"] < 0.5e9  # warm now


def test_keep_alive_expiry_and_aborted_load():
    # The load (0.6 s) outlasts the client's 0.1 s by enough that a slow server thread still sees it leave.
    with OllamaStandIn(cold_start_s=0.6, keep_alive_s=0.2) as srv:
        # A client that gives up during the load aborts it.
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{srv.url}/api/generate", json={"model": "llava:7b", "prompt": "x"}, timeout=0.1)
        # Its handler has ended: had it loaded the model rather than given up, `loads` would be 1.
        assert srv.settled_stats().loads == 0 and not srv.is_loaded("llava:7b")
        assert gen(srv, prompt="x").json()["load_duration"] >= 0.6e9
        srv.settled_requests()  # the keep-alive timer starts when the handler lets go of the model
        time.sleep(0.3)  # idle longer than keep_alive: unloaded, the next request pays again
        assert not srv.is_loaded("llava:7b")
        assert gen(srv, prompt="x").json()["load_duration"] >= 0.6e9
        assert srv.stats.loads == 2


def test_hang_ends_when_the_client_times_out():
    with OllamaStandIn() as srv:
        srv.enqueue(Reply(fault="hang"))
        with pytest.raises(requests.ReadTimeout):
            requests.post(f"{srv.url}/api/generate", json={"model": "llava:7b", "prompt": "x"}, timeout=0.3)
        assert srv.settled_stats().active == 0  # the hung handler saw the client leave
        assert gen(srv, prompt="x").status_code == 200  # the slot was released


def test_stop_releases_hung_requests():
    srv = OllamaStandIn().__enter__()
    srv.enqueue(Reply(fault="hang"))
    errors = []

    def call():
        try:
            requests.post(f"{srv.url}/api/generate", json={"model": "llava:7b", "prompt": "x"}, timeout=5)
        except requests.RequestException as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    wait_until(lambda: srv.stats.active == 1, "the hung request never took its slot")
    srv.stop()
    t.join(3)
    assert not t.is_alive() and errors


def test_set_down_refuses_then_comes_back_on_the_same_port(server):
    session = requests.Session()
    port = server.port
    assert session.get(server.url).ok  # leaves a pooled keep-alive connection
    server.set_down(True)
    with pytest.raises(requests.ConnectionError):
        session.get(server.url, timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)
    server.set_down(False)
    assert server.port == port and session.get(server.url, timeout=2).text == "Ollama is running"
    rec = server.settled_requests()[-1]
    assert (rec.method, rec.path, rec.status) == ("GET", "/", 200) and rec.ended_at >= rec.started_at


# --------------------------------------------------------------------------- v0.17.4 behaviour (see the docstring)


def test_tcp_nodelay_and_headers_leave_with_the_body_in_one_write():
    """Go's net/http sets TCP_NODELAY; without it a reused connection waits ~40 ms per call (Nagle plus
    delayed ACK) when headers and body go in two writes."""
    import socket

    with OllamaStandIn(("llava:7b",), latency_s=0.2) as srv:
        sock = socket.create_connection((srv.host, srv.port))
        body = json.dumps({"model": "llava:7b", "prompt": "x", "stream": False}).encode()
        sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_until(lambda: [s for s in srv.open_connections() if s.getpeername() == sock.getsockname()],
                   "the server never took the connection")
        server_side = [s for s in srv.open_connections() if s.getpeername() == sock.getsockname()]
        assert server_side[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        first = sock.recv(65536)  # the answer is written 0.2 s later, headers and body together
        sock.close()
    head, _, rest = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and json.loads(rest)["done"] is True


def test_repeat_cut_ends_the_stream_without_a_final_chunk(server):
    server.enqueue(Reply(text="0" * 40, fault="repeat_cut"), Reply(text="0" * 40, fault="repeat_cut"))
    lines = ndjson(gen(server, prompt="x", stream=True))
    assert lines and not any(line["done"] for line in lines) and "error" not in lines[-1]
    whole = gen(server, prompt="x").json()
    assert whole["done"] is False and whole["response"] == "0" * 40 and "done_reason" not in whole


def test_images_to_a_text_only_model_think_and_digests_as_v0_17_4():
    with OllamaStandIn(("gemma3-tiny:latest", "qwen3:1b"), vision_models=(), thinking_models=("qwen3:1b",)) as srv:
        r = gen(srv, model="gemma3-tiny", prompt="x", images=[PNG_B64])
        assert r.status_code == 500 and "missing data required for image input" in r.json()["error"]
        r = gen(srv, model="gemma3-tiny", prompt="x", think=True)
        assert r.status_code == 400 and r.json()["error"] == '"gemma3-tiny" does not support thinking'
        thought = gen(srv, model="qwen3:1b", prompt="x").json()  # think absent: on for a thinking model
        assert thought["response"] == "" and thought["thinking"] and thought["done_reason"] == "length"
        plain = gen(srv, model="qwen3:1b", prompt="x", think=False).json()
        assert plain["response"] and "thinking" not in plain
        r = gen(srv, model="gemma3-tiny@sha256:" + "a" * 64, prompt="x")
        assert r.status_code == 404
        assert requests.post(f"{srv.url}/api/show", json={"model": "qwen3:1b"}).json()["capabilities"] == [
            "completion", "thinking"]


def test_other_runner_options_reload_and_ps_shows_the_context():
    with OllamaStandIn(("llava:7b",), default_num_ctx=2048) as srv:
        assert gen(srv, prompt="").json()["done_reason"] == "load"
        assert requests.get(f"{srv.url}/api/ps").json()["models"][0]["context_length"] == 2048
        gen(srv, prompt="x", options={"num_ctx": 8192, "temperature": 0})
        gen(srv, prompt="y", options={"num_ctx": 8192, "temperature": 0.5})  # not a runner option
        assert srv.stats.loads == 2
        assert requests.get(f"{srv.url}/api/ps").json()["models"][0]["context_length"] == 8192


def test_truncate_by_default_drops_old_messages_and_false_is_a_400():
    with OllamaStandIn(("llava:7b",)) as srv:
        messages = [{"role": "user", "content": "look", "images": [PNG_B64]},
                    {"role": "assistant", "content": "a" * 4000}, {"role": "user", "content": "again"}]
        body = {"model": "llava:7b", "stream": False, "messages": messages, "options": {"num_ctx": 1024}}
        assert requests.post(f"{srv.url}/api/chat", json=body).status_code == 200
        assert srv.stats.truncated_messages == 1  # the message with the image went first, silently
        r = requests.post(f"{srv.url}/api/chat", json={**body, "truncate": False})
        assert r.status_code == 400 and r.json()["error"] == "the input length exceeds the context length"


def test_aliases_resolve_in_generate_and_are_listed(server):
    server.aliases["vision"] = "llava:7b"
    assert gen(server, model="vision", prompt="x").status_code == 200
    assert requests.get(f"{server.url}/api/experimental/aliases").json() == {
        "aliases": [{"alias": "vision", "target": "llava:7b"}]}


def test_latency_for_gives_a_request_its_own_time() -> None:
    """The benchmarks' mixed load: a marked prompt takes its own time, the others the server's latency_s."""
    slow = {"prompt": "[slow] caption this photo"}
    with OllamaStandIn(("llava:7b",), latency_s=0.02,
                       latency_for=lambda body: 0.4 if "[slow]" in (body.get("prompt") or "") else None) as srv:
        took = {}
        for name, extra in (("fast", {"prompt": "hello"}), ("slow", slow)):
            start = time.monotonic()
            resp = requests.post(f"{srv.url}/api/generate", json={"model": "llava:7b", "stream": False, **extra},
                                 timeout=10)
            took[name] = time.monotonic() - start
            assert resp.status_code == 200 and resp.json()["done"] is True
        assert took["fast"] < 0.3 <= 0.4 <= took["slow"] < 2.0, took
        stats = srv.settled_stats()
        assert 0.4 <= stats.busy_slot_seconds < 1.0  # the slow call held its slot for its own time
