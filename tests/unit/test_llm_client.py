"""OllamaClient over real HTTP against the stand-in: error shapes, retry decisions, deadlines, streaming."""

import base64
import logging
import threading
import time

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, GenerateRequest, Message, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.client import OllamaClient
from models_processor.llm.failures import FailureReason, OllamaCallError
from models_processor.metrics import Metrics
from testkit.fakes.ollama_server import ERR_IMAGE_FORMAT, ERR_RUNNER, OllamaStandIn, Reply

pytestmark = pytest.mark.ollama

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # starts like a JPEG: the stand-in accepts it as an image


@pytest.fixture
def srv():
    with OllamaStandIn(models=("llava:7b",)) as server:
        yield server


def make_client(url, *, metrics=None, **kw):
    metrics = metrics if metrics is not None else Metrics(CollectorRegistry())
    kw.setdefault("connect_timeout", 1.0)
    kw.setdefault("read_timeout", 5.0)
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return OllamaClient(url, metrics=metrics, **kw)


def retries(metrics, reason):
    return metrics.registry.get_sample_value("models_processor_retries_total",
                                             {"target": "ollama", "reason": reason}) or 0


def gen_body(**extra):
    return GenerateRequest(**{"model": "llava:7b", "prompt": "describe", **extra})


def generations(srv):
    return [r for r in srv.requests if r.path in ("/api/generate", "/api/chat")]


def test_stream_concatenates_and_takes_metrics_from_the_final_chunk(srv):
    srv.enqueue(Reply(text="Hello there, streaming world", eval_count=7, prompt_eval_count=11))
    out = make_client(srv.url).generate(gen_body(stream=True), deadline=Deadline.after(2))
    assert out.text == "Hello there, streaming world"
    assert (out.done_reason, out.eval_count, out.prompt_eval_count) == ("stop", 7, 11)
    assert out.total_duration_ns and out.load_duration_ns


def test_chat_non_stream_and_images_as_strict_base64(srv):
    srv.enqueue(Reply(text='{"a": 1}'))
    body = ChatRequest(model="llava:7b", stream=False, messages=[Message(role="user", content="what?", images=[JPEG])])
    out = make_client(srv.url).chat(body, deadline=Deadline.after(2))
    assert out.text == '{"a": 1}'
    sent = generations(srv)[0].body
    assert sent["stream"] is False
    assert sent["messages"][0]["images"] == [base64.b64encode(JPEG).decode()]


def test_data_uri_image_is_refused_before_sending(srv):
    # The typed request refuses it: Ollama's Go decoder would answer 400 `illegal base64 data`.
    with pytest.raises(ValidationError) as info:
        gen_body(images=["data:image/jpeg;base64," + base64.b64encode(JPEG).decode()])
    assert "not strict base64" in str(info.value)
    assert generations(srv) == []


def test_404_is_model_not_found_naming_the_model_and_not_retried(srv):
    metrics = Metrics(CollectorRegistry())
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, metrics=metrics).generate(gen_body(model="mistral:7b", prompt="x"),
                                                      deadline=Deadline.after(2))
    err = info.value
    assert err.code == ErrorCode.MODEL_NOT_FOUND and not err.transient and err.status == 404
    assert "mistral:7b" in err.message
    assert len(generations(srv)) == 1
    assert retries(metrics, "not_found") == 0


def test_503_storm_is_retried_and_recovers(srv):
    metrics = Metrics(CollectorRegistry())
    srv.fail_with_503(3)
    out = make_client(srv.url, metrics=metrics).generate(gen_body(stream=True), deadline=Deadline.after(3))
    assert out.text
    assert srv.stats.rejected_503 == 3
    assert len(generations(srv)) == 4
    assert retries(metrics, "status_503") == 3


def test_503_until_the_deadline_stays_transient_model_unavailable(srv):
    srv.fail_with_503(10_000)
    started = time.monotonic()
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, max_attempts=100, backoff_max=0.1).generate(gen_body(stream=True), deadline=Deadline.after(0.6))
    # Ended by the 0.6 s deadline, not by the 100 attempts (seconds of backoff); the time bound leaves a
    # loaded machine room, the attempt count is the exact proof.
    assert time.monotonic() - started < 2.5 and len(generations(srv)) < 100
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and info.value.transient and info.value.status == 503
    assert "server busy" in info.value.message


def test_connection_refused_is_transient():
    server = OllamaStandIn()
    url = server.start()
    server.stop()
    metrics = Metrics(CollectorRegistry())
    with pytest.raises(ModelCallError) as info:
        make_client(url, metrics=metrics, max_attempts=3).generate(gen_body(stream=True), deadline=Deadline.after(2))
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and info.value.transient
    assert "refused" in info.value.message
    assert retries(metrics, "connection") == 2


def test_server_coming_back_during_retries_recovers(srv):
    srv.set_down(True)
    threading.Timer(0.3, srv.set_down, args=(False,)).start()
    out = make_client(srv.url, max_attempts=50, backoff_max=0.1).generate(gen_body(stream=True), deadline=Deadline.after(3))
    assert out.text


@pytest.mark.parametrize("stream", [True, False])
def test_error_after_content_is_transient_and_retried(srv, stream):
    metrics = Metrics(CollectorRegistry())
    srv.enqueue(Reply(text="partial answer here", fault="error_after"), Reply(text="good"))
    out = make_client(srv.url, metrics=metrics).generate(gen_body(stream=stream), deadline=Deadline.after(3))
    assert out.text == "good"
    assert retries(metrics, "stream_error" if stream else "status_5xx") == 1


def test_error_line_in_stream_carries_ollamas_text(srv):
    srv.enqueue(Reply(text="partial answer here", fault="error_after"))
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, max_attempts=1).generate(gen_body(stream=True), deadline=Deadline.after(2))
    err = info.value
    assert err.code == ErrorCode.MODEL_UNAVAILABLE and err.transient and err.status is None
    assert ERR_RUNNER in err.message and "after partial output" in err.message


@pytest.mark.parametrize("mode,status", [("status", 500), ("ndjson", None)])
def test_pre_stream_error_in_both_server_versions(mode, status):
    with OllamaStandIn(pre_stream_error_mode=mode) as server:
        server.enqueue(Reply(fault="error_before", error="an error was encountered while running the model: oom"))
        with pytest.raises(ModelCallError) as info:
            make_client(server.url, max_attempts=1).generate(gen_body(stream=True), deadline=Deadline.after(2))
    err = info.value
    assert err.code == ErrorCode.MODEL_UNAVAILABLE and err.transient and err.status == status
    assert "running the model: oom" in err.message


@pytest.mark.parametrize("mode", ["status", "ndjson"])
def test_undecodable_image_is_permanent_invalid_image(mode):
    with OllamaStandIn(pre_stream_error_mode=mode) as server:
        with pytest.raises(ModelCallError) as info:
            make_client(server.url).generate(gen_body(images=[b"not an image"], stream=True), deadline=Deadline.after(2))
        assert len(generations(server)) == 1  # not retried: the same bytes fail the same way
    assert info.value.code == ErrorCode.INVALID_IMAGE and not info.value.transient
    assert "unknown format" in info.value.message and ERR_IMAGE_FORMAT in info.value.message


def test_server_crash_mid_stream_is_transient(srv):
    srv.enqueue(Reply(text="y" * 80, delay_s=2.0))  # 20 chunks, one every 0.1 s

    def crash_once_streaming() -> None:  # the call holds its slot, and a few chunks are out
        until = time.monotonic() + 5
        while srv.stats.active == 0 and time.monotonic() < until:
            time.sleep(0.01)
        time.sleep(0.3)
        srv.set_down(True, drop_connections=True)

    crash = threading.Thread(target=crash_once_streaming)
    crash.start()
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, max_attempts=1).generate(gen_body(stream=True), deadline=Deadline.after(5))
    crash.join(5)
    assert not crash.is_alive()
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and info.value.transient
    assert "during the answer" in info.value.message  # the stream had begun: a crash mid-stream


def test_runner_crash_500_is_retried(srv):
    srv.enqueue(Reply(fault="status_500"), Reply(text="ok"))
    metrics = Metrics(CollectorRegistry())
    out = make_client(srv.url, metrics=metrics).generate(gen_body(stream=True), deadline=Deadline.after(3))
    assert out.text == "ok" and retries(metrics, "status_5xx") == 1


def test_done_reason_length_is_returned_not_raised(srv):
    srv.enqueue(Reply(text='{"title": "A long recipe title"}', fault="truncated"))
    out = make_client(srv.url).generate(gen_body(stream=True), deadline=Deadline.after(2))
    assert out.done_reason == "length" and out.text == '{"title": "A lon'


@pytest.mark.parametrize("stream", [True, False])
def test_hung_call_ends_at_the_deadline(srv, stream):
    srv.enqueue(Reply(fault="hang"))
    started = time.monotonic()
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, read_timeout=30).generate(gen_body(stream=stream), deadline=Deadline.after(0.5))
    # Ended by the 0.5 s deadline: without it the 30 s read timeout would (the bound leaves room for load).
    assert 0.4 < time.monotonic() - started < 5
    assert info.value.code == ErrorCode.DEADLINE_EXCEEDED and not info.value.transient


def test_stream_that_stalls_after_content_ends_at_the_deadline(srv):
    srv.enqueue(Reply(text="x" * 8, delay_s=2.4))  # 2 chunks: at 1.2 s and 2.4 s
    started = time.monotonic()
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url, read_timeout=30).generate(gen_body(stream=True), deadline=Deadline.after(1.5))
    # After the first chunk the per-read timeout shrinks to the 0.3 s left: the call ends near 1.5 s,
    # before the second chunk can arrive (2.4 s after the server got the call, so after `started`).
    assert time.monotonic() - started < 2.4
    assert info.value.code == ErrorCode.DEADLINE_EXCEEDED


def test_read_timeout_shorter_than_the_deadline_is_transient(srv):
    srv.enqueue(Reply(text="x" * 8, delay_s=1.4))  # 2 chunks: at 0.7 s and 1.4 s; the gap is 0.7 s
    with pytest.raises(OllamaCallError) as info:
        make_client(srv.url, read_timeout=0.3, first_byte_timeout=5, max_attempts=1).generate(
            gen_body(stream=True), deadline=Deadline.after(5))
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and info.value.transient
    assert "read timeout" in info.value.message and info.value.reason is FailureReason.READ_TIMEOUT


def test_no_first_byte_within_its_budget_is_transient(srv):
    srv.enqueue(Reply(fault="hang"))
    with pytest.raises(OllamaCallError) as info:
        make_client(srv.url, read_timeout=0.3, first_byte_timeout=0.5, max_attempts=1).generate(
            gen_body(stream=True), deadline=Deadline.after(5))
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and info.value.transient
    assert info.value.reason is FailureReason.FIRST_BYTE_TIMEOUT and "first byte" in info.value.message


def test_max_in_flight_caps_concurrent_calls():
    with OllamaStandIn(num_parallel=4, latency_s=0.15) as server:
        client = make_client(server.url, max_in_flight=2)
        threads = [threading.Thread(target=client.generate, args=(gen_body(),),
                                    kwargs={"deadline": Deadline.after(5)}) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert not any(t.is_alive() for t in threads)
        recs = [r for r in server.settled_requests() if r.path in ("/api/generate", "/api/chat")]
        assert len(recs) == 6 and server.stats.total_generations == 6
        assert server.stats.max_concurrent_generations == 2
        peak = max(sum(1 for o in recs if o.started_at <= r.started_at < o.ended_at) for r in recs)
        assert peak <= 2


def test_tags_version_show(srv):
    client = make_client(srv.url)
    assert client.tags() == ["llava:7b"]
    assert client.version() == "0.17.4"
    assert client.show("LLaVA:7B").model_info is not None
    with pytest.raises(ModelCallError) as info:
        client.show("nope:1b")
    assert info.value.code == ErrorCode.MODEL_NOT_FOUND and "nope:1b" in info.value.message


def test_pull_streams_progress_and_logs_percent(srv, caplog):
    seen = []
    with caplog.at_level(logging.INFO, logger="models_processor.llm.client"):
        make_client(srv.url).pull("llava:13b", seen.append)
    assert seen[-1].status == "success"
    assert "llava:13b" in make_client(srv.url).tags()
    assert any("50%" in r.getMessage() for r in caplog.records)
    assert any("100%" in r.getMessage() for r in caplog.records)


def test_pull_of_an_unknown_model_fails_with_ollamas_text(srv):
    with pytest.raises(ModelCallError) as info:
        make_client(srv.url).pull("missing-model:1b")
    assert info.value.code == ErrorCode.MODEL_NOT_FOUND and "file does not exist" in info.value.message


def test_warm_up_loads_the_model(srv):
    out = make_client(srv.url).warm_up("llava:7b", options=Options(num_ctx=4096), keep_alive="30m",
                                       deadline=Deadline.after(2))
    assert out.done_reason == "load"
    assert generations(srv)[0].body.get("prompt") is None
