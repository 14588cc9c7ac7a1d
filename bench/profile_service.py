"""Where the service's CPU goes per text request: by thread kind, and by Python function (py-spy).

The service runs at its default settings against one broker and the stand-in (latency L, P slots), as in
bench/peers.py; each of --bursts bursts of N text requests is measured twice over:
- per thread, from /proc: the Python threads (dispatcher, workers, HTTP server) against librdkafka's own
  threads (named `rdk:...`), so the Kafka client's share is told apart from what Python code can change;
- with --py-spy, py-spy samples the thread holding the GIL during the bursts (`--gil`: a thread blocked in a
  socket read has released it, and py-spy's own idle check cannot tell that wait from work); raw collapsed
  stacks go to bench/out/profile.txt, and the script prints the functions with the most samples, inclusive
  and self, as a share of all GIL samples.
- with --perf, `perf record` samples its native code (interpreter, GIL hand-overs, C extensions);
  `perf report -i bench/out/perf.data --sort dso,sym` reads it;
- with --strace, the system calls of all its threads are counted (strace -c -f), per request.
Usage: python -m bench.profile_service [--latency 0.05] [--parallel 8] [--requests 1200] [--bursts 2]
                                       [--py-spy] [--rate 200] [--strace]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import MODEL, OUT_DIR, LocalBroker, Processor, Topics, machine, quiet_standin_disconnects
from bench.peers import burst, warm_up
from bench.throughput import service_env
from testkit.fakes.ollama_server import OllamaStandIn


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of the process's threads, user and system, summed by kind: librdkafka's (`rdk:`
    names) or Python's."""
    kinds: dict[str, float] = collections.defaultdict(float)
    proc = psutil.Process(pid)
    for thread in proc.threads():
        try:
            name = Path(f"/proc/{pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            continue
        kind = "librdkafka" if name.startswith("rdk:") else "python"
        kinds[f"{kind} user"] += thread.user_time
        kinds[f"{kind} system"] += thread.system_time
    return kinds


def top_functions(raw: Path, count: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, inclusive top, self top) from py-spy's raw collapsed stacks ("a;b;c N" per line)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first frame is the thread
        samples = int(n)
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        if frames:
            own[frames[-1]] += samples
    return total, inclusive.most_common(count), own.most_common(count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--py-spy", action="store_true", help="sample the service with py-spy during the bursts")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--strace", action="store_true",
                        help="count the service's system calls during the bursts (strace -c -f; slows it down)")
    parser.add_argument("--perf", action="store_true",
                        help="sample the service's native code with perf (user space): bench/out/perf.data")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    quiet_standin_disconnects()
    L, P = args.latency, args.parallel
    broker = LocalBroker.from_env()
    standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=L)
    raw = OUT_DIR / "profile.txt"
    try:
        bootstrap = broker.start()
        url = standin.start()
        topics = Topics.fresh(bootstrap, "profile", args.partitions)
        env = topics.env(bootstrap, OLLAMA_HOST=url, OLLAMA_MODEL=MODEL, RESULT_CACHE_SIZE="0",
                         **service_env("auto", P))
        proc = Processor(env, "profile").start()
        spy = None
        try:
            warm_up(bootstrap, topics, args.partitions, 1, lambda: True)
            if args.py_spy:
                spy_bin = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
                spy = subprocess.Popen([spy_bin, "record", "--pid", str(proc.pid), "--rate", str(args.rate),
                                        "--format", "raw", "-o", str(raw), "--gil", "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if args.strace:
                spy = subprocess.Popen(["strace", "-c", "-f", "-o", str(OUT_DIR / "strace.txt"), "-p", str(proc.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)  # attached to every thread
            if args.perf:
                spy = subprocess.Popen(["perf", "record", "-F", "999", "-o", str(OUT_DIR / "perf.data"), "-p",
                                        str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            for b in range(args.bursts):
                before = thread_cpu(proc.pid)
                sent, answers, cpu_s = burst(bootstrap, topics, f"profile{b}", args.requests, timeout=300,
                                             pids=[proc.pid])
                after = thread_cpu(proc.pid)
                n = max(1, len(answers))
                split = ", ".join(f"{kind} {1000 * (after[kind] - before.get(kind, 0.0)) / n:.2f}"
                                  for kind in sorted(after))
                print(f"burst {b + 1}: {len(answers)}/{len(sent)} answered, {1000 * cpu_s / n:.2f} CPU ms per "
                      f"request ({split})", flush=True)
        finally:
            if spy is not None:
                spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
                spy.wait(timeout=60)
            proc.stop()
    finally:
        standin.stop()
        broker.stop()
    print(f"L={L}s P={P}; {machine()}")
    if args.strace:
        print(f"\nsystem calls per answered request (strace -c -f), of {args.bursts * args.requests} requests:")
        for line in (OUT_DIR / "strace.txt").read_text().splitlines()[2:14]:
            fields = line.split()
            if len(fields) >= 5 and fields[3].isdigit():
                print(f"  {fields[-1]:<16} {int(fields[3]) / (args.bursts * args.requests):7.1f}")
    if args.py_spy and raw.exists():
        total, inclusive, own = top_functions(raw, args.top)
        print(f"\npy-spy: {total} samples of the thread holding the GIL")
        for title, rows in (("inclusive", inclusive), ("self", own)):
            print(f"\n{title}:")
            for frame, samples in rows:
                print(f"  {100 * samples / max(1, total):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
