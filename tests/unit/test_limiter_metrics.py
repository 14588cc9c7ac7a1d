"""The in-flight limits' gauges (llm/limiter.py, metrics.py): models_processor_model_in_flight_limit follows
the adaptive limit as it grows and shrinks and shows a fixed cap, models_processor_model_calls_in_flight
the calls holding a slot, both labelled by the server's base URL (credentials removed) and served on
/metrics; with no cap there is no limit series."""

from __future__ import annotations

import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.health_state import HealthState
from models_processor.http import create_app
from models_processor.llm.backend_select import in_flight_limit, server_label
from models_processor.llm.factory import build_models
from models_processor.llm.limiter import FixedLimit, Outcome, VegasLimit
from models_processor.metrics import Metrics
from testkit.fakes.ollama_server import OllamaStandIn

from .test_limiter import BASE, _round, _server_latency

SERVER = "http://vllm:8000"
LIMIT = "models_processor_model_in_flight_limit"
IN_FLIGHT = "models_processor_model_calls_in_flight"
OPENAI_TEXT = {"OLLAMA_HOST": SERVER, "LLM_TEXT_BACKEND": "openai"}


def _gauge(metrics: Metrics, name: str, server: str = SERVER) -> float | None:
    return metrics.registry.get_sample_value(name, {"server": server})


def _auto(metrics: Metrics, **env: str) -> VegasLimit:
    settings = load_settings({**OPENAI_TEXT, "OPENAI_MAX_IN_FLIGHT": "auto", "CONCURRENT_REQUESTS": "40", **env})
    limit = in_flight_limit(settings, SERVER, metrics)
    assert isinstance(limit, VegasLimit)
    return limit


def test_the_limit_gauge_follows_the_adaptive_limit_up_and_down() -> None:
    metrics = Metrics()
    limit = _auto(metrics, OLLAMA_NUM_PARALLEL="2")
    assert _gauge(metrics, LIMIT) == 2 and _gauge(metrics, IN_FLIGHT) == 0
    shown: list[int] = []
    held: list[float] = []

    def four_slots(in_flight: int) -> float:  # read while the round's calls hold their slots
        held.append(_gauge(metrics, IN_FLIGHT) or 0.0)
        assert held[-1] == in_flight
        return _server_latency(in_flight, 4)

    for _ in range(12):  # a server with 4 slots: slow start overshoots them, then the limit comes back down
        _round(limit, four_slots)
        assert _gauge(metrics, LIMIT) == limit.limit
        shown.append(limit.limit)
    assert max(shown) >= 8 and shown[-1] < max(shown), shown  # it moved both ways, and the gauge with it
    assert max(held) >= 8  # the calls held during a round, as many as the limit let in
    assert _gauge(metrics, IN_FLIGHT) == 0  # every slot given back
    permit = limit.acquire(0)
    assert permit is not None
    before = limit.limit
    limit.release(permit, Outcome.DROPPED)  # an overload answer: cut at once, shown at once
    assert _gauge(metrics, LIMIT) == limit.limit == int(before * VegasLimit.BACKOFF)


def test_the_in_flight_gauge_counts_the_slots_held_and_a_fixed_cap_shows_its_size() -> None:
    metrics = Metrics()
    limit = in_flight_limit(load_settings({**OPENAI_TEXT, "OPENAI_MAX_IN_FLIGHT": "3"}), SERVER, metrics)
    assert isinstance(limit, FixedLimit) and _gauge(metrics, LIMIT) == 3
    permits = [limit.acquire(0) for _ in range(3)]
    assert _gauge(metrics, IN_FLIGHT) == 3 and limit.acquire(0) is None
    for permit in permits:
        assert permit is not None
        limit.release(permit, Outcome.SUCCESS, BASE)
    assert _gauge(metrics, IN_FLIGHT) == 0 and _gauge(metrics, LIMIT) == 3


def test_no_cap_has_no_limit_series_but_counts_its_calls() -> None:
    metrics = Metrics()
    limit = in_flight_limit(load_settings(OPENAI_TEXT), SERVER, metrics)
    permit = limit.acquire(0)
    assert permit is not None and _gauge(metrics, IN_FLIGHT) == 1
    assert _gauge(metrics, LIMIT) is None


def test_server_label_drops_credentials() -> None:
    assert server_label("https://user:secret@llm.example.com:8443") == "https://llm.example.com:8443"
    assert server_label(SERVER) == SERVER


def _scrape(metrics: Metrics) -> dict[tuple[str, str], float]:
    body = create_app(HealthState(stall_seconds=60), metrics, model_name="m", topic="t").test_client() \
        .get("/metrics").get_data(as_text=True)
    assert "secret" not in body
    return {(sample.name, sample.labels["server"]): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples
            if sample.name in (LIMIT, IN_FLIGHT)}


def test_the_services_models_show_their_servers_limit_on_metrics() -> None:
    """Built as the service builds them: both roles on one OpenAI-compatible server share one limit, and
    /metrics shows it under the server's URL without the credentials in OLLAMA_HOST."""
    metrics = Metrics()
    settings = load_settings({"OLLAMA_HOST": "http://user:secret@vllm:8000", "LLM_VISION_BACKEND": "openai",
                              "LLM_TEXT_BACKEND": "openai", "OPENAI_MAX_IN_FLIGHT": "auto",
                              "CONCURRENT_REQUESTS": "40", "OLLAMA_NUM_PARALLEL": "2"})
    models = build_models(settings, metrics)
    limit = models.text.client.limit  # type: ignore[attr-defined]
    assert isinstance(limit, VegasLimit) and models.vision.client.limit is limit  # type: ignore[attr-defined]
    assert _scrape(metrics) == {(LIMIT, SERVER): 2, (IN_FLIGHT, SERVER): 0}
    for _ in range(12):
        _round(limit, BASE)  # a flat latency: after the baseline probe the limit doubles, 2 -> 4 -> 8 ...
    permit = limit.acquire(0)
    assert limit.limit > 2 and _scrape(metrics) == {(LIMIT, SERVER): limit.limit, (IN_FLIGHT, SERVER): 1}
    assert permit is not None
    limit.release(permit, Outcome.IGNORED)


def test_an_ollama_servers_cap_and_calls_in_flight_are_on_metrics() -> None:
    """The Ollama client's cap (two calls per slot by default) goes through the same gate and gauges: its
    size, and a call holding a slot while it runs."""
    with OllamaStandIn(models=("llava:7b",), num_parallel=3, latency_s=0.5) as server:
        metrics = Metrics()
        models = build_models(load_settings({"OLLAMA_HOST": server.url, "OLLAMA_NUM_PARALLEL": "3",
                                             "RESULT_CACHE_SIZE": "0"}), metrics)
        assert _scrape(metrics) == {(LIMIT, server.url): 6, (IN_FLIGHT, server.url): 0}
        call = threading.Thread(target=models.text.generate_text, args=("hi",),
                                kwargs={"deadline": Deadline.after(10)})
        call.start()
        until = time.monotonic() + 5
        while _gauge(metrics, IN_FLIGHT, server.url) != 1 and time.monotonic() < until:
            time.sleep(0.01)
        assert _gauge(metrics, IN_FLIGHT, server.url) == 1
        call.join(10)
        assert not call.is_alive() and _gauge(metrics, IN_FLIGHT, server.url) == 0
