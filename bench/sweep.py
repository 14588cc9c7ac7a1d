"""Throughput and latency of the service against the naive loop over concurrency and model latency.

One local broker and one stand-in model server (P parallel slots, fixed latency L) for the whole sweep; every
point runs on fresh topics with a burst of unique prompts (RESULT_CACHE_SIZE=0), exactly as bench/throughput.py
does (its `run_service` / `run_naive` are reused):

  (a) concurrency  CONCURRENT_REQUESTS in {1, 2, 4, 8, 16} at L=200 ms, P=4 (the naive loop has no
                   concurrency: it is measured once at L=200 ms and is the baseline of every point)
  (b) latency      L in {0, 50, 200, 500} ms at CONCURRENT_REQUESTS=8, P=4; service and naive at each L

Per point: req/s, ratio vs the naive loop at the same L (same run), ratio vs the model-bound P/L (and vs
min(C, P)/L, the bound at that concurrency), p50/p95/p99 end-to-end latency (answer's broker append time -
request's produce time; a burst, so it includes queueing), peak RSS of the process (service or naive loop).
Writes bench/out/sweep.json. No targets: these are figures for bench/report.py.

Usage: python -m bench.sweep [--quick] [--concurrency-list 1,2,4,8,16] [--latency-list 0,50,200,500]
                             [--latency-ms 200] [--concurrency 8] [--parallel 4] [--partitions 8] [--seconds S]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from bench.common import MODEL, LocalBroker, RunFigures, machine, quiet_standin_disconnects, write_json
from bench.throughput import run_naive, run_service
from testkit.fakes.ollama_server import OllamaStandIn

ROOT = Path(__file__).resolve().parents[1]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def service_requests(L: float, concurrency: int, P: int, seconds: float, zero: int) -> int:
    """About `seconds` of work at the bound min(C, P)/L; a fixed count at L=0 (overhead-bound)."""
    if L <= 0:
        return zero
    return max(30, min(400, int(seconds * min(concurrency, P) / L)))


def naive_requests(L: float, seconds: float, zero: int) -> int:
    if L <= 0:
        return zero
    return max(10, min(200, int(seconds / (L + 0.02))))


def point(kind: str, L: float, C: int | None, P: int, r: RunFigures, naive_rps: float | None) -> dict:
    bound = P / L if L > 0 else None
    c_bound = min(C, P) / L if (L > 0 and C) else None
    return {
        "kind": kind, "latency_ms": round(L * 1000), "concurrency": C, "parallel": P,
        "requests": r.requests, "answered": r.answered, "errors": r.errors, "seconds": round(r.seconds, 3),
        "rps": r.rps, "vs_naive": (r.rps / naive_rps) if naive_rps else None,
        "bound_rps": bound, "vs_bound": (r.rps / bound) if bound else None,
        "c_bound_rps": c_bound, "vs_c_bound": (r.rps / c_bound) if c_bound else None,
        "p50_ms": r.p50_ms, "p95_ms": r.extra.get("p95_ms"), "p99_ms": r.p99_ms, "peak_rss_mb": r.peak_rss_mb,
        "duplicates": r.extra.get("duplicates", 0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few requests per point (about 5 minutes in all)")
    parser.add_argument("--concurrency-list", type=ints, default=[1, 2, 4, 8, 16])
    parser.add_argument("--latency-list", type=ints, default=[0, 50, 200, 500], help="model latencies, ms")
    parser.add_argument("--latency-ms", type=int, default=200, help="L of the concurrency sweep (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="CONCURRENT_REQUESTS of the latency sweep")
    parser.add_argument("--parallel", type=int, default=4, help="stand-in parallel slots P (default 4)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="target burst length per point at the bound (default 8 quick, 20 full)")
    args = parser.parse_args()
    seconds = args.seconds or (8.0 if args.quick else 20.0)
    zero_service = 300 if args.quick else 1500
    zero_naive = 150 if args.quick else 600
    P = args.parallel
    L_c = args.latency_ms / 1000

    quiet_standin_disconnects()
    standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=L_c)
    url = standin.start()
    broker = LocalBroker.from_env()
    print("starting the local broker ...", file=sys.stderr)
    broker.start()
    started = time.monotonic()
    naive: dict[int, dict] = {}  # L ms -> naive point
    service_c: dict[int, dict] = {}  # C -> point at L = --latency-ms
    service_l: dict[int, dict] = {}  # L ms -> point at C = --concurrency
    shared: dict[tuple[int, int], RunFigures] = {}  # (L ms, C) -> result, so the common point runs once
    try:
        bs = broker.bootstrap

        def naive_at(L_ms: int) -> dict:
            if L_ms not in naive:
                L = L_ms / 1000
                standin.latency_s = L
                n = naive_requests(L, seconds, zero_naive)
                print(f"naive  L={L_ms} ms ({n} requests) ...", file=sys.stderr)
                r = run_naive(bs, url, f"sweep-naive-{L_ms}", n, args.partitions,
                              expected_rps=1 / (L + 0.02) if L > 0 else 50)
                naive[L_ms] = point("naive", L, None, P, r, r.rps)
            return naive[L_ms]

        def service_at(L_ms: int, C: int) -> RunFigures:
            if (L_ms, C) not in shared:
                L = L_ms / 1000
                standin.latency_s = L
                n = service_requests(L, C, P, seconds, zero_service)
                print(f"service L={L_ms} ms C={C} ({n} requests) ...", file=sys.stderr)
                shared[(L_ms, C)] = run_service(bs, url, f"sweep-service-{L_ms}-c{C}", n, args.partitions, C,
                                                expected_rps=min(C, P) / L if L > 0 else 100, parallel=P)
            return shared[(L_ms, C)]

        base = naive_at(args.latency_ms)
        for C in args.concurrency_list:
            service_c[C] = point("service", L_c, C, P, service_at(args.latency_ms, C), base["rps"])
        for L_ms in args.latency_list:
            n_point = naive_at(L_ms)
            service_l[L_ms] = point("service", L_ms / 1000, args.concurrency, P,
                                    service_at(L_ms, args.concurrency), n_point["rps"])
    finally:
        broker.stop()
        standin.stop()
    wall = time.monotonic() - started

    def row(label: str, p: dict) -> str:
        def f(v, fmt):
            return format(v, fmt) if v is not None and not (isinstance(v, float) and math.isnan(v)) else "-"
        return (f"{label:<18} {p['requests']:>5} {p['answered']:>5} {f(p['rps'], '8.1f'):>8} "
                f"{f(p['vs_naive'], '7.2f'):>7} {f(p['vs_bound'], '6.2f'):>6} {f(p['p50_ms'], '7.0f'):>7} "
                f"{f(p['p95_ms'], '7.0f'):>7} {f(p['p99_ms'], '7.0f'):>7} {f(p['peak_rss_mb'], '6.0f'):>6}")

    header = (f"{'point':<18} {'req':>5} {'ans':>5} {'req/s':>8} {'x naive':>7} {'x P/L':>6} {'p50 ms':>7} "
              f"{'p95 ms':>7} {'p99 ms':>7} {'RSS MB':>6}")
    print()
    print(f"P={P}, partitions={args.partitions}; {machine()}; sweep wall {wall:.0f} s")
    print(f"(a) concurrency at L={args.latency_ms} ms (naive baseline {base['rps']:.1f} req/s)")
    print(header)
    print("-" * len(header))
    print(row(f"naive L={args.latency_ms}", base))
    for C, p in service_c.items():
        print(row(f"service C={C}", p))
    print(f"\n(b) model latency at CONCURRENT_REQUESTS={args.concurrency}")
    print(header)
    print("-" * len(header))
    for L_ms in args.latency_list:
        print(row(f"naive L={L_ms}", naive[L_ms]))
        print(row(f"service L={L_ms}", service_l[L_ms]))
    warnings = [f"{k}: {p['answered']}/{p['requests']} answered, {p['errors']} errors"
                for k, p in [*((f"service C={c}", p) for c, p in service_c.items()),
                             *((f"service L={lat}", p) for lat, p in service_l.items()),
                             *((f"naive L={lat}", p) for lat, p in naive.items())]
                if p["answered"] < p["requests"] or p["errors"]]
    for w in warnings:
        print(f"WARN  {w}")
    path = write_json("sweep.json", {
        "machine": machine(), "params": {**vars(args), "seconds": seconds}, "wall_s": wall,
        "concurrency_sweep": {"latency_ms": args.latency_ms, "naive": base,
                              "service": [service_c[c] for c in args.concurrency_list]},
        "latency_sweep": {"concurrency": args.concurrency,
                          "naive": [naive[lat] for lat in args.latency_list],
                          "service": [service_l[lat] for lat in args.latency_list]},
        "warnings": warnings,
    })
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
