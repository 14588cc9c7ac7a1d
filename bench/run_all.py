"""`make bench`: run the benchmarks one after another, then write docs/BENCHMARKS.md and docs/bench/*.png.

Default (quick, about 10 minutes on the 2-core machine):
  bench/throughput.py --quick, bench/ollama_slots.py --quick, bench/ollama_real.py --quick (the real Ollama of
  testkit/local_ollama, or OLLAMA_HOST), bench/sweep.py --quick,
  bench/accuracy.py --json bench/out/accuracy.json, bench/ocr_speed.py --reps 1 --json bench/out/ocr_speed.json,
  then bench/report.py.
--full: the same without --quick (ocr_speed with its default 3 repetitions), plus bench/faults/run.py and
  bench/soak.py when they exist (--no-faults / --no-soak to leave them out; --faults / --soak to add them to a
  quick run: faults/run.py --quick, soak.py --minutes 2).

The steps run sequentially (the machine has 2 cores; running them together would skew every figure). A step
that exits non-zero (a benchmark that misses a target exits 1) does not stop the others; the report is
written from whatever JSON is in bench/out/ and the exit status is non-zero if a step failed to produce it.
Each step's output goes to the terminal and to bench/out/run_all-<step>.txt.

Usage: python -m bench.run_all [--full] [--only STEP,...] [--skip STEP,...] [--faults] [--soak]
                               [--no-faults] [--no-soak]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PY = sys.executable


def steps(full: bool, faults: bool, soak: bool) -> list[tuple[str, list[str], str]]:
    """(name, argv, JSON it writes)."""
    q = [] if full else ["--quick"]
    out = [
        ("throughput", [PY, "-m", "bench.throughput", *q], "throughput.json"),
        ("ollama_slots", [PY, "-m", "bench.ollama_slots", *q], "ollama_slots.json"),
        ("ollama_real", [PY, "-m", "bench.ollama_real", *q], "ollama_real.json"),
        ("sweep", [PY, "-m", "bench.sweep", *q], "sweep.json"),
        ("accuracy", [PY, "-m", "bench.accuracy", "--json", str(OUT / "accuracy.json")], "accuracy.json"),
        ("ocr_speed", [PY, "-m", "bench.ocr_speed", *([] if full else ["--reps", "1"]), "--json",
                       str(OUT / "ocr_speed.json")], "ocr_speed.json"),
    ]
    if faults and (ROOT / "bench" / "faults" / "run.py").exists():
        out.append(("faults", [PY, "-m", "bench.faults.run", *q], "faults.json"))
    if soak and (ROOT / "bench" / "soak.py").exists():
        out.append(("soak", [PY, "-m", "bench.soak", *([] if full else ["--minutes", "2"])], "soak.json"))
    return out


def run_step(name: str, argv: list[str]) -> tuple[int, float]:
    log = OUT / f"run_all-{name}.txt"
    print(f"\n=== {name}: {' '.join(Path(a).name if a == PY else a for a in argv)}  (load average "
          f"{os.getloadavg()[0]:.1f})", flush=True)
    started = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
        code = proc.wait()
    return code, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the longer runs (and faults/soak when present)")
    parser.add_argument("--faults", action="store_true", help="also run bench/faults/run.py (default with --full)")
    parser.add_argument("--soak", action="store_true", help="also run bench/soak.py (default with --full)")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--no-soak", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated step names to run (report always runs)")
    parser.add_argument("--skip", default="", help="comma-separated step names to skip")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    faults = (args.full or args.faults) and not args.no_faults
    soak = (args.full or args.soak) and not args.no_soak
    only = {s for s in args.only.split(",") if s}
    skip = {s for s in args.skip.split(",") if s}
    plan = [s for s in steps(args.full, faults, soak) if (not only or s[0] in only) and s[0] not in skip]

    summary = []
    broken = False
    for name, argv, produced in plan:
        before = (OUT / produced).stat().st_mtime if (OUT / produced).exists() else 0.0
        code, seconds = run_step(name, argv)
        fresh = (OUT / produced).exists() and (OUT / produced).stat().st_mtime > before
        broken |= not fresh
        summary.append((name, code, seconds, fresh))

    mode = "--full" if args.full else "quick"
    note = (f"Run: `bench/run_all.py` ({mode}): "
            + ", ".join(f"{n} {s:.0f} s{'' if fresh else ' (NO NEW JSON)'}" for n, _, s, fresh in summary) + ".")
    code, _ = run_step("report", [PY, "-m", "bench.report", "--note", note])
    print("\n=== summary")
    for name, rc, seconds, fresh in summary:
        status = "ok" if rc == 0 else f"exit {rc} (a target missed or an error; see bench/out/run_all-{name}.txt)"
        print(f"{name:<13} {seconds:6.0f} s  {status}{'' if fresh else '  -- no new JSON written'}")
    print(f"\nreport: {ROOT / 'docs' / 'BENCHMARKS.md'}  (plots: {ROOT / 'docs' / 'bench'}/*.png)")
    return 1 if broken or code != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
