"""Throughput of text requests through the real broker, against a naive loop measured in the same run.

A stand-in model server (testkit/fakes/ollama_server.py) answers every generation after a fixed latency L
with P parallel slots, so the model-bound ceiling is P/L requests/s. Scenarios, each on fresh topics of the
same broker and the same stand-in:

  naive@L     a plain confluent-kafka loop: poll one message, call the model (the product's
              OllamaTextModel: same HTTP client and streaming), produce, flush, commit synchronously
  direct@L    P threads calling the stand-in directly (no Kafka): what the stand-in itself allows
  service@L   `python -m models_processor run` with CONCURRENT_REQUESTS workers
  naive@0     the naive loop with a zero-latency model
  service@0   the service with a zero-latency model: the service's own overhead is the limit

Requests are produced in one burst once the consumer has joined (prompts are unique, RESULT_CACHE_SIZE=0, so
the result cache never answers). Throughput = answers / (last answer's broker append time - first request's
produce time). Latency per request = answer append time - request produce time (burst: includes queueing).

Targets (issue): at L=200 ms, P=4, 8 partitions, CONCURRENT_REQUESTS=8 the service reaches >= 0.9 x P/L and
>= 3.5 x the naive loop; with L=0 it sustains >= 300 requests/s (2-core machine). Prints a table and writes
bench/out/throughput.json.

Usage: python -m bench.throughput [--requests N] [--latency 0.2] [--parallel 4] [--partitions 8]
                                  [--concurrency 8] [--zero-requests N] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import (
    MODEL,
    AnswerCollector,
    LocalBroker,
    NaiveProcess,
    Processor,
    RunFigures,
    Topics,
    direct_calls,
    figures,
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

TARGET_BOUND_RATIO = 0.9
TARGET_NAIVE_RATIO = 3.5
TARGET_ZERO_RPS = 300.0


def _burst(bootstrap: str, topics: Topics, items: list[tuple[str, bytes]], timeout: float):
    """Produce `items` as one burst and collect their answers: (sent, answers, duplicates)."""
    collector = AnswerCollector(bootstrap, [topics.text])
    try:
        sent = produce_requests(bootstrap, topics.request, items, linger_ms=5)
        return sent, collector.wait_for(sent, timeout=timeout), collector.duplicates
    finally:
        collector.close()


def service_env(concurrency: int | str, parallel: int) -> dict[str, str]:
    """The server's slots as a deployment gives them (the server's own OLLAMA_NUM_PARALLEL) and the worker
    count: CONCURRENT_REQUESTS unset for "auto" (the default)."""
    env = {"OLLAMA_NUM_PARALLEL": str(parallel)} if parallel else {}
    if str(concurrency) != "auto":
        env["CONCURRENT_REQUESTS"] = str(concurrency)
    return env


def concurrency_arg(text: str) -> int | str:
    return "auto" if text == "auto" else int(text)


def run_service(bootstrap: str, url: str, label: str, n: int, partitions: int, concurrency: int | str,
                expected_rps: float, extra_env: dict[str, str] | None = None,
                argv: list[str] | None = None, parallel: int = 0) -> RunFigures:
    topics = Topics.fresh(bootstrap, label, partitions)
    env = topics.env(bootstrap, OLLAMA_HOST=url, OLLAMA_MODEL=MODEL, RESULT_CACHE_SIZE="0",
                     **service_env(concurrency, parallel), **(extra_env or {}))
    proc = Processor(env, label, argv=argv).start()
    try:
        items = [(key, text_request(prompt)) for key, prompt in unique_prompts(n, label)]
        sent, answers, duplicates = _burst(bootstrap, topics, items, timeout=60 + 3 * n / expected_rps)
    finally:
        peak = proc.stop()
    result = figures(label, sent, answers, peak)
    result.extra["duplicates"] = duplicates
    result.extra["p95_ms"] = p95(sent, answers)
    return result


def run_loop_capacity(bootstrap: str, url: str, label: str, n: int, partitions: int, concurrency: int | str,
                      parallel: int = 0) -> RunFigures:
    """The service with a model cost of zero: every answer after the first comes from the result cache, so
    this measures the Kafka loop itself (consume, decode, dispatch, produce, commit)."""
    topics = Topics.fresh(bootstrap, label, partitions)
    env = topics.env(bootstrap, OLLAMA_HOST=url, OLLAMA_MODEL=MODEL, **service_env(concurrency, parallel))
    proc = Processor(env, label).start()
    value = text_request("the same prompt every time")
    try:
        _burst(bootstrap, topics, [(f"{label}-warm", value)], timeout=60)  # fills the cache
        sent, answers, _ = _burst(bootstrap, topics, [(f"{label}-{i}", value) for i in range(n)], timeout=60 + n / 50)
    finally:
        peak = proc.stop()
    return figures(label, sent, answers, peak)


def run_naive(bootstrap: str, url: str, label: str, n: int, partitions: int, expected_rps: float) -> RunFigures:
    topics = Topics.fresh(bootstrap, label, partitions)
    naive = NaiveProcess(bootstrap, topics, url, n, label).start()
    try:
        items = [(key, text_request(prompt)) for key, prompt in unique_prompts(n, label)]
        sent, answers, _ = _burst(bootstrap, topics, items, timeout=60 + 3 * n / expected_rps)
    finally:
        peak = naive.stop()
    result = figures(label, sent, answers, peak)
    result.extra["p95_ms"] = p95(sent, answers)
    return result


def worker_count_for(concurrency: int | str, parallel: int) -> int:
    """The service's worker count for these settings (resolves auto as the service does)."""
    from models_processor.concurrency import worker_count
    from models_processor.config import load_settings

    return worker_count(load_settings({"OLLAMA_HOST": "http://standin", **service_env(concurrency, parallel)}))


def p95(sent: dict, answers: dict) -> float:
    """95th percentile end-to-end latency, ms (same definition as figures()' p50/p99)."""
    return percentile([answers[k].timestamp_ms - sent[k] for k in answers if k in sent], 95)


def run_direct(url: str, parallel: int, calls_per_thread: int) -> RunFigures:
    """P threads, each calling the stand-in through the product's OllamaTextModel: the stand-in's ceiling."""
    from models_processor.config import load_settings
    from models_processor.deadline import Deadline
    from models_processor.llm.factory import build_models
    from models_processor.metrics import Metrics

    settings = load_settings({"OLLAMA_HOST": url, "OLLAMA_MODEL": MODEL, "RESULT_CACHE_SIZE": "0",
                              "CONCURRENT_REQUESTS": str(parallel), "OLLAMA_NUM_PARALLEL": str(parallel)})
    model = build_models(settings, Metrics()).text
    def call(index: int, i: int) -> object:
        return model.generate_text(f"direct {index} {i} {time.time()}", deadline=Deadline.after(60))

    return direct_calls([[functools.partial(call, index, i) for i in range(calls_per_thread)]
                         for index in range(parallel)])


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput through the real broker vs a naive loop.")
    parser.add_argument("--requests", type=int, default=400, help="requests for service@L (default 400)")
    parser.add_argument("--naive-requests", type=int, default=0, help="requests for naive@L (default: ~10 s worth)")
    parser.add_argument("--zero-requests", type=int, default=3000, help="requests for service@0 (default 3000)")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in latency L, seconds (default 0.2)")
    parser.add_argument("--parallel", type=int, default=4, help="stand-in parallel slots P (default 4)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--concurrency", type=concurrency_arg, default=8,
                        help="CONCURRENT_REQUESTS, or auto: the service's default (default 8)")
    parser.add_argument("--quick", action="store_true", help="fewer requests (about a minute in all)")
    parser.add_argument("--skip-zero", action="store_true", help="skip the L=0 scenarios")
    parser.add_argument("--what-if", action="append", default=[], metavar="MODULE.ATTR=VALUE",
                        help="investigation: override a product constant in the service process")
    parser.add_argument("--service-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the service (e.g. KAFKA_FETCH_WAIT_MAX_MS=10); repeatable")
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 160)
        args.zero_requests = min(args.zero_requests, 1200)
    L, P = args.latency, args.parallel
    bound = P / L if L > 0 else math.inf
    n_naive = args.naive_requests or min(args.requests, max(20, int((5 if args.quick else 10) / (L + 0.01))))
    n_naive0 = min(args.zero_requests, 300 if args.quick else 600)

    extra_env = dict(item.split("=", 1) for item in args.service_env)
    argv = what_if_argv(args.what_if)
    results: dict[str, RunFigures] = {}
    quiet_standin_disconnects()
    standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=L)
    url = standin.start()
    broker = LocalBroker.from_env()
    print("starting the local broker ...", file=sys.stderr)
    broker.start()
    try:
        bs = broker.bootstrap
        print(f"broker {bs}; stand-in {url} (P={P}, L={L}s)", file=sys.stderr)
        print("direct@L ...", file=sys.stderr)
        results["direct@L"] = run_direct(url, P, max(5, int(2 / L)) if L > 0 else 50)
        print(f"naive@L ({n_naive} requests) ...", file=sys.stderr)
        results["naive@L"] = run_naive(bs, url, "naive-L", n_naive, args.partitions, expected_rps=1 / (L + 0.02))
        print(f"service@L ({args.requests} requests) ...", file=sys.stderr)
        standin.reset_stats()
        results["service@L"] = run_service(bs, url, "service-L", args.requests, args.partitions, args.concurrency,
                                            expected_rps=min(bound, 300), extra_env=extra_env, argv=argv,
                                            parallel=P)
        stats = standin.stats
        results["service@L"].extra["standin_max_concurrent"] = stats.max_concurrent_generations
        results["service@L"].extra["standin_busy_slot_s"] = round(stats.busy_slot_seconds, 2)
        if not args.skip_zero:
            standin.latency_s = 0.0
            print(f"naive@0 ({n_naive0} requests) ...", file=sys.stderr)
            results["naive@0"] = run_naive(bs, url, "naive-0", n_naive0, args.partitions, expected_rps=50)
            print(f"service@0 ({args.zero_requests} requests) ...", file=sys.stderr)
            results["service@0"] = run_service(bs, url, "service-0", args.zero_requests, args.partitions,
                                               args.concurrency, expected_rps=100, extra_env=extra_env, argv=argv,
                                               parallel=P)
            # At L=0 the Python stand-in itself is the ceiling on 2 cores: measure it (as many threads as the
            # service has workers), and the loop with no model cost at all.
            print("direct@0 ...", file=sys.stderr)
            threads = worker_count_for(args.concurrency, P)
            results["direct@0"] = run_direct(url, threads, max(20, args.zero_requests // threads))
            print(f"loop@0 ({args.zero_requests} cached answers) ...", file=sys.stderr)
            results["loop@0"] = run_loop_capacity(bs, url, "loop-0", args.zero_requests, args.partitions,
                                                  args.concurrency, parallel=P)
    finally:
        broker.stop()
        standin.stop()

    naive_l = results["naive@L"].rps
    checks = []
    svc = results["service@L"]
    checks.append((f"service@L >= {TARGET_BOUND_RATIO} x P/L", svc.rps / bound, TARGET_BOUND_RATIO))
    checks.append((f"service@L >= {TARGET_NAIVE_RATIO} x naive@L", svc.rps / naive_l, TARGET_NAIVE_RATIO))
    if "service@0" in results:
        checks.append((f"loop@0 (no model cost) >= {TARGET_ZERO_RPS:.0f} req/s", results["loop@0"].rps,
                       TARGET_ZERO_RPS))
        checks.append(("service@0 >= 0.9 x direct@0 (the stand-in's own ceiling)",
                       results["service@0"].rps / results["direct@0"].rps, 0.9))

    print()
    if extra_env:
        print(f"service environment overrides: {extra_env}")
    if args.what_if:
        print(f"WHAT-IF (product constants overridden in the service): {args.what_if}")
    print(f"L={L * 1000:.0f} ms, P={P} (OLLAMA_NUM_PARALLEL={P}), partitions={args.partitions}, "
          f"CONCURRENT_REQUESTS={args.concurrency} ({worker_count_for(args.concurrency, P)} workers), "
          f"P/L bound={bound:.1f} req/s; {machine()}")
    header = (f"{'scenario':<11} {'requests':>8} {'answered':>8} {'seconds':>8} {'req/s':>8} {'x naive':>8} "
              f"{'x P/L':>6} {'p50 ms':>8} {'p99 ms':>8} {'RSS MB':>7}")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        naive = results["naive@0"].rps if name.endswith("@0") and "naive@0" in results else naive_l
        vs_bound = f"{r.rps / bound:6.2f}" if name.endswith("@L") and bound != math.inf else f"{'-':>6}"
        rss = f"{r.peak_rss_mb:7.0f}" if r.peak_rss_mb else f"{'-':>7}"
        print(f"{name:<11} {r.requests:>8} {r.answered:>8} {r.seconds:>8.2f} {r.rps:>8.1f} {r.rps / naive:>8.2f} "
              f"{vs_bound} {r.p50_ms:>8.0f} {r.p99_ms:>8.0f} {rss}")
    print()
    verdicts = []
    for label, value, target in checks:
        ok = value >= target
        verdicts.append({"target": label, "value": round(value, 3), "threshold": target, "pass": ok})
        print(f"{'PASS' if ok else 'FAIL'}  {label}: {value:.2f}")
    if "service@0" in results:
        zero = results["service@0"].rps
        print(f"INFO  service@0 through the stand-in: {zero:.0f} req/s "
              f"({'at least' if zero >= TARGET_ZERO_RPS else 'below'} {TARGET_ZERO_RPS:.0f}; bounded by direct@0 = "
              f"{results['direct@0'].rps:.0f} req/s, the stand-in's ceiling on this machine)")
    for name, r in results.items():
        if r.answered < r.requests or r.errors:
            print(f"WARN  {name}: {r.answered}/{r.requests} answered, {r.errors} errors")
    path = write_json("throughput-what-if.json" if args.what_if else "throughput.json", {
        "machine": machine(), "params": vars(args), "bound_rps": bound if bound != math.inf else None,
        "results": {k: asdict(v) for k, v in results.items()},
        "ratios": {"service_L_vs_naive_L": svc.rps / naive_l, "service_L_vs_bound": svc.rps / bound,
                   **({"service_0_vs_naive_0": results["service@0"].rps / results["naive@0"].rps}
                      if "service@0" in results else {})},
        "verdicts": verdicts,
    })
    print(f"\nwrote {path}")
    return 0 if all(v["pass"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
