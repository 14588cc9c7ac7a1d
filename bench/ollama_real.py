"""The service against a real Ollama (0.17.4, gemma3-tiny), at the server's own parallelism, vs the naive loop.

The stand-in benchmarks (throughput.py, ollama_slots.py) fix the model's latency; here the model really
generates, on this machine's CPU, with OLLAMA_NUM_PARALLEL = P slots. A recording proxy
(bench/ollama_proxy.py) sits between each client and the server and records every generate call (HTTP
start/end, Ollama's eval_count). Scenarios, each on fresh topics of the same broker and the same server:

  direct   P threads calling the server through the product's OllamaTextModel (no Kafka): what the
           server itself delivers at P slots
  naive    bench.common's naive loop (poll one, call the model, produce, flush, commit), as a child process
  service  `python -m models_processor run`, CONCURRENT_REQUESTS=C
  naive-after, direct-after   the baselines again: the shared machine's load drifts within a run, so each
           baseline is pooled over its runs before and after the service (tokens / window)

Figures per scenario: req/s (Kafka timestamps, as throughput.py; direct: wall time), output tokens/s (sum of
eval_count / the proxy's window), slot occupancy (integral of min(in flight, P) / (P x window)), peak in
flight at the server, p50/p99 end-to-end latency. Ratios in the same run: service / naive and service /
direct. Prompts are unique (RESULT_CACHE_SIZE=0) and ask for one short sentence; every client uses the
product's default model options, so the three send identical runner options (no reload between them).
Targets: service >= 0.8 x direct tokens/s, slot occupancy >= 90 %, service / naive >= 0.8 x direct / naive
(on a CPU the P slots share the same cores: what they give over one call at a time is measured by direct /
naive, not assumed to be P), every request answered. Writes bench/out/ollama_real.json (read by
bench/report.py).

The text role goes to the real server; the vision role to the stand-in (the tiny model cannot see images,
and /ready needs a vision model that can), which this benchmark never calls.

Usage: python -m bench.ollama_real [--parallel 2] [--concurrency 4] [--requests 24] [--naive-requests 8]
                                   [--quick]
OLLAMA_HOST set: that server is used (its parallelism must equal --parallel; model OLLAMA_TEST_MODEL).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict

from bench.common import (
    AnswerCollector,
    LocalBroker,
    NaiveProcess,
    Processor,
    RunFigures,
    Topics,
    figures,
    machine,
    percentile,
    produce_requests,
    quiet_standin_disconnects,
    text_request,
    write_json,
)
from bench.ollama_proxy import RecordingProxy, occupancy
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.ollama_local import LocalOllama

VISION_STANDIN_MODEL = "llava:7b"
TARGET_VS_DIRECT = 0.8
TARGET_OCCUPANCY = 0.9


def prompts(n: int, tag: str) -> list[tuple[str, str]]:
    run = uuid.uuid4().hex[:6]
    return [(f"{tag}-{run}-{i}", f"[{run}-{i}] In one short sentence, suggest a dinner with lentils.")
            for i in range(n)]


def server_figures(proxy: RecordingProxy, slots: int) -> dict:
    calls = proxy.generations()
    occ = occupancy(calls, slots)
    tokens = sum(c.eval_count for c in calls)
    return {"calls": len(calls), "tokens": tokens, "tokens_per_s": tokens / occ["window_s"] if occ["window_s"] else 0.0,
            "mean_tokens": tokens / len(calls) if calls else 0.0, "occupancy": occ["occupancy"],
            "max_in_flight": occ["max_in_flight"], "window_s": occ["window_s"],
            "errors": sum(1 for c in calls if c.status != 200 or c.eval_count == 0)}


def run_direct(proxy: RecordingProxy, model: str, slots: int, calls_per_thread: int, num_predict: int) -> RunFigures:
    from models_processor.config import load_settings
    from models_processor.deadline import Deadline
    from models_processor.llm.factory import build_models
    from models_processor.metrics import Metrics

    settings = load_settings({"OLLAMA_HOST": proxy.url, "OLLAMA_MODEL": model, "RESULT_CACHE_SIZE": "0",
                              "CONCURRENT_REQUESTS": str(slots), "OLLAMA_NUM_PARALLEL": str(slots),
                              "LLM_NUM_PREDICT": str(num_predict)})
    text_model = build_models(settings, Metrics()).text
    latencies: list[float] = []
    lock = threading.Lock()
    items = prompts(slots * calls_per_thread, "direct")

    def worker(index: int) -> None:
        for _, prompt in items[index::slots]:
            started = time.monotonic()
            text_model.generate_text(prompt, deadline=Deadline.after(600))
            with lock:
                latencies.append((time.monotonic() - started) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(slots)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    n = len(items)
    return RunFigures("direct", n, len(latencies), n - len(latencies), seconds, len(latencies) / seconds,
                      percentile(latencies, 50), percentile(latencies, 99), 0.0)


class RealNaiveProcess(NaiveProcess):
    """bench.common's naive loop, with the real server's model name instead of the stand-in's."""

    def __init__(self, bootstrap: str, topics: Topics, url: str, expected: int, label: str, model: str,
                 num_predict: int) -> None:
        super().__init__(bootstrap, topics, url, expected, label)
        self._argv[1:3] = ["-m", "bench.ollama_real"]
        self._argv += ["--model", model, "--num-predict", str(num_predict)]


def burst(bootstrap: str, topics: Topics, n: int, label: str, timeout: float) -> tuple[dict, dict]:
    collector = AnswerCollector(bootstrap, [topics.text])
    try:
        items = [(key, text_request(prompt)) for key, prompt in prompts(n, label)]
        sent = produce_requests(bootstrap, topics.request, items, linger_ms=5)
        return sent, collector.wait_for(sent, timeout=timeout)
    finally:
        collector.close()


def run_naive(bootstrap: str, proxy: RecordingProxy, model: str, n: int, partitions: int, num_predict: int,
              timeout: float) -> RunFigures:
    topics = Topics.fresh(bootstrap, "real-naive", partitions)
    naive = RealNaiveProcess(bootstrap, topics, proxy.url, n, "real-naive", model, num_predict).start()
    try:
        sent, answers = burst(bootstrap, topics, n, "naive", timeout)
    finally:
        peak = naive.stop()
    return figures("naive", sent, answers, peak)


def run_service(bootstrap: str, proxy: RecordingProxy, vision_url: str, model: str, n: int, partitions: int,
                concurrency: int, slots: int, num_predict: int, timeout: float) -> RunFigures:
    topics = Topics.fresh(bootstrap, "real-service", partitions)
    env = topics.env(bootstrap, OLLAMA_TEXT_HOST=proxy.url, OLLAMA_TEXT_MODEL=model,
                     OLLAMA_VISION_HOST=vision_url, OLLAMA_VISION_MODEL=VISION_STANDIN_MODEL,
                     CONCURRENT_REQUESTS=str(concurrency), RESULT_CACHE_SIZE="0",
                     OLLAMA_NUM_PARALLEL=str(slots),  # the client's in-flight cap follows the server's slots
                     LLM_NUM_PREDICT=str(num_predict))
    proc = Processor(env, "real-service").start(ready_timeout=300)
    try:
        time.sleep(1.0)
        proxy.clear()  # the warm-up is not part of the window
        sent, answers = burst(bootstrap, topics, n, "service", timeout)
    finally:
        peak = proc.stop()
    return figures("service", sent, answers, peak)


def measure(args: argparse.Namespace, server: LocalOllama, bootstrap: str, vision_url: str) -> dict[str, dict]:
    """direct, naive, service, then naive and direct again: the load of a shared machine drifts within a run,
    so each baseline is measured before and after the service and pooled (see baselines())."""
    P, model = args.parallel, server.model
    results: dict[str, dict] = {}
    with RecordingProxy(server.base_url) as proxy:

        def scenario(name: str, run: Callable[[], RunFigures]) -> dict:
            print(f"{name} ...", file=sys.stderr)
            proxy.clear()
            load_before = os.getloadavg()[0]
            figures_ = run()
            results[name] = {**asdict(figures_), **server_figures(proxy, P),
                             "loadavg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
            return results[name]

        def direct() -> RunFigures:
            return run_direct(proxy, model, P, args.direct_calls, args.num_predict)

        first = scenario("direct", direct)
        per_call_s = first["window_s"] * P / max(1, first["answered"])

        def naive() -> RunFigures:
            return run_naive(bootstrap, proxy, model, args.naive_requests, args.partitions, args.num_predict,
                             timeout=120 + 3 * args.naive_requests * per_call_s)

        scenario("naive", naive)
        scenario("service", lambda: run_service(
            bootstrap, proxy, vision_url, model, args.requests, args.partitions, args.concurrency, P,
            args.num_predict, timeout=120 + 3 * args.requests * per_call_s / P))
        scenario("naive-after", naive)
        scenario("direct-after", direct)
    return results


def baselines(results: dict[str, dict]) -> dict[str, float]:
    """Pooled tokens/s of each baseline over its two runs (before and after the service)."""
    def pooled(*names: str) -> float:
        window = sum(results[n]["window_s"] for n in names)
        return sum(results[n]["tokens"] for n in names) / window if window else 0.0

    return {"direct_tokens_per_s": pooled("direct", "direct-after"),
            "naive_tokens_per_s": pooled("naive", "naive-after")}


def report(args: argparse.Namespace, results: dict[str, dict], server: LocalOllama) -> list[dict]:
    P, C = args.parallel, args.concurrency
    print(f"\nreal Ollama {server.base_url} model {server.model}, OLLAMA_NUM_PARALLEL={P}, "
          f"CONCURRENT_REQUESTS={C}; {machine()}")
    header = (f"{'scenario':<12} {'requests':>8} {'answered':>8} {'req/s':>7} {'tok/s':>7} {'tok/call':>8} "
              f"{'occupancy':>9} {'max in flight':>13} {'p50 ms':>8} {'p99 ms':>8}")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(f"{name:<12} {r['requests']:>8} {r['answered']:>8} {r['rps']:>7.2f} {r['tokens_per_s']:>7.1f} "
              f"{r['mean_tokens']:>8.1f} {r['occupancy']:>8.1%} {r['max_in_flight']:>13} {r['p50_ms']:>8.0f} "
              f"{r['p99_ms']:>8.0f}  load {r['loadavg_1m'][0]}->{r['loadavg_1m'][1]}")
    svc, base = results["service"], baselines(results)
    direct_tps, naive_tps = base["direct_tokens_per_s"], base["naive_tokens_per_s"]
    vs_direct = svc["tokens_per_s"] / direct_tps if direct_tps else 0.0
    vs_naive = svc["tokens_per_s"] / naive_tps if naive_tps else 0.0
    print(f"\nbaselines pooled over before + after the service: direct {direct_tps:.1f} tok/s, naive "
          f"{naive_tps:.1f} tok/s; service / naive {vs_naive:.2f} x tok/s; service / direct {vs_direct:.2f} x tok/s")
    slots_gain = direct_tps / naive_tps if naive_tps else 0.0
    print(f"INFO  what P={P} slots give on this server (direct / naive): {slots_gain:.2f} x tok/s; on a CPU the "
          "slots share the same cores, so this, not P, bounds service / naive")
    verdicts = [
        {"target": f"service tok/s >= {TARGET_VS_DIRECT} x direct (the server's ceiling at P slots)",
         "value": round(vs_direct, 3), "pass": vs_direct >= TARGET_VS_DIRECT},
        {"target": f"slot occupancy (service) >= {TARGET_OCCUPANCY:.0%}", "value": round(svc["occupancy"], 3),
         "pass": svc["occupancy"] >= TARGET_OCCUPANCY},
        {"target": f"service / naive >= {TARGET_VS_DIRECT} x direct / naive", "value": round(vs_naive, 3),
         "pass": vs_naive >= TARGET_VS_DIRECT * slots_gain},
        {"target": "every service request answered ok", "value": svc["answered"] - svc["errors"],
         "pass": svc["answered"] == svc["requests"] and svc["errors"] == 0},
    ]
    for v in verdicts:
        print(f"{'PASS' if v['pass'] else 'FAIL'}  {v['target']}: {v['value']}")
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description="The service against a real Ollama vs the naive loop.")
    parser.add_argument("--parallel", type=int, default=2, help="OLLAMA_NUM_PARALLEL P (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="CONCURRENT_REQUESTS (default 4)")
    parser.add_argument("--requests", type=int, default=24, help="service requests (default 24)")
    parser.add_argument("--naive-requests", type=int, default=8, help="naive-loop requests (default 8)")
    parser.add_argument("--direct-calls", type=int, default=4, help="calls per direct thread (default 4)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--num-predict", type=int, default=64,
                        help="LLM_NUM_PREDICT of every client (default 64: the base model writes until the cap)")
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.naive_requests, args.direct_calls = min(args.requests, 12), min(args.naive_requests, 4), 2
    quiet_standin_disconnects()
    vision = OllamaStandIn(models=(VISION_STANDIN_MODEL,))
    vision_url = vision.start()
    server = LocalOllama.from_env(env={"OLLAMA_NUM_PARALLEL": str(args.parallel)})
    broker = LocalBroker.from_env()
    print("starting the local broker and the real Ollama (a first run builds it: minutes) ...", file=sys.stderr)
    try:
        broker.start()
        server.start()
        results = measure(args, server, broker.bootstrap, vision_url)
    finally:
        server.close()
        broker.stop()
        vision.stop()
    verdicts = report(args, results, server)
    path = write_json("ollama_real.json", {"machine": machine(), "params": vars(args), "server": server.base_url,
                                           "model": server.model, "results": results,
                                           "baselines": baselines(results), "verdicts": verdicts})
    print(f"\nwrote {path}")
    return 0 if all(v["pass"] for v in verdicts) else 1


def _naive_main(argv: list[str]) -> None:
    """`python -m bench.ollama_real naive ... --model M`: bench.common's naive loop for model M."""
    import bench.common as common

    parser = argparse.ArgumentParser()
    import models_processor.config as config

    for name in ("--bootstrap", "--request-topic", "--response-topic", "--group", "--ollama", "--model"):
        parser.add_argument(name, required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--num-predict", required=True)
    args = parser.parse_args(argv)
    # naive_loop builds its settings from bench.common.MODEL and models_processor.config.load_settings at call
    # time: the same loop, with this server's model and the same output cap as the other scenarios.
    common.MODEL = args.model
    load_settings = config.load_settings
    config.load_settings = lambda env: load_settings({**env, "LLM_NUM_PREDICT": args.num_predict})
    common.naive_loop(args.bootstrap, args.request_topic, args.response_topic, args.group, args.ollama,
                      args.expected)


if __name__ == "__main__":
    if sys.argv[1:2] == ["naive"]:
        _naive_main(sys.argv[2:])
    else:
        sys.exit(main())
