"""Every fault kind in both guarantees, at realistic sizes; prints a markdown table and writes
bench/out/faults.json. Long (tens of minutes with the full sizes), not part of CI.

    python -m bench.faults.run              # full: 1000 requests at 40/s per run, 3 kills, 20 s outages
    python -m bench.faults.run --quick      # 200 requests at 25/s, 2 kills, short outages (~10 min)
    python -m bench.faults.run --kinds kill9,rebalance --guarantees exactly_once

One broker (own, temp run dir; or KAFKA_BOOTSTRAP_SERVERS) is shared by the runs, except broker_restart,
which always starts its own. KAFKA_SESSION_TIMEOUT_MS=10000 for the processor so that a kill -9 is noticed
in 10 s instead of 45 s (the recovery figure of kill9 is dominated by it). Columns: see testkit/faults/__init__.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from testkit.broker import LocalBroker
from testkit.faults import GUARANTEES, KINDS, FaultRun, markdown_table, write_json

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--kinds", default=",".join(k for k in KINDS if k != "none"))
    parser.add_argument("--guarantees", default=",".join(GUARANTEES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "faults.json"))
    args = parser.parse_args()
    from testkit.fakes.quiet import quiet_standin_disconnects

    quiet_standin_disconnects()
    sizes = (dict(requests=200, rate=25.0, kills=2, down_s=5.0, n503=30, broker_down_s=5.0) if args.quick else
             dict(requests=1000, rate=40.0, kills=3, down_s=20.0, n503=200, broker_down_s=15.0))
    sizes.update(deadline_s=60.0, recover_timeout_s=180.0, concurrency=8)
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    shared = None if external else LocalBroker()
    bootstrap = external or shared.start()
    reports = []
    started = time.monotonic()
    try:
        for kind in args.kinds.split(","):
            for guarantee in args.guarantees.split(","):
                report = FaultRun(kind, guarantee, bootstrap=bootstrap, seed=len(reports), **sizes).run()
                print(report.summary(), flush=True)
                reports.append(report)
    finally:
        if shared is not None:
            shared.close()
    print()
    print(markdown_table(reports))
    path = write_json(Path(args.out), reports, quick=args.quick, sizes=sizes,
                      total_s=round(time.monotonic() - started, 1))
    print(f"\nwrote {path}")
    bad = [r for r in reports if r.lost or r.eos_duplicates or r.uncommitted]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
