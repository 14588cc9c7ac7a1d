"""Model-server slot occupancy and cache-hit latency, through the real broker and the real service.

Part 1, slots: the stand-in (testkit/fakes/ollama_server.py) has P parallel slots and a fixed latency L. A
burst of unique text requests goes through `python -m models_processor run`, twice on fresh topics:
  capped    OLLAMA_MAX_IN_FLIGHT = P + queue (the client's semaphore: P slots plus a small queue)
  uncapped  OLLAMA_MAX_IN_FLIGHT = 0 (only CONCURRENT_REQUESTS bounds the calls), for comparison
and reports, from the stand-in's own records:
  occupancy       stats.busy_slot_seconds / (P x steady wall time), the wall time running from the first
                  generation's start to the last one's end (target >= 90 %)
  max generating  stats.max_concurrent_generations (should equal P)
  max in flight   peak of in-flight HTTP generate requests at the server (target <= P + queue)
  max waiting     peak of requests waiting at the server for a slot (in flight - P)

Part 2, cache hits: the same prompt once (a miss: a model call), then N more times (hits: the service's
result cache answers), paced so each is alone in the service. End-to-end latency = the answer's broker
append time - the request's produce time; p50/p99 of the hits (target p50 <= 20 ms). The baseline measured in
the same run is an echo loop through the same broker (poll, produce, flush, on a thread of this process):
the floor any Kafka service can reach here.

Usage: python -m bench.ollama_slots [--parallel 4] [--latency 0.2] [--requests 200] [--queue 2]
                                    [--concurrency 8] [--hits 100] [--hit-interval 0.05] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from bench.common import (
    MODEL,
    AnswerCollector,
    LocalBroker,
    Processor,
    Topics,
    create_topics,
    machine,
    percentile,
    produce_requests,
    quiet_standin_disconnects,
    text_request,
    unique_prompts,
    what_if_argv,
    write_json,
)
from testkit.fakes.ollama_server import OllamaStandIn

ROOT = Path(__file__).resolve().parents[1]

TARGET_OCCUPANCY = 0.90
TARGET_HIT_P50_MS = 20.0


def server_concurrency(standin: OllamaStandIn) -> dict:
    """Occupancy window and peak in-flight/waiting from the stand-in's recorded generate requests."""
    gens = [r for r in standin.requests if r.path in ("/api/generate", "/api/chat") and r.ended_at is not None
            and isinstance(r.body, dict) and (r.body.get("prompt") or r.body.get("messages"))]
    if not gens:
        return {"generations": 0}
    events = sorted([(r.started_at, 1) for r in gens] + [(r.ended_at, -1) for r in gens],
                    key=lambda e: (e[0], e[1]))
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    start, end = min(r.started_at for r in gens), max(r.ended_at for r in gens)
    return {"generations": len(gens), "window_s": end - start, "max_in_flight": peak}


def run_slots(bootstrap: str, standin: OllamaStandIn, label: str, n: int, partitions: int, concurrency: int,
              max_in_flight: int, argv) -> dict:
    P = standin.num_parallel
    topics = Topics.fresh(bootstrap, label, partitions)
    env = topics.env(bootstrap, OLLAMA_HOST=standin.url, OLLAMA_MODEL=MODEL, CONCURRENT_REQUESTS=str(concurrency),
                     RESULT_CACHE_SIZE="0", OLLAMA_MAX_IN_FLIGHT=str(max_in_flight))
    proc = Processor(env, label, argv=argv).start()
    collector = AnswerCollector(bootstrap, [topics.text])
    try:
        time.sleep(0.5)  # the warm-up call (a load, no slot) is over before the window opens
        standin.reset_stats()
        standin.clear_requests()
        items = [(key, text_request(prompt)) for key, prompt in unique_prompts(n, label)]
        sent = produce_requests(bootstrap, topics.request, items, linger_ms=5)
        answers = collector.wait_for(sent, timeout=60 + 3 * n * standin.latency_s / P)
        stats = standin.stats
        conc = server_concurrency(standin)
    finally:
        collector.close()
        proc.stop()
    window = conc.get("window_s", 0.0)
    occupancy = stats.busy_slot_seconds / (P * window) if window else 0.0
    ok = sum(1 for a in answers.values() if a.status == "ok")
    return {"scenario": label, "max_in_flight_setting": max_in_flight, "concurrency": concurrency,
            "requests": n, "answered_ok": ok, "generations": stats.total_generations,
            "busy_slot_s": round(stats.busy_slot_seconds, 3), "window_s": round(window, 3),
            "occupancy": occupancy, "max_generating": stats.max_concurrent_generations,
            "max_in_flight": conc.get("max_in_flight", 0), "max_waiting": max(0, conc.get("max_in_flight", 0) - P),
            "rejected_503": stats.rejected_503}


class EchoLoop:
    """Baseline: the cheapest Kafka round trip (poll one, produce the same bytes, flush) on a thread."""

    def __init__(self, bootstrap: str, request_topic: str, response_topic: str) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"echo-{uuid.uuid4().hex[:8]}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": True})
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
        self._response_topic = response_topic
        self.joined = threading.Event()
        self._consumer.subscribe([request_topic], on_assign=lambda c, p: self.joined.set())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="echo")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self._consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            value = json.dumps({"status": "ok", "echo": True}).encode()
            self._producer.produce(self._response_topic, key=msg.key(), value=value)
            self._producer.flush(10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


def hit_latencies(bootstrap: str, request_topic: str, response_topic: str, prompt: str, hits: int,
                  interval: float, label: str, collector: AnswerCollector) -> tuple[float, list[float]]:
    """One miss (waited for), then `hits` paced requests with the same prompt: (miss ms, hit ms list)."""
    miss_key = f"{label}-miss-{uuid.uuid4().hex[:6]}"
    sent = produce_requests(bootstrap, request_topic, [(miss_key, text_request(prompt))])
    got = collector.wait_for([miss_key], timeout=60)
    if miss_key not in got:
        raise RuntimeError(f"{label}: the first (miss) request got no answer")
    miss_ms = got[miss_key].timestamp_ms - sent[miss_key]
    items = [(f"{label}-hit-{i}-{uuid.uuid4().hex[:6]}", text_request(prompt)) for i in range(hits)]
    sent = produce_requests(bootstrap, request_topic, items, pace_s=interval)
    got = collector.wait_for(sent, timeout=60)
    return miss_ms, [got[k].timestamp_ms - sent[k] for k in sent if k in got]


def run_cache_hits(bootstrap: str, standin: OllamaStandIn, hits: int, interval: float, partitions: int,
                   concurrency: int, argv) -> dict:
    # Baseline first: the echo loop on its own topics.
    req, resp = f"bench-echo-{uuid.uuid4().hex[:8]}", None
    resp = req + "-out"
    create_topics(bootstrap, {req: partitions, resp: 1}, log_append_time=[resp])
    echo = EchoLoop(bootstrap, req, resp)
    collector = AnswerCollector(bootstrap, [resp])
    try:
        echo.joined.wait(30)
        _, echo_ms = hit_latencies(bootstrap, req, resp, "echo", hits, interval, "echo", collector)
    finally:
        collector.close()
        echo.close()

    topics = Topics.fresh(bootstrap, "cache", partitions)
    env = topics.env(bootstrap, OLLAMA_HOST=standin.url, OLLAMA_MODEL=MODEL, CONCURRENT_REQUESTS=str(concurrency))
    proc = Processor(env, "cache-hits", argv=argv).start()
    collector = AnswerCollector(bootstrap, [topics.text])
    try:
        prompt = f"[{uuid.uuid4().hex[:6]}] Suggest a dinner with lentils"
        miss_ms, hit_ms = hit_latencies(bootstrap, topics.request, topics.text, prompt, hits, interval, "cache",
                                        collector)
        cached = sum(float(line.split()[-1]) for line in proc.metrics_text().splitlines()
                     if line.startswith("models_processor_model_requests_total") and 'outcome="cached"' in line)
    finally:
        collector.close()
        peak = proc.stop()
    return {"hits": hits, "answered": len(hit_ms), "interval_s": interval, "miss_ms": miss_ms,
            "hit_p50_ms": percentile(hit_ms, 50), "hit_p99_ms": percentile(hit_ms, 99),
            "echo_p50_ms": percentile(echo_ms, 50), "echo_p99_ms": percentile(echo_ms, 99),
            "served_from_cache": cached, "peak_rss_mb": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description="Model-server slot occupancy and cache-hit latency.")
    parser.add_argument("--parallel", type=int, default=4, help="stand-in slots P (default 4)")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in latency L, seconds (default 0.2)")
    parser.add_argument("--requests", type=int, default=200, help="requests per slot run (default 200)")
    parser.add_argument("--queue", type=int, default=2, help="OLLAMA_MAX_IN_FLIGHT = P + queue (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="CONCURRENT_REQUESTS (default 8)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--hits", type=int, default=100, help="cache-hit requests (default 100)")
    parser.add_argument("--hit-interval", type=float, default=0.05, help="seconds between hits (default 0.05)")
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--skip-uncapped", action="store_true")
    parser.add_argument("--what-if", action="append", default=[], metavar="MODULE.ATTR=VALUE",
                        help="investigation: override a product constant in the service process")
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 100)
        args.hits = min(args.hits, 50)
    P = args.parallel
    argv = what_if_argv(args.what_if)
    quiet_standin_disconnects()
    standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=args.latency)
    standin.start()
    broker = LocalBroker.from_env()
    print("starting the local broker ...", file=sys.stderr)
    broker.start()
    slots = []
    try:
        bs = broker.bootstrap
        print(f"slots: capped at P+{args.queue} ...", file=sys.stderr)
        slots.append(run_slots(bs, standin, "capped", args.requests, args.partitions, args.concurrency,
                               P + args.queue, argv))
        if not args.skip_uncapped:
            print("slots: uncapped ...", file=sys.stderr)
            slots.append(run_slots(bs, standin, "uncapped", args.requests, args.partitions, args.concurrency, 0,
                                   argv))
        print(f"cache hits ({args.hits}, every {args.hit_interval}s) ...", file=sys.stderr)
        cache = run_cache_hits(bs, standin, args.hits, args.hit_interval, args.partitions, args.concurrency, argv)
    finally:
        broker.stop()
        standin.stop()

    print()
    if args.what_if:
        print(f"WHAT-IF (product constants overridden in the service): {args.what_if}")
    print(f"stand-in P={P}, L={args.latency * 1000:.0f} ms; CONCURRENT_REQUESTS={args.concurrency}; {machine()}")
    header = (f"{'scenario':<9} {'MAX_IN_FLIGHT':>13} {'requests':>8} {'ok':>5} {'occupancy':>9} "
              f"{'max gen':>7} {'max in flight':>13} {'max waiting':>11} {'window s':>8}")
    print(header)
    print("-" * len(header))
    for s in slots:
        print(f"{s['scenario']:<9} {s['max_in_flight_setting'] or 'none':>13} {s['requests']:>8} "
              f"{s['answered_ok']:>5} {s['occupancy']:>8.1%} {s['max_generating']:>7} {s['max_in_flight']:>13} "
              f"{s['max_waiting']:>11} {s['window_s']:>8.2f}")
    print()
    print(f"cache: miss {cache['miss_ms']:.0f} ms; {cache['answered']}/{cache['hits']} hits "
          f"(served from cache: {cache['served_from_cache']:.0f}): p50 {cache['hit_p50_ms']:.0f} ms, "
          f"p99 {cache['hit_p99_ms']:.0f} ms; echo-loop baseline p50 {cache['echo_p50_ms']:.0f} ms, "
          f"p99 {cache['echo_p99_ms']:.0f} ms; hit p50 / echo p50 = "
          f"{cache['hit_p50_ms'] / max(cache['echo_p50_ms'], 0.5):.1f}x; service peak RSS {cache['peak_rss_mb']:.0f} MB")
    print()
    capped = slots[0]
    verdicts = [
        {"target": f"occupancy >= {TARGET_OCCUPANCY:.0%} (capped)", "value": capped["occupancy"],
         "pass": capped["occupancy"] >= TARGET_OCCUPANCY},
        {"target": f"max generating == P ({P})", "value": capped["max_generating"],
         "pass": capped["max_generating"] == P},
        {"target": f"max in flight <= P + {args.queue} (capped)", "value": capped["max_in_flight"],
         "pass": capped["max_in_flight"] <= P + args.queue},
        {"target": f"cache-hit p50 <= {TARGET_HIT_P50_MS:.0f} ms", "value": cache["hit_p50_ms"],
         "pass": cache["hit_p50_ms"] <= TARGET_HIT_P50_MS},
    ]
    for v in verdicts:
        value = f"{v['value']:.1%}" if isinstance(v["value"], float) and v["value"] <= 1.5 else v["value"]
        print(f"{'PASS' if v['pass'] else 'FAIL'}  {v['target']}: {value}")
    path = write_json("ollama_slots-what-if.json" if args.what_if else "ollama_slots.json", {"machine": machine(), "params": vars(args), "slots": slots,
                                            "cache": cache, "verdicts": verdicts})
    print(f"\nwrote {path}")
    return 0 if all(v["pass"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
