"""The service's CPU per text request: the code of an earlier commit against the current tree, in the same run.

For a change meant to make the request path leaner: both versions of `models_processor/` run as the
service (`python -m models_processor run` semantics, bench.common.what_if_argv), one after the other in
alternating order (A B, B A, ...), against the same broker and the same stand-in (latency L, P slots), each
a burst of N text requests on fresh topics, at the service's default settings. The figure is bench/peers.py's:
the service process's user + system CPU time during the burst / answers, which the machine's load moves
far less than req/s. The earlier version is `git archive`d into a temporary directory and put first on
the service's sys.path; everything else (bench code, stand-in, broker) is the current tree's.

Usage: python -m bench.service_cpu_ab --before COMMIT [--latency 0.05] [--parallel 8] [--requests 400]
                                      [--rounds 4] [--only PATH ...]
  --only: take only these paths from COMMIT (e.g. models_processor/llm/client.py), the rest from the current
          tree: isolates one change from the others made since.
Writes bench/out/service_cpu_ab.json.
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench.common import MODEL, LocalBroker, machine, quiet_standin_disconnects, what_if_argv, write_json
from bench.peers import run_service
from testkit.broker import REPO
from testkit.fakes.ollama_server import OllamaStandIn


def tree_of(commit: str | None, only: list[str], into: Path) -> Path:
    """models_processor/ as it is in the work tree, with `only` (or all of it) as it was in `commit`."""
    if commit is None or only:
        shutil.copytree(REPO / "models_processor", into / "models_processor",
                        ignore=shutil.ignore_patterns("__pycache__"))
    if commit is not None:
        for path in only:  # a path the commit does not have is not in the earlier version either
            (into / path).unlink(missing_ok=True)
        archive = subprocess.run(["git", "archive", commit, *(only or ["models_processor"])], cwd=REPO,
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(into, filter="data")
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--only", nargs="*", default=[], help="paths to take from --before (default: all)")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    quiet_standin_disconnects()
    L, P = args.latency, args.parallel
    with tempfile.TemporaryDirectory(prefix="service-ab-") as tmp:
        trees = {"before": tree_of(args.before, args.only, Path(tmp) / "before"),
                 "current": tree_of(None, [], Path(tmp) / "current")}
        broker = LocalBroker.from_env()
        standin = OllamaStandIn(models=(MODEL,), num_parallel=P, latency_s=L)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
        try:
            broker.start()
            url = standin.start()
            for r in range(args.rounds):
                for name in (("before", "current") if r % 2 == 0 else ("current", "before")):
                    argv = what_if_argv([f"sys.path=[{str(trees[name])!r}] + sys.path"])
                    result = run_service(broker.bootstrap, url, f"ab-{name}", args.requests, args.partitions, P,
                                         P / L, argv=argv)
                    cpu = result.extra["cpu_ms_per_request"]
                    figures[name].append((cpu, result.rps))
                    print(f"round {r + 1} {name}: {cpu} CPU ms per request, {result.rps:.1f} req/s, "
                          f"{result.answered}/{result.requests} answered", file=sys.stderr)
        finally:
            standin.stop()
            broker.stop()
    median = {name: {"cpu_ms_per_request": statistics.median(c for c, _ in v),
                     "rps": statistics.median(x for _, x in v)} for name, v in figures.items()}
    ratio = median["current"]["cpu_ms_per_request"] / median["before"]["cpu_ms_per_request"]
    print(f"\nL={L}s P={P}, {args.requests} requests, median of {args.rounds} rounds; {machine()}")
    for name, m in median.items():
        print(f"  {name:<8} {m['cpu_ms_per_request']:.2f} CPU ms per request, {m['rps']:.1f} req/s")
    print(f"current / before: {ratio:.2f} x CPU per request")
    write_json("service_cpu_ab.json", {"machine": machine(), "params": vars(args), "rounds": figures,
                                       "median": median, "current_vs_before": round(ratio, 3)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
