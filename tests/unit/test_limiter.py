"""In-flight limits (llm/limiter.py): the fixed cap, and the adaptive (Vegas) one that settles at the server's
slots plus one or two queued calls, grows while latency stays flat, shrinks when latency grows or on 429s;
then the OpenAI-compatible client with OPENAI_MAX_IN_FLIGHT=auto against the stand-in with 3 slots."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from models_processor.config import ConfigError, load_settings
from models_processor.deadline import Deadline
from models_processor.llm.api import ChatRequest, Message
from models_processor.llm.backend_select import in_flight_limit
from models_processor.llm.limiter import FixedLimit, Outcome, VegasLimit
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.metrics import Metrics
from testkit.fakes.openai_server import Flavor, OpenAIStandIn

BASE = 0.2  # the server's time to first token with a free slot, seconds


def _round(limit: VegasLimit, latency: Callable[[int], float] | float, *, calls: int | None = None) -> None:
    """As many calls in flight as the limit lets in (at most `calls`), then each answers with `latency`
    (or latency(calls in flight))."""
    permits = []
    while len(permits) < (calls or 1000) and (permit := limit.acquire(0)) is not None:
        permits.append(permit)
    value = latency(len(permits)) if callable(latency) else latency
    for permit in permits:
        limit.release(permit, Outcome.SUCCESS, value)


def _server_latency(in_flight: int, slots: int) -> float:
    """A server with `slots` parallel slots: beyond them calls queue, and the time to first token grows."""
    return BASE * max(1.0, in_flight / slots)


def test_limit_grows_while_latency_stays_flat_and_calls_reach_it() -> None:
    limit = VegasLimit(2, max_limit=40)
    seen = [limit.limit]
    for _ in range(12):
        _round(limit, BASE)
        seen.append(limit.limit)
    assert seen == sorted(seen) and seen[-1] == 40  # only up, to the ceiling (the worker count)
    # Slow start: doubling, since the server never showed a queue.
    assert [b for a, b in itertools.pairwise(seen) if b != a] == [4, 8, 16, 32, 40]


def test_after_the_first_queue_the_limit_grows_one_step_at_a_time() -> None:
    slots = 6
    limit = VegasLimit(1, max_limit=64)
    for _ in range(20):  # slow start overshoots the 6 slots and meets their queue
        _round(limit, lambda in_flight: _server_latency(in_flight, slots))
    assert slots + 1 <= limit.limit <= slots + 3
    seen = [limit.limit]
    for _ in range(30):
        _round(limit, BASE)  # the queue is gone (say, another client left): grow again, gently
        seen.append(limit.limit)
    assert seen == sorted(seen) and seen[-1] > seen[0] + 5
    assert all(b - a <= 1 for a, b in itertools.pairwise(seen))


def test_limit_does_not_grow_when_calls_never_reach_it() -> None:
    limit = VegasLimit(6, max_limit=20)
    for _ in range(30):
        _round(limit, BASE, calls=3)  # a quiet service: 3 of 6 slots used
    assert limit.limit == 6


@pytest.mark.parametrize("start", [1, 20])
def test_limit_settles_at_the_servers_slots_plus_a_few_queued(start: int) -> None:
    slots = 4
    limit = VegasLimit(start, max_limit=32)
    for _ in range(80):
        _round(limit, lambda in_flight: _server_latency(in_flight, slots))
    # Every slot busy, at least one call ready for the next free slot, at most BETA waiting.
    assert slots + 1 <= limit.limit <= slots + 3, limit.limit


def test_limit_shrinks_when_latency_grows() -> None:
    limit = VegasLimit(8, max_limit=32)
    for _ in range(5):
        _round(limit, BASE)
    before = limit.limit
    for _ in range(10):
        _round(limit, BASE * 3)  # the server slowed down for everyone: 2/3 of our calls queue
    assert limit.limit < before - 3


def test_overload_answer_cuts_the_limit_at_once() -> None:
    changes: list[tuple[int, str]] = []
    limit = VegasLimit(12, on_change=lambda value, why: changes.append((value, why)))
    permit = limit.acquire(0)
    assert permit is not None
    limit.release(permit, Outcome.DROPPED)
    assert limit.limit == 9 and changes == [(9, "overload answer")]
    for _ in range(10):
        permit = limit.acquire(0)
        assert permit is not None
        limit.release(permit, Outcome.DROPPED)
    assert limit.limit == 1 and limit.in_flight == 0  # never below one call


def test_ignored_outcomes_say_nothing_about_load() -> None:
    limit = VegasLimit(5)
    for _ in range(20):
        permit = limit.acquire(0)
        assert permit is not None
        limit.release(permit, Outcome.IGNORED)
    assert limit.limit == 5 and limit.baseline_s is None


def test_fixed_limit_blocks_beyond_its_size_until_a_release() -> None:
    limit = FixedLimit(2)
    first, second = limit.acquire(0), limit.acquire(0)
    assert first is not None and second is not None
    started = time.monotonic()
    assert limit.acquire(0.1) is None and time.monotonic() - started >= 0.1
    threading.Timer(0.1, lambda: limit.release(first, Outcome.SUCCESS, 0.1)).start()
    assert limit.acquire(5) is not None  # woken by the release
    assert limit.in_flight == 2
    unlimited = FixedLimit(0)
    assert all(unlimited.acquire(0) is not None for _ in range(1000))


def test_settings_pick_the_limit() -> None:
    base = {"OLLAMA_HOST": "http://x:8000", "LLM_TEXT_BACKEND": "openai"}
    assert isinstance(in_flight_limit(load_settings(base), "h", Metrics()), FixedLimit)
    assert in_flight_limit(load_settings({**base, "OPENAI_MAX_IN_FLIGHT": "6"}), "h", Metrics()).limit == 6
    auto = in_flight_limit(load_settings({**base, "OPENAI_MAX_IN_FLIGHT": "auto", "CONCURRENT_REQUESTS": "24",
                                          "OLLAMA_NUM_PARALLEL": "2"}), "h", Metrics())
    assert isinstance(auto, VegasLimit) and auto.limit == 2 and auto.max_limit == 24
    with pytest.raises(ConfigError, match=r"OPENAI_MAX_IN_FLIGHT: .*auto or a whole number"):
        load_settings({**base, "OPENAI_MAX_IN_FLIGHT": "lots"})


def _run_calls(client: OpenAICompatClient, calls: int, workers: int) -> None:
    request = ChatRequest(model="served-model", messages=[Message(role="user", content="hi")])
    with ThreadPoolExecutor(workers) as pool:
        for generation in pool.map(lambda _: client.chat(request, deadline=Deadline.after(60)), range(calls)):
            assert generation.text


def test_adaptive_limit_finds_the_stand_ins_slots() -> None:
    standin = OpenAIStandIn(Flavor.VLLM, slots=3, latency_s=0.1).start()
    history: list[int] = []
    limit = VegasLimit(1, max_limit=12, on_change=lambda value, why: history.append(value))
    client = OpenAICompatClient(standin.base_url, connect_timeout=5, read_timeout=30, metrics=Metrics(),
                                role="text", limit=limit, pool_size=12)
    try:
        _run_calls(client, calls=150, workers=12)
    finally:
        client.close()
        standin.stop()
    assert max(history) >= 4  # it grew past the server's 3 slots from 1
    assert 3 <= limit.limit <= 7, history  # and settled near them, far below the 12 workers
    assert standin.running_peak == 3 and standin.arrived_peak <= max(history)


def test_429s_from_the_stand_in_shrink_the_adaptive_limit() -> None:
    standin = OpenAIStandIn(Flavor.VLLM, busy=[(429, 0.0)] * 3).start()
    limit = VegasLimit(8)
    client = OpenAICompatClient(standin.base_url, connect_timeout=5, read_timeout=30, metrics=Metrics(),
                                role="text", limit=limit, backoff_initial=0.01)
    try:
        _run_calls(client, calls=1, workers=1)
    finally:
        client.close()
        standin.stop()
    assert standin.statuses == [429, 429, 429, 200]
    assert limit.limit == 3 and limit.in_flight == 0  # 8 -> 6 -> 4 -> 3, every slot given back
