"""`python -m testkit.faults KIND`: run one fault (bench/faults/run.py runs all of them)."""

from __future__ import annotations

import argparse
import os

from testkit.fakes.quiet import quiet_standin_disconnects

from .kinds import KINDS
from .run import GUARANTEES, FaultRun


def main() -> None:
    parser = argparse.ArgumentParser(description="run one fault (see bench/faults/run.py for all of them)",
                                     prog="python -m testkit.faults")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--guarantee", choices=GUARANTEES, default="exactly_once")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=float, default=None)
    args = parser.parse_args()
    quiet_standin_disconnects()
    report = FaultRun(args.kind, args.guarantee, args.requests, rate=args.rate,
                      bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS")).run()
    print(report.summary())


if __name__ == "__main__":
    main()
