"""The model client's CPU per call with one thread calling and with many threads calling at once.

The service makes its model calls from worker threads (two per model slot by default), each blocked on its
own streamed response. This measures what that costs in CPU: the same streamed generate calls to the
stand-in (testkit/fakes, in a child process, L seconds per call, P slots) made by 1 thread and by each of
--threads thread counts, in interleaved rounds; the figure is this process's CPU time (user + system) per
call, so the stand-in's own CPU is not counted. The rise from 1 thread to N is what the threads' wake-ups
per streamed chunk and their GIL hand-overs cost, the part of the request path no change inside one call
removes (docs/BENCHMARKS.md, "2026-12-01 (later): a leaner request path").

Usage: python -m bench.client_threads [--threads 8,16] [--latency 0.05] [--parallel 8] [--calls 12]
                                      [--rounds 5]
Writes bench/out/client_threads.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry

from bench.common import machine, write_json
from models_processor.deadline import Deadline
from models_processor.llm.api import GenerateRequest, Options
from models_processor.llm.client import OllamaClient
from models_processor.metrics import Metrics

MODEL = "bench:1"


def _serve(port_out: Any, stop: Any, latency: float, parallel: int) -> None:
    from testkit.fakes.ollama_server import OllamaStandIn

    server = OllamaStandIn(models=(MODEL,), num_parallel=parallel, latency_s=latency)
    server.start()
    port_out.put(server.port)
    stop.wait()
    server.stop()


def cpu_ms_per_call(client: OllamaClient, request: GenerateRequest, threads: int, calls: int) -> float:
    """Process CPU per call while `threads` threads make `calls` calls each."""

    def work() -> None:
        for _ in range(calls):
            client.generate(request, deadline=Deadline.after(60))

    started = time.process_time()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.process_time() - started) * 1000 / (threads * calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--calls", type=int, default=12, help="calls per thread per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(port_q, stop, args.latency, args.parallel), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port_q.get(timeout=60)}"
    counts = [1, *args.threads]
    client = OllamaClient(url, connect_timeout=5, read_timeout=30, metrics=Metrics(CollectorRegistry()),
                          role="text", max_in_flight=max(counts), pool_size=max(counts))
    request = GenerateRequest(model=MODEL, prompt="Suggest a dinner with lentils, in two short sentences.",
                              stream=True, options=Options(num_ctx=4096), think=False, truncate=False)
    figures: dict[int, list[float]] = {n: [] for n in counts}
    try:
        cpu_ms_per_call(client, request, max(counts), 2)  # warm connections
        for r in range(args.rounds):
            for n in counts:
                calls = args.calls * 4 if n == 1 else args.calls  # one thread: a few seconds of calls too
                figures[n].append(cpu_ms_per_call(client, request, n, calls))
            print(f"round {r + 1}: " + ", ".join(f"{n} thread(s) {v[-1]:.3f}" for n, v in figures.items()),
                  file=sys.stderr)
    finally:
        stop.set()
        server.join(timeout=10)
    median = {n: statistics.median(v) for n, v in figures.items()}
    print(f"\nCPU ms per streamed generate call (L={args.latency}s, P={args.parallel}), median of {args.rounds} "
          f"rounds; {machine()}")
    for n, value in median.items():
        print(f"  {n:>3} thread(s) {value:7.3f} ms  x {value / median[1]:.2f} of one thread "
              f"(rounds {min(figures[n]):.3f}-{max(figures[n]):.3f})")
    write_json("client_threads.json", {"machine": machine(), "params": vars(args), "rounds": figures,
                                       "median_ms": median})
    return 0


if __name__ == "__main__":
    sys.exit(main())
