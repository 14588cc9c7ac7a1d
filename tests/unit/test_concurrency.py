"""CONCURRENT_REQUESTS=auto: two workers per model-server slot (at least 4); an explicit value is kept as is."""

from __future__ import annotations

import time

import pytest

from models_processor.concurrency import in_flight_cap, model_slots, worker_count
from models_processor.config import load_settings
from models_processor.llm.backend_select import in_flight_limit
from models_processor.metrics import Metrics
from testkit.fake_kafka_run import P0, Running, settings, text_request


def workers(**env: str) -> int:
    return worker_count(load_settings(env))


def test_auto_is_the_default_and_keeps_the_earlier_four_workers_for_one_slot():
    assert load_settings({}).concurrent_requests == "auto"
    assert workers() == 4  # no model server configured
    assert workers(OLLAMA_HOST="http://ollama:11434") == 4  # OLLAMA_NUM_PARALLEL defaults to 1


@pytest.mark.parametrize("env,slots,expected", [
    ({"OLLAMA_HOST": "ollama:11434", "OLLAMA_NUM_PARALLEL": "8"}, 8, 16),
    ({"OLLAMA_HOST": "ollama:11434", "OLLAMA_NUM_PARALLEL": "4"}, 4, 8),
    # one server running a vision and a text model: P slots for each model
    ({"OLLAMA_HOST": "ollama:11434", "OLLAMA_TEXT_MODEL": "llama3.2", "OLLAMA_NUM_PARALLEL": "3"}, 6, 12),
    # two servers: their slots add up
    ({"OLLAMA_HOST": "a:11434", "OLLAMA_TEXT_HOST": "b:11434", "OLLAMA_NUM_PARALLEL": "2"}, 4, 8),
    # an explicit per-server cap is the server's capacity
    ({"OLLAMA_HOST": "ollama:11434", "OLLAMA_NUM_PARALLEL": "2", "OLLAMA_MAX_IN_FLIGHT": "5"}, 5, 10),
    ({"OLLAMA_HOST": "ollama:11434", "OLLAMA_NUM_PARALLEL": "200"}, 200, 256),  # the pool's upper bound
])
def test_auto_runs_two_workers_per_model_slot(env, slots, expected):
    assert model_slots(load_settings(env)) == slots
    assert workers(**env) == expected
    assert workers(CONCURRENT_REQUESTS="AUTO", **env) == expected


VLLM = {"OLLAMA_TEXT_HOST": "http://vllm:8000", "LLM_TEXT_BACKEND": "openai"}


@pytest.mark.parametrize("env,slots,expected", [
    # the text role on an OpenAI-compatible server capped at 6 calls: 6 slots
    ({**VLLM, "OPENAI_MAX_IN_FLIGHT": "6"}, 6, 12),
    # ... beside an Ollama vision server with one slot: the servers' slots add up
    ({**VLLM, "OLLAMA_HOST": "http://ollama:11434", "OPENAI_MAX_IN_FLIGHT": "6"}, 7, 14),
    # OLLAMA_MAX_IN_FLIGHT caps the Ollama client only: the vision server's 5, not the OpenAI server's
    ({**VLLM, "OLLAMA_HOST": "http://ollama:11434", "OPENAI_MAX_IN_FLIGHT": "6", "OLLAMA_MAX_IN_FLIGHT": "5"},
     11, 22),
    # auto: its starting limit, OLLAMA_NUM_PARALLEL for the server, though both roles' models run there
    ({"OLLAMA_HOST": "http://vllm:8000", "LLM_VISION_BACKEND": "openai", "LLM_TEXT_BACKEND": "openai",
      "OLLAMA_TEXT_MODEL": "llama3.2", "OPENAI_MAX_IN_FLIGHT": "auto", "OLLAMA_NUM_PARALLEL": "5"}, 5, 10),
    # no cap: OLLAMA_NUM_PARALLEL per model, as for an Ollama server
    ({**VLLM, "OLLAMA_NUM_PARALLEL": "3", "OLLAMA_MAX_IN_FLIGHT": "9"}, 3, 6),
])
def test_openai_compatible_servers_count_their_in_flight_limit_as_slots(env, slots, expected):
    assert model_slots(load_settings(env)) == slots
    assert workers(**env) == expected


def test_the_adaptive_limit_starts_at_the_slots_its_server_is_counted_with():
    settings = load_settings({**VLLM, "OPENAI_MAX_IN_FLIGHT": "auto", "OLLAMA_NUM_PARALLEL": "4"})
    limit = in_flight_limit(settings, "http://vllm:8000", Metrics())
    assert limit.limit == model_slots(settings) == 4 and worker_count(settings) == 8


@pytest.mark.parametrize("env,models,cap", [
    # the defaults (first-byte timeout 300 s >= request deadline 240 s): one call generating and one
    # waiting inside the server per slot, so a slot passes to the next call without a hand-over
    ({"OLLAMA_NUM_PARALLEL": "8"}, 1, 16),
    ({"OLLAMA_NUM_PARALLEL": "3"}, 2, 12),
    # a first-byte timeout shorter than the deadline could end a call waiting behind another: one per slot
    ({"OLLAMA_NUM_PARALLEL": "8", "OLLAMA_FIRST_BYTE_TIMEOUT": "60"}, 1, 8),
    ({"OLLAMA_NUM_PARALLEL": "4", "REQUEST_DEADLINE_SECONDS": "600", "MAX_POLL_INTERVAL_MS": "900000"}, 1, 4),
    # an explicit cap is kept as it is
    ({"OLLAMA_NUM_PARALLEL": "8", "OLLAMA_MAX_IN_FLIGHT": "5"}, 1, 5),
])
def test_calls_wait_inside_the_server_only_where_the_first_byte_timeout_cannot_end_the_wait(env, models, cap):
    settings = load_settings({"OLLAMA_HOST": "ollama:11434", **env})
    assert in_flight_cap(settings, models) == cap
    # the workers follow the slots, not the calls in flight
    assert model_slots(settings) == (settings.ollama_max_in_flight or settings.ollama_num_parallel)


def test_an_explicit_value_is_used_exactly_as_before():
    assert workers(CONCURRENT_REQUESTS="2", OLLAMA_HOST="ollama:11434", OLLAMA_NUM_PARALLEL="8") == 2
    assert workers(CONCURRENT_REQUESTS="64", OLLAMA_HOST="ollama:11434") == 64


def busy_workers(run: Running, expected: int) -> int:
    run.wait_for(lambda: len(run.model.started) >= expected, what=f"{expected} calls started")
    time.sleep(0.3)  # room for any extra worker to start a call too
    return len(run.model.started)


def test_the_dispatcher_runs_the_automatic_worker_count():
    """With 8 slots configured, 16 requests are processed at once (the model gate holds them all)."""
    with Running(settings(CONCURRENT_REQUESTS="auto", OLLAMA_HOST="http://ollama:11434",
                          OLLAMA_NUM_PARALLEL="8")) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(40):
            run.consumer.append(P0, text_request(f"wait:{i}"), key=f"r{i}".encode())
        assert busy_workers(run, 16) == 16
        run.model.release.set()
        run.wait_for(lambda: len(run.answers()) == 40, timeout=20, what="every request answered")


def test_the_dispatcher_keeps_an_explicit_worker_count_below_the_slots():
    with Running(settings(CONCURRENT_REQUESTS="2", OLLAMA_HOST="http://ollama:11434",
                          OLLAMA_NUM_PARALLEL="8")) as run:
        run.consumer.schedule("assign", [P0])
        for i in range(10):
            run.consumer.append(P0, text_request(f"wait:{i}"), key=f"r{i}".encode())
        assert busy_workers(run, 2) == 2
        run.model.release.set()
        run.wait_for(lambda: len(run.answers()) == 10, timeout=20, what="every request answered")
