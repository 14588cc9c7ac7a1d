"""OPENAI_MAX_IN_FLIGHT against the OpenAI-compatible stand-in (testkit/fakes/openai_server.py: `slots`
sequences at once, a fixed time each, the rest queued): no cap (the baseline, measured in the same run),
a fixed cap at the server's slots, and auto (llm/limiter.py VegasLimit). Prints, per mode: calls/s as a
ratio of the no-cap run and of the ceiling slots/L, p50/p99 call time, the most calls queued inside the
server at once, and where auto settled. docs/openai-compat.md explains the limit.

    .venv/bin/python bench/openai_inflight.py [--calls 400] [--workers 32] [--latency 0.1] [--slots 3 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from models_processor.deadline import Deadline
from models_processor.llm.api import ChatRequest, Message
from models_processor.llm.limiter import ConcurrencyLimit, FixedLimit, VegasLimit
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.metrics import Metrics
from testkit.fakes.openai_server import Flavor, OpenAIStandIn

OUT = Path(__file__).resolve().parent / "out" / "openai_inflight.json"


def run_mode(limit: ConcurrencyLimit, *, slots: int, latency: float, calls: int, workers: int) -> dict[str, float]:
    standin = OpenAIStandIn(Flavor.VLLM, slots=slots, latency_s=latency).start()
    client = OpenAICompatClient(standin.base_url, connect_timeout=5, read_timeout=60, metrics=Metrics(),
                                role="text", limit=limit, pool_size=workers)
    request = ChatRequest(model="served-model", messages=[Message(role="user", content="hi")])

    def one(_: int) -> float:
        started = time.monotonic()
        client.chat(request, deadline=Deadline.after(120))
        return time.monotonic() - started

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(workers) as pool:
            times = sorted(pool.map(one, range(calls)))
    finally:
        client.close()
        standin.stop()
    elapsed = time.monotonic() - started
    return {"calls_per_s": calls / elapsed, "p50_s": statistics.median(times),
            "p99_s": times[min(len(times) - 1, int(len(times) * 0.99))],
            "server_queue_peak": max(0, standin.arrived_peak - slots), "final_limit": limit.limit}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--slots", type=int, nargs="+", default=[3, 8])
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'slots':>5} {'mode':>8} {'calls/s':>8} {'x no cap':>8} {'x ceiling':>9} {'p50 s':>6} {'p99 s':>6} "
          f"{'queued':>6} {'limit':>5}")
    for slots in args.slots:
        modes: dict[str, ConcurrencyLimit] = {"no cap": FixedLimit(0), "fixed": FixedLimit(slots),
                                              "auto": VegasLimit(1, max_limit=args.workers)}
        results[str(slots)] = {}
        for name, limit in modes.items():
            figures = run_mode(limit, slots=slots, latency=args.latency, calls=args.calls, workers=args.workers)
            results[str(slots)][name] = figures
            base = results[str(slots)]["no cap"]["calls_per_s"]
            print(f"{slots:>5} {name:>8} {figures['calls_per_s']:>8.1f} {figures['calls_per_s'] / base:>8.2f} "
                  f"{figures['calls_per_s'] * args.latency / slots:>9.2f} {figures['p50_s']:>6.2f} "
                  f"{figures['p99_s']:>6.2f} {figures['server_queue_peak']:>6.0f} "
                  f"{figures['final_limit'] if name != 'no cap' else '-':>5}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
