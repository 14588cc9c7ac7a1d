"""ResultCache: key, LRU, TTL, metrics, single-flight."""

import threading
import time

from prometheus_client import CollectorRegistry

from models_processor.llm.cache import ResultCache
from models_processor.metrics import Metrics


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _count(metrics, result):
    return metrics.registry.get_sample_value("models_processor_result_cache_total", {"result": result}) or 0


def test_key_is_canonical_and_covers_every_input():
    k = ResultCache.key("llava:7b", {"a": 1, "b": 2}, {"temperature": 0, "seed": 42}, b"img")
    assert k == ResultCache.key("llava:7b", {"b": 2, "a": 1}, {"seed": 42, "temperature": 0}, b"img")
    assert len(k) == 64
    assert k != ResultCache.key("llava:13b", {"a": 1, "b": 2}, {"temperature": 0, "seed": 42}, b"img")
    assert k != ResultCache.key("llava:7b", {"a": 1, "b": 3}, {"temperature": 0, "seed": 42}, b"img")
    assert k != ResultCache.key("llava:7b", {"a": 1, "b": 2}, {"temperature": 0.1, "seed": 42}, b"img")
    assert k != ResultCache.key("llava:7b", {"a": 1, "b": 2}, {"temperature": 0, "seed": 42}, b"img2")
    assert k != ResultCache.key("llava:7b", {"a": 1, "b": 2}, {"temperature": 0, "seed": 42}, None)


def test_lru_ttl_and_metrics():
    clock, metrics = FakeClock(), Metrics(CollectorRegistry())
    cache = ResultCache(2, 10.0, clock, metrics=metrics)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now most recent
    cache.put("c", 3)  # evicts b
    assert cache.get("b") is None
    assert cache.get("c") == 3
    clock.now = 10.0
    assert cache.get("a") is None  # expired
    assert len(cache) == 1  # c expired too but is only dropped on access
    assert _count(metrics, "hit") == 2 and _count(metrics, "miss") == 2


def test_disabled_cache_always_misses():
    cache = ResultCache(0, 10.0, metrics=Metrics(CollectorRegistry()))
    cache.put("a", 1)
    assert cache.get("a") is None
    assert cache.get_or_compute("a", lambda: 5, wait_seconds=1) == (5, False)


def test_single_flight_computes_once_for_concurrent_identical_requests():
    cache = ResultCache(10, 60.0, metrics=Metrics(CollectorRegistry()))
    calls, gate = [], threading.Event()

    def compute():
        calls.append(1)
        gate.wait(2)
        return "answer"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_compute("k", compute, wait_seconds=2)))
               for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(calls) == 1
    assert sorted(r[1] for r in results) == [False, True, True, True, True]
    assert {r[0] for r in results} == {"answer"}


def test_single_flight_failure_is_not_cached_and_a_waiter_takes_over():
    cache = ResultCache(10, 60.0, metrics=Metrics(CollectorRegistry()))
    started = threading.Event()

    def failing():
        started.set()
        time.sleep(0.1)
        raise RuntimeError("boom")

    errors = []
    leader = threading.Thread(target=lambda: errors.append(_catch(lambda: cache.get_or_compute("k", failing,
                                                                                             wait_seconds=1))))
    leader.start()
    assert started.wait(10), "the leader never started computing"  # else this thread would lead
    value = cache.get_or_compute("k", lambda: "second", wait_seconds=1)
    leader.join(10)
    assert not leader.is_alive()
    assert value == ("second", False)
    assert isinstance(errors[0], RuntimeError)


def _catch(fn):
    try:
        return fn()
    except Exception as exc:
        return exc
