"""The service against its peers: the same job written idiomatically with Faust-streaming and Quix Streams,
on the same local broker and the same stand-in model server, in the same run.

The job: read a text request (JSON with a prompt), call the model server's /api/generate, write the answer
(keyed by the request id) to the answer topic. A stand-in (testkit/fakes/ollama_server.py) answers after a
fixed latency L with P parallel slots, so the model-bound ceiling is P/L requests/s. Per configuration (L, P):

  direct     P threads calling the stand-in directly (no Kafka): what the stand-in allows on this machine now
  service    `python -m models_processor run` at its DEFAULT settings; the deployment gives it the server's
             OLLAMA_NUM_PARALLEL=P (CONCURRENT_REQUESTS unset: auto)
  faust      bench/peer_apps/faust_job.py: one agent, concurrency=--faust-concurrency (default 2 x P, the
             service's own worker count; Faust's default is 1), aiohttp for the call, stream:false
  faust-stream  the same agent streaming the tokens (stream:true), as the service does
  quix-1     bench/peer_apps/quix_job.py: one process (Quix handles one message at a time per process)
  quix-N     the same, one process per partition (N = partitions) in one consumer group

Each scenario gets fresh topics, starts, proves every partition is served (one warm-up request per partition
answered; the consumer group has all its members), then receives one burst of unique prompts. req/s = answers
/ (last answer's broker append time - first request's produce time); latency = append time - produce time
(a burst: includes queueing). Peak RSS per process (psutil, every 50 ms); for quix-N also the sum. CPU ms
per request: user + system CPU time of the job's processes during the burst / answers (the stand-in, in this
process, not counted): unlike req/s it does not depend on how loaded the machine is. With --runs N every
scenario runs N times, interleaved, and the run with the median req/s is reported (every run's req/s beside it).

Faust and Quix run in their own venv (bench/requirements-peers.txt; created in bench/out/peers-venv when
missing) because they pin other Kafka clients than the service. Writes bench/out/peers.json.

Usage: python -m bench.peers [--configs 0.05:8,0.2:4] [--requests 400] [--partitions 8] [--runs 3] [--venv PATH]
                             [--faust-concurrency N] [--only service,faust,quix-1,quix-N]
                             [--slow-every K --slow-latency S]  (a mixed load: bench/slow_mix.py)
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import psutil
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from bench.common import (
    MODEL,
    OUT_DIR,
    AnswerCollector,
    LocalBroker,
    Processor,
    RssSampler,
    RunFigures,
    Topics,
    figures,
    machine,
    produce_requests,
    quiet_standin_disconnects,
    text_request,
    unique_prompts,
    what_if_argv,
    write_json,
)
from bench.slow_mix import SlowMix
from bench.throughput import run_direct, service_env
from testkit.fakes.ollama_server import OllamaStandIn

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "bench" / "peer_apps"
REQUIREMENTS = ROOT / "bench" / "requirements-peers.txt"
SCENARIOS = ("service", "faust", "faust-stream", "quix-1", "quix-N")


def peers_python(venv: Path) -> Path:
    """The peers venv's python, created and installed from bench/requirements-peers.txt when missing."""
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists() or marker.read_text() != REQUIREMENTS.read_text():
        print(f"installing the peers into {venv} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        marker.write_text(REQUIREMENTS.read_text())
    return python


class PeerProcesses:
    """N peer processes (one job), each with its own RSS sampler; stopped with SIGTERM. They run in a
    temporary directory, removed when they stop: Faust writes its data directory (<app id>-data) there."""

    def __init__(self, argv: list[str], env: dict[str, str], count: int, label: str) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
        self.procs: list[subprocess.Popen] = []
        self.samplers: list[RssSampler] = []
        for i in range(count):
            with open(OUT_DIR / f"{label}-{i}.log", "wb") as log:  # the child keeps its own descriptor
                proc = subprocess.Popen(argv, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(proc)
            self.samplers.append(RssSampler(proc.pid).start())

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> list[float]:
        peaks = [s.stop() for s in self.samplers]
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(30)
        shutil.rmtree(self.workdir, ignore_errors=True)
        return peaks


def group_members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
        return len(description.members)
    except Exception:  # noqa: BLE001 - not there yet (or a protocol this client cannot describe): keep waiting
        return 0


def warm_up(bootstrap: str, topics: Topics, partitions: int, members: int, alive: Callable[[], bool],
            timeout: float = 180) -> None:
    """Wait until the group has its members and one request on each partition is answered."""
    until = time.monotonic() + timeout
    while members > 1 and group_members(bootstrap, topics.group) < members:
        if not alive() or time.monotonic() > until:
            raise RuntimeError(f"group {topics.group} never reached {members} members")
        time.sleep(0.5)
    collector = AnswerCollector(bootstrap, [topics.text])
    producer = Producer({"bootstrap.servers": bootstrap})
    keys = [f"warm-{uuid.uuid4().hex[:6]}-{p}" for p in range(partitions)]
    for p, key in enumerate(keys):
        producer.produce(topics.request, key=key.encode(), value=text_request(f"warm up {key}"), partition=p)
    producer.flush(30)
    try:
        while True:
            got = collector.wait_for(keys, timeout=2)
            if len(got) == len(keys):
                return
            if not alive() or time.monotonic() > until:
                raise RuntimeError(f"warm-up: {len(got)}/{len(keys)} partitions answered")
    finally:
        collector.close()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and their children so far."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                times = p.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            pass
    return total


def burst(bootstrap: str, topics: Topics, label: str, n: int, timeout: float,
          pids: list[int], standin: OllamaStandIn, mix: SlowMix) -> tuple[dict, dict, float]:
    """Produce n requests at once and collect the answers; also the CPU seconds the job's processes spent.
    The collector's fetches wait long (fewer broker wake-ups on the shared cores): the figures come from the
    answers' broker append times, not from when the collector reads them. The stand-in's counters start
    with the burst (slot_occupancy)."""
    collector = AnswerCollector(bootstrap, [topics.text], fetch_wait_ms=250)
    try:
        items = [(key, text_request(prompt)) for key, prompt in mix.mark(unique_prompts(n, label))]
        standin.reset_stats()
        cpu_before = cpu_seconds(pids)
        sent = produce_requests(bootstrap, topics.request, items, linger_ms=5)
        answers = collector.wait_for(sent, timeout=timeout)
        return sent, answers, cpu_seconds(pids) - cpu_before
    finally:
        collector.close()


def with_cpu(result: RunFigures, cpu_s: float) -> RunFigures:
    # CPU per answer does not depend on how loaded the machine is, unlike req/s.
    result.extra["cpu_ms_per_request"] = round(1000 * cpu_s / max(1, result.answered), 2)
    return result


def with_occupancy(result: RunFigures, standin: OllamaStandIn) -> RunFigures:
    """The share of the run's window (first request produced to last answer appended; a direct run's own
    window) in which the stand-in's slots were generating: what "keep every model slot busy" asks for."""
    stats = standin.settled_stats()
    result.extra["slot_occupancy"] = round(stats.busy_slot_seconds / (standin.num_parallel * result.seconds), 3)
    result.extra["mean_slot_hold_ms"] = round(1000 * stats.busy_slot_seconds / max(1, stats.total_generations), 2)
    return result


def run_service(bootstrap: str, standin: OllamaStandIn, mix: SlowMix, label: str, n: int, partitions: int,
                parallel: int, bound: float, overrides: dict[str, str] | None = None, argv: list[str] | None = None) -> RunFigures:
    topics = Topics.fresh(bootstrap, label, partitions)
    env = topics.env(bootstrap, OLLAMA_HOST=standin.url, OLLAMA_MODEL=MODEL, RESULT_CACHE_SIZE="0",
                     **{**service_env("auto", parallel), **(overrides or {})})
    proc = Processor(env, label, argv=argv).start()
    try:
        warm_up(bootstrap, topics, partitions, 1, lambda: True)
        sent, answers, cpu_s = burst(bootstrap, topics, label, n, timeout=120 + 3 * n / bound, pids=[proc.pid],
                                     standin=standin, mix=mix)
    finally:
        peak = proc.stop()
    result = with_occupancy(with_cpu(figures(label, sent, answers, peak), cpu_s), standin)
    result.extra["rss_per_process_mb"] = [round(peak, 1)]
    return result


def run_peer(python: Path, app: str, bootstrap: str, standin: OllamaStandIn, mix: SlowMix, label: str, n: int, partitions: int,
             processes: int, bound: float, extra_env: dict[str, str]) -> RunFigures:
    topics = Topics.fresh(bootstrap, label, partitions)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PEER_BOOTSTRAP": bootstrap, "PEER_REQUEST_TOPIC": topics.request,
           "PEER_ANSWER_TOPIC": topics.text, "PEER_GROUP": topics.group, "PEER_OLLAMA": standin.url, "PEER_MODEL": MODEL,
           **extra_env}
    argv = [str(python), str(APPS / app)]
    if app == "faust_job.py":
        argv += ["worker", "--without-web", "-l", "warn"]
    peers = PeerProcesses(argv, env, processes, label)
    try:
        warm_up(bootstrap, topics, partitions, processes, peers.alive)
        sent, answers, cpu_s = burst(bootstrap, topics, label, n, timeout=120 + 3 * n / bound,
                                     pids=[p.pid for p in peers.procs], standin=standin, mix=mix)
    finally:
        peaks = peers.stop()
    result = with_occupancy(with_cpu(figures(label, sent, answers, max(peaks)), cpu_s), standin)
    result.extra["rss_per_process_mb"] = [round(p, 1) for p in peaks]
    result.extra["rss_total_mb"] = round(sum(peaks), 1)
    result.extra["processes"] = processes
    return result


def setting_value(text: str, parallel: int) -> str:
    """A variant's value with {P} as the slots; "{P}+2" adds up and "{P}*2" multiplies."""
    text = text.replace("{P}", str(parallel))
    if re.fullmatch(r"\d+([+*]\d+)+", text):
        total = 0
        for term in text.split("+"):
            factors = [int(f) for f in term.split("*")]
            total += math.prod(factors)
        return str(total)
    return text


def run_scenario(python: Path | None, bootstrap: str, standin: OllamaStandIn, L: float, P: int, scenario: str,
                 args: argparse.Namespace) -> RunFigures:
    bound = P / args.mix.mean_latency(L)
    n = args.requests if scenario != "quix-1" else max(30, min(args.requests, int(10 / L)))
    print(f"[L={L}s P={P}] {scenario} ({n} requests) ...", file=sys.stderr)
    tag = f"{int(L * 1000)}ms-p{P}"
    label = "peers-" + "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{scenario}-{tag}")
    if scenario == "service":
        return run_service(bootstrap, standin, args.mix, label, n, args.partitions, P, bound)
    if scenario == "what-if":  # the service with product constants overridden (investigations)
        result = run_service(bootstrap, standin, args.mix, label, n, args.partitions, P, bound, argv=what_if_argv(args.what_if))
        result.extra["what_if"] = args.what_if
        return result
    if scenario in args.variants:  # the service with some settings changed (investigations)
        overrides = {k: setting_value(v, P) for k, v in args.variants[scenario].items()}
        result = run_service(bootstrap, standin, args.mix, label, n, args.partitions, P, bound, overrides)
        result.extra["settings"] = overrides
        return result
    assert python is not None
    if scenario in ("faust", "faust-stream"):
        concurrency = args.faust_concurrency or 2 * P
        result = run_peer(python, "faust_job.py", bootstrap, standin, args.mix, label, n, args.partitions, 1, bound,
                          {"PEER_CONCURRENCY": str(concurrency), "PEER_STREAM": "1" if scenario == "faust-stream" else "0"})
        result.extra["concurrency"] = concurrency
        return result
    count = 1 if scenario == "quix-1" else args.partitions
    return run_peer(python, "quix_job.py", bootstrap, standin, args.mix, label, n, args.partitions, count, bound, {})


def median_run(runs: list[RunFigures]) -> RunFigures:
    """The run with the median req/s (the lower middle one of an even count), every run's req/s beside it."""
    ordered = sorted(runs, key=lambda r: r.rps)
    median = ordered[(len(ordered) - 1) // 2]
    median.extra["runs_rps"] = [round(r.rps, 1) for r in runs]
    return median


def run_config(python: Path | None, bootstrap: str, L: float, P: int, args: argparse.Namespace) -> dict:
    """Every scenario --runs times, the runs interleaved (run 1 of each, then run 2 of each, ...) so that a
    change in the machine's load falls on all of them alike; the median run of each is reported."""
    bound = P / args.mix.mean_latency(L)
    standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=L,
                            latency_for=args.mix.latency_for if args.mix.active else None)
    url = standin.start()
    runs: dict[str, list[RunFigures]] = {}
    scenarios = [*args.only, *args.variants, *(["what-if"] if args.what_if else [])]
    try:
        for _ in range(args.runs):
            print(f"[L={L}s P={P}] direct ...", file=sys.stderr)
            standin.reset_stats()
            runs.setdefault("direct", []).append(with_occupancy(run_direct(url, P, max(5, int(2 / L))), standin))
            for scenario in scenarios:
                try:
                    runs.setdefault(scenario, []).append(run_scenario(python, bootstrap, standin, L, P, scenario, args))
                except RuntimeError as exc:
                    print(f"  {scenario} failed: {exc}", file=sys.stderr)
    finally:
        standin.stop()
    results = {k: median_run(v) for k, v in runs.items()}
    return {"latency_s": L, "parallel": P, "bound_rps": bound, "mix": args.mix.describe(),
            "results": {k: {**asdict(v), "vs_bound": v.rps / bound, "vs_direct": v.rps / results["direct"].rps}
                        for k, v in results.items()}}


def print_config(config: dict) -> None:
    L, P, bound = config["latency_s"], config["parallel"], config["bound_rps"]
    print(f"\nL={L * 1000:.0f} ms, P={P}, {config.get('mix', 'uniform calls')}: ceiling {bound:.0f} req/s")
    header = (f"{'scenario':<9} {'answered':>9} {'req/s':>7} {'x P/L':>6} {'x direct':>8} {'slots busy':>10} "
              f"{'p50 ms':>7} {'p99 ms':>7} "
              f"{'RSS MB/process':>15} {'RSS MB total':>12} {'CPU ms/req':>10}")
    print(header)
    print("-" * len(header))
    for name, r in config["results"].items():
        per = r["extra"].get("rss_per_process_mb", [])
        per_text = f"{max(per):.0f}" + (f" (x{len(per)})" if len(per) > 1 else "") if per else "-"
        total = f"{sum(per):.0f}" if per else "-"
        busy = r["extra"].get("slot_occupancy")
        busy_text = "-" if busy is None else f"{100 * busy:.1f} %"
        print(f"{name:<9} {r['answered']:>4}/{r['requests']:<4} {r['rps']:>7.1f} {r['vs_bound']:>6.2f} "
              f"{r['vs_direct']:>8.2f} {busy_text:>10} {r['p50_ms']:>7.0f} {r['p99_ms']:>7.0f} {per_text:>15} {total:>12} "
              f"{r['extra'].get('cpu_ms_per_request', '-'):>10}")


def verdicts(configs: list[dict]) -> list[dict]:
    out = []
    for config in configs:
        res = config["results"]
        where = f"L={config['latency_s'] * 1000:.0f} ms P={config['parallel']}"
        if "service" not in res:
            continue
        svc = res["service"]["rps"]
        out.append({"target": f"{where}: service at defaults >= 0.95 x P/L", "value": round(svc / config["bound_rps"], 3),
                    "pass": svc / config["bound_rps"] >= 0.95})
        for peer in ("faust", "faust-stream", "quix-N", "quix-1"):
            if peer in res:
                ratio = svc / res[peer]["rps"] if res[peer]["rps"] else math.inf
                out.append({"target": f"{where}: service ahead of {peer}", "value": round(ratio, 3), "pass": ratio > 1.0})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="0.05:8,0.2:4", help="L:P pairs (seconds:slots)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=1, help="runs of each scenario; the median run is reported")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--faust-concurrency", type=int, default=0, help="Faust agent concurrency (default 2 x P)")
    parser.add_argument("--venv", type=Path, default=OUT_DIR / "peers-venv")
    parser.add_argument("--only", type=lambda s: [x for x in s.split(",") if x], default=list(SCENARIOS))
    parser.add_argument("--service-variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="also run the service with these settings ({P} = the slots), e.g. "
                             "'cap+2:OLLAMA_MAX_IN_FLIGHT={P}+2'; repeatable")
    parser.add_argument("--what-if", action="append", default=[], metavar="MODULE.ATTR=VALUE",
                        help="also run the service with a product constant overridden (bench/common.what_if_argv)")
    parser.add_argument("--slow-every", type=int, default=0, help="every K-th request is a slow call (bench/slow_mix.py)")
    parser.add_argument("--slow-latency", type=float, default=1.0, help="seconds a slow call takes")
    args = parser.parse_args()
    args.mix = SlowMix(args.slow_every, args.slow_latency)
    args.variants = {}
    for spec in args.service_variant:
        name, _, pairs = spec.partition(":")
        args.variants[name] = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    python = peers_python(args.venv) if set(args.only) - {"service"} else None
    quiet_standin_disconnects()
    before = machine()
    broker = LocalBroker.from_env()
    print("starting the local broker ...", file=sys.stderr)
    broker.start()
    configs = []
    try:
        for pair in args.configs.split(","):
            L, P = pair.split(":")
            configs.append(run_config(python, broker.bootstrap, float(L), int(P), args))
    finally:
        broker.stop()
    print(f"\n{before}; load average at the end {os.getloadavg()[0]:.1f}")
    for config in configs:
        print_config(config)
    checks = verdicts(configs)
    print()
    for v in checks:
        print(f"{'PASS' if v['pass'] else 'FAIL'}  {v['target']}: {v['value']:.2f}")
    path = write_json("peers.json", {"machine": before, "loadavg_end": os.getloadavg()[0], "params": {
        "configs": args.configs, "requests": args.requests, "partitions": args.partitions, "runs": args.runs,
        "faust_concurrency": args.faust_concurrency or "2 x P", "mix": args.mix.describe()}, "configs": configs, "verdicts": checks})
    print(f"\nwrote {path}")
    return 0 if all(v["pass"] for v in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
