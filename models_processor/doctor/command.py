"""`python -m models_processor doctor [--json] [--only kafka|models] [--wait S]`: argument parsing and the exit
status (README.md). The k8s pre-flight init container runs it with --wait (docs/DEPLOYMENT.md "Pre-flight")."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from enum import StrEnum

from ..config import Settings
from .report import DoctorReport

log = logging.getLogger(__name__)


class Part(StrEnum):
    """What --only checks."""

    KAFKA = "kafka"
    MODELS = "models"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for machines)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for Kafka per step")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--only", choices=[p.value for p in Part],
                      help="check Kafka only (topics, sizes, group lag) or the model servers only")
    only.add_argument("--skip-kafka", action="store_true", help="check the model servers only (= --only models)")
    only.add_argument("--skip-models", action="store_true", help="check Kafka only (= --only kafka)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="check again every --interval seconds until everything passes or SECONDS have "
                             "passed (a pre-flight waiting for a broker or a model server that is starting)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds with --wait")


def diagnose(settings: Settings, *, timeout_s: float = 10.0, kafka: bool = True, models: bool = True) -> DoctorReport:
    findings = []
    if kafka:
        from .kafka_checks import check_kafka

        findings += check_kafka(settings, timeout_s=timeout_s)
    if models:
        from .model_checks import check_models

        findings += check_models(settings)
    return DoctorReport.of(findings)


def parts(args: argparse.Namespace) -> tuple[bool, bool]:
    """(check Kafka, check the models) from --only / --skip-*."""
    only = Part(args.only) if args.only else None
    kafka = only is not Part.MODELS and not args.skip_kafka
    models = only is not Part.KAFKA and not args.skip_models
    return kafka, models


def diagnose_until_ok(check: Callable[[], DoctorReport], *, wait_s: float, interval_s: float,
                      clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep) -> tuple[DoctorReport, int]:
    """The first passing report, or the last one once wait_s has passed; and the rounds it took."""
    until = clock() + wait_s
    rounds = 1
    report = check()
    while not report.ok and clock() + interval_s <= until:
        failed = [f.check for f in report.findings if f.status.value == "fail"]
        log.warning("doctor: %d check(s) failed (%s); checking again in %.0fs", len(failed), ", ".join(failed),
                    interval_s)
        sleep(interval_s)
        rounds += 1
        report = check()
    return report, rounds


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit status 0 when nothing failed (warnings allowed), 1 otherwise."""
    kafka, models = parts(args)
    report, _ = diagnose_until_ok(lambda: diagnose(settings, timeout_s=args.timeout, kafka=kafka, models=models),
                                  wait_s=max(0.0, args.wait), interval_s=max(0.1, args.interval))
    print(report.model_dump_json(indent=2) if args.json else report.text())
    return 0 if report.ok else 1
