"""The service against a real Ollama (0.17.4, gemma3-tiny) at the server's own parallelism: the server's
direct-call ceiling and the naive loop measured in the same run, alternating.

The stand-in benchmarks (throughput.py, ollama_slots.py) fix the model's latency; here the model really
generates, on this machine's CPU, with OLLAMA_NUM_PARALLEL = P slots. A recording proxy
(bench/ollama_proxy.py) sits between each client and the server and records every generate call (HTTP
start/end, Ollama's eval_count). Scenarios, each on the same broker and the same server:

  direct   P threads calling the server through the product's OllamaTextModel (no Kafka): what the
           server itself delivers at P slots, the ceiling
  service  `python -m models_processor run`, CONCURRENT_REQUESTS=C (default: the service's own default),
           started once and warmed up before the first round, a burst of requests per round
  naive    bench.common's naive loop (poll one, call the model, produce, flush, commit), as a child
           process, before the first round and after the last

What makes direct and service comparable (an earlier version had the service "beat" the server's own
ceiling by 1.9 x, which only showed that they were not): the same number of calls per block, identical
request bodies (the product's client with the same settings: options, num_predict, keep_alive, think,
truncate, stream), P calls in flight in both, the model loaded (and the runner options fixed) by a
warm-up before anything is measured, and blocks that ALTERNATE (direct, service, direct, service, ...), so
the load of this shared machine, which drifts by a factor of several within minutes, falls on both alike.
The Ollama runner's CPU time is sampled per block (the server's process tree): on a CPU the server's speed
is the CPU time its runner gets, so `runner CPU share` (runner CPU seconds / wall seconds) says whether a
block got more of the machine, and `tokens per runner CPU second` whether the server did the same work per
token in both (it should: the bodies are identical).

Figures per scenario, pooled over its blocks: req/s, output tokens/s (sum of eval_count / sum of the
proxy's windows), slot occupancy (integral of min(in flight, P) / (P x window)), runner CPU share, tokens
per runner CPU second, p50/p99 latency (direct: per call; service, naive: end to end through Kafka).
Target: service >= 0.95 x direct tokens/s; also slot occupancy >= 90 % and every request answered.
Writes bench/out/ollama_real.json (read by bench/report_real.py).

The text role goes to the real server; the vision role to the stand-in (the tiny model cannot see images,
and /ready needs a vision model that can), which this benchmark never calls.

Usage: python -m bench.ollama_real [--parallel 2] [--rounds 4] [--calls-per-slot 2] [--naive-requests 4]
                                   [--concurrency N] [--quick]
OLLAMA_HOST set: that server is used (its parallelism must equal --parallel; model OLLAMA_TEST_MODEL; its
runner's CPU is not sampled then).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import psutil

from bench.common import (
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
    write_json,
)
from bench.ollama_proxy import RecordingProxy, occupancy
from bench.report_real import block_table
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.ollama_local import LocalOllama

VISION_STANDIN_MODEL = "llava:7b"
TARGET_VS_DIRECT = 0.95
TARGET_OCCUPANCY = 0.9


def prompts(n: int, tag: str) -> list[tuple[str, str]]:
    run = uuid.uuid4().hex[:6]
    return [(f"{tag}-{run}-{i}", f"[{run}-{i}] In one short sentence, suggest a dinner with lentils.")
            for i in range(n)]


class RunnerCpu:
    """CPU seconds used so far by the Ollama server and its runner (the process tree of `pid`)."""

    def __init__(self, pid: int) -> None:
        self._root = psutil.Process(pid) if pid else None
        self._seen: dict[int, float] = {}  # pid -> last CPU seconds (a runner may end between samples)

    def seconds(self) -> float:
        if self._root is None:
            return 0.0
        try:
            procs = [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        for proc in procs:
            try:
                times = proc.cpu_times()
                self._seen[proc.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return sum(self._seen.values())


def server_figures(proxy: RecordingProxy, slots: int) -> dict[str, Any]:
    calls = proxy.generations()
    occ = occupancy(calls, slots)
    tokens = sum(c.eval_count for c in calls)
    return {"calls": len(calls), "tokens": tokens, "tokens_per_s": tokens / occ["window_s"] if occ["window_s"] else 0.0,
            "mean_tokens": tokens / len(calls) if calls else 0.0, "occupancy": occ["occupancy"],
            "max_in_flight": occ["max_in_flight"], "window_s": occ["window_s"],
            "errors": sum(1 for c in calls if c.status != 200 or c.eval_count == 0)}


class Direct:
    """P threads calling the server through the product's text model, built once (warm connections)."""

    def __init__(self, url: str, model: str, slots: int, num_predict: int) -> None:
        from models_processor.config import load_settings
        from models_processor.llm.factory import build_models, call_defaults
        from models_processor.metrics import Metrics

        settings = load_settings({"OLLAMA_HOST": url, "OLLAMA_MODEL": model, "RESULT_CACHE_SIZE": "0",
                                  "CONCURRENT_REQUESTS": str(slots), "OLLAMA_NUM_PARALLEL": str(slots),
                                  "LLM_NUM_PREDICT": str(num_predict)})
        self.text_model = build_models(settings, Metrics()).text
        self.defaults = call_defaults(settings)
        self.model, self.slots = model, slots

    def warm_up(self) -> None:
        """Load the model with the runner options every scenario sends (the service's readiness does the same)."""
        from models_processor.llm.structured import OllamaTextModel

        assert isinstance(self.text_model, OllamaTextModel)
        self.text_model.client.warm_up(self.model, options=self.defaults.options, keep_alive=self.defaults.keep_alive)

    def run(self, calls_per_slot: int) -> RunFigures:
        from models_processor.deadline import Deadline

        items = prompts(self.slots * calls_per_slot, "direct")
        model = self.text_model
        # Each call's deadline starts when the call does (default arguments bind the loop values).
        return direct_calls([[lambda p=prompt: model.generate_text(p, deadline=Deadline.after(900))
                              for _, prompt in items[index::self.slots]] for index in range(self.slots)])


class RealNaiveProcess(NaiveProcess):
    """bench.common's naive loop, with the real server's model name instead of the stand-in's."""

    def __init__(self, bootstrap: str, topics: Topics, url: str, expected: int, label: str, model: str,
                 num_predict: int) -> None:
        super().__init__(bootstrap, topics, url, expected, label)
        self._argv[1:3] = ["-m", "bench.ollama_real"]
        self._argv += ["--model", model, "--num-predict", str(num_predict)]


def burst(bootstrap: str, topics: Topics, n: int, label: str, timeout: float) -> tuple[dict, dict]:
    collector = AnswerCollector(bootstrap, [topics.text], fetch_wait_ms=500)  # a quiet broker (see its docstring)
    try:
        items = [(key, text_request(prompt)) for key, prompt in prompts(n, label)]
        sent = produce_requests(bootstrap, topics.request, items, linger_ms=5)
        return sent, collector.wait_for(sent, timeout=timeout)
    finally:
        collector.close()


def run_naive(bootstrap: str, url: str, model: str, n: int, partitions: int, num_predict: int,
              timeout: float) -> RunFigures:
    topics = Topics.fresh(bootstrap, "real-naive", partitions)
    naive = RealNaiveProcess(bootstrap, topics, url, n, "real-naive", model, num_predict).start()
    try:
        sent, answers = burst(bootstrap, topics, n, "naive", timeout)
    finally:
        peak = naive.stop()
    return figures("naive", sent, answers, peak)


def start_service(bootstrap: str, url: str, vision_url: str, model: str, partitions: int,
                  concurrency: int | None, slots: int, num_predict: int) -> tuple[Processor, Topics]:
    topics = Topics.fresh(bootstrap, "real-service", partitions)
    env = topics.env(bootstrap, OLLAMA_TEXT_HOST=url, OLLAMA_TEXT_MODEL=model,
                     OLLAMA_VISION_HOST=vision_url, OLLAMA_VISION_MODEL=VISION_STANDIN_MODEL,
                     RESULT_CACHE_SIZE="0",
                     OLLAMA_NUM_PARALLEL=str(slots),  # the client's in-flight cap follows the server's slots
                     LLM_NUM_PREDICT=str(num_predict),
                     **({"CONCURRENT_REQUESTS": str(concurrency)} if concurrency else {}))
    return Processor(env, "real-service").start(ready_timeout=300), topics

class Blocks:
    """Measures one block of a scenario: the proxy's record of its calls, the runner's CPU, the load."""

    def __init__(self, proxy: RecordingProxy, runner: RunnerCpu, slots: int) -> None:
        self.proxy, self.runner, self.slots = proxy, runner, slots
        self.blocks: list[dict[str, Any]] = []

    def run(self, name: str, round_no: int, block: Callable[[], RunFigures]) -> dict[str, Any]:
        print(f"round {round_no}: {name} ...", file=sys.stderr)
        self.proxy.clear()
        load_before, cpu_before = os.getloadavg()[0], self.runner.seconds()
        run_figures = block()
        cpu = self.runner.seconds() - cpu_before
        entry = {**asdict(run_figures), **server_figures(self.proxy, self.slots), "scenario": name,
                 "round": round_no, "runner_cpu_s": cpu, "loadavg_1m": [round(load_before, 1),
                                                                        round(os.getloadavg()[0], 1)]}
        entry["runner_cpu_share"] = cpu / entry["window_s"] if entry["window_s"] else 0.0
        self.blocks.append(entry)
        print(f"  {entry['tokens']} tokens in {entry['window_s']:.1f} s = {entry['tokens_per_s']:.1f} tok/s, "
              f"occupancy {entry['occupancy']:.0%}, runner CPU share {entry['runner_cpu_share']:.2f}, "
              f"load {entry['loadavg_1m']}", file=sys.stderr)
        return entry


def measure(args: argparse.Namespace, server: LocalOllama, bootstrap: str, vision_url: str) -> list[dict]:
    """naive, then `rounds` x (direct, service) alternating, then naive again (see the module docstring)."""
    P, model = args.parallel, server.model
    with RecordingProxy(server.base_url) as proxy:
        blocks = Blocks(proxy, RunnerCpu(server.pid), P)
        direct = Direct(proxy.url, model, P, args.num_predict)
        direct.warm_up()
        per_call_s = 60.0  # a generous first guess; replaced by the first direct block's figure
        service, topics = start_service(bootstrap, proxy.url, vision_url, model, args.partitions,
                                        args.concurrency, P, args.num_predict)
        try:
            def naive() -> RunFigures:
                return run_naive(bootstrap, proxy.url, model, args.naive_requests, args.partitions,
                                 args.num_predict, timeout=120 + 3 * args.naive_requests * per_call_s)

            def service_burst() -> RunFigures:
                n = P * args.calls_per_slot
                sent, answers = burst(bootstrap, topics, n, "service", timeout=120 + 3 * n * per_call_s / P)
                return figures("service", sent, answers, 0.0)

            if args.naive_requests:
                blocks.run("naive", 0, naive)
            for round_no in range(1, args.rounds + 1):
                first = blocks.run("direct", round_no, lambda: direct.run(args.calls_per_slot))
                per_call_s = max(1.0, first["window_s"] * P / max(1, first["answered"]))
                blocks.run("service", round_no, service_burst)
            if args.naive_requests:
                blocks.run("naive", args.rounds + 1, naive)
        finally:
            peak = service.stop()
        for entry in blocks.blocks:
            if entry["scenario"] == "service":
                entry["peak_rss_mb"] = peak
    return blocks.blocks


def pooled(blocks: list[dict], scenario: str) -> dict[str, Any]:
    """A scenario's blocks as one: counts summed, rates over the summed windows, latencies of all blocks
    (p50/p99 by block, weighted by calls: the medians of the blocks, not recomputed from raw values)."""
    mine = [b for b in blocks if b["scenario"] == scenario]
    if not mine:
        return {}
    window = sum(b["window_s"] for b in mine)
    seconds = sum(b["seconds"] for b in mine)
    tokens, cpu = sum(b["tokens"] for b in mine), sum(b["runner_cpu_s"] for b in mine)
    answered = sum(b["answered"] for b in mine)
    calls = sum(b["calls"] for b in mine)
    busy = sum(b["occupancy"] * b["window_s"] for b in mine)
    return {"scenario": scenario, "blocks": len(mine), "requests": sum(b["requests"] for b in mine),
            "answered": answered, "errors": sum(b["errors"] for b in mine), "calls": calls, "tokens": tokens,
            "window_s": window, "rps": answered / seconds if seconds else 0.0,
            "tokens_per_s": tokens / window if window else 0.0, "mean_tokens": tokens / calls if calls else 0.0,
            "occupancy": busy / window if window else 0.0, "max_in_flight": max(b["max_in_flight"] for b in mine),
            "runner_cpu_s": cpu, "runner_cpu_share": cpu / window if window else 0.0,
            "tokens_per_cpu_s": tokens / cpu if cpu else 0.0,
            "p50_ms": percentile([b["p50_ms"] for b in mine], 50), "p99_ms": max(b["p99_ms"] for b in mine),
            "loadavg_1m": [min(b["loadavg_1m"][0] for b in mine), max(b["loadavg_1m"][1] for b in mine)],
            "peak_rss_mb": max(b["peak_rss_mb"] for b in mine)}


def round_ratios(blocks: list[dict]) -> list[float]:
    """service / direct tokens/s of each round (each pair of neighbouring blocks)."""
    by_round: dict[int, dict[str, float]] = {}
    for b in blocks:
        by_round.setdefault(b["round"], {})[b["scenario"]] = b["tokens_per_s"]
    return [r["service"] / r["direct"] for r in by_round.values() if r.get("direct") and "service" in r]


def verdicts_of(results: dict[str, dict]) -> list[dict]:
    svc, direct = results["service"], results["direct"]
    vs_direct = svc["tokens_per_s"] / direct["tokens_per_s"] if direct["tokens_per_s"] else 0.0
    per_cpu = svc["tokens_per_cpu_s"] / direct["tokens_per_cpu_s"] if direct["tokens_per_cpu_s"] else 0.0
    return [
        {"target": f"service tok/s >= {TARGET_VS_DIRECT} x direct (the server's own ceiling at P slots, "
                   "alternating blocks)", "value": round(vs_direct, 3), "pass": vs_direct >= TARGET_VS_DIRECT},
        {"target": f"service tokens per runner CPU second >= {TARGET_VS_DIRECT} x direct (the same, at the "
                   "CPU the machine gave the server)", "value": round(per_cpu, 3), "pass": per_cpu >= TARGET_VS_DIRECT},
        {"target": f"slot occupancy (service) >= {TARGET_OCCUPANCY:.0%}", "value": round(svc["occupancy"], 3),
         "pass": svc["occupancy"] >= TARGET_OCCUPANCY},
        {"target": "every service request answered ok", "value": svc["answered"] - svc["errors"],
         "pass": svc["answered"] == svc["requests"] and svc["errors"] == 0},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="The service against a real Ollama's own direct-call ceiling.")
    parser.add_argument("--parallel", type=int, default=2, help="OLLAMA_NUM_PARALLEL P (default 2)")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="CONCURRENT_REQUESTS (default: not set, the service's own default)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/service rounds (default 4)")
    parser.add_argument("--calls-per-slot", type=int, default=2,
                        help="calls per slot in each block, direct and service alike (default 2)")
    parser.add_argument("--naive-requests", type=int, default=4,
                        help="naive-loop requests before the rounds and after them (0: no naive loop)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--num-predict", type=int, default=64,
                        help="LLM_NUM_PREDICT of every client (default 64: the base model writes until the cap)")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 2 naive requests")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.naive_requests = min(args.rounds, 2), min(args.naive_requests, 2)
    quiet_standin_disconnects()
    vision = OllamaStandIn(models=(VISION_STANDIN_MODEL,))
    vision_url = vision.start()
    server = LocalOllama.from_env(env={"OLLAMA_NUM_PARALLEL": str(args.parallel)})
    broker = LocalBroker.from_env()
    print("starting the local broker and the real Ollama (a first run builds it: minutes) ...", file=sys.stderr)
    try:
        broker.start()
        server.start()
        blocks = measure(args, server, broker.bootstrap, vision_url)
    finally:
        for stop in (server.close, broker.stop, vision.stop):  # each, even when one fails
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - reported, the others still stopped
                print(f"cleanup: {exc}", file=sys.stderr)
    results = {name: pooled(blocks, name) for name in ("direct", "service", "naive") if pooled(blocks, name)}
    print(f"\nreal Ollama {server.base_url} model {server.model}, OLLAMA_NUM_PARALLEL={args.parallel}, "
          f"CONCURRENT_REQUESTS={args.concurrency or 'default'}; {machine()}")
    print("\n".join(block_table(blocks, results, round_ratios(blocks))))
    verdicts = verdicts_of(results)
    for v in verdicts:
        print(f"{'PASS' if v['pass'] else 'FAIL'}  {v['target']}: {v['value']}")
    svc, direct = results["service"], results["direct"]
    per_cpu = (svc["tokens_per_cpu_s"] / direct["tokens_per_cpu_s"]) if direct["tokens_per_cpu_s"] else None
    path = write_json("ollama_real.json", {"machine": machine(), "params": vars(args), "server": server.base_url,
                                           "model": server.model, "results": results, "blocks": blocks,
                                           "round_ratios": round_ratios(blocks), "per_cpu_ratio": per_cpu,
                                           "verdicts": verdicts})
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
