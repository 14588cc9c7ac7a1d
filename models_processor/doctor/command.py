"""`python -m models_processor doctor [--json]`: argument parsing and the exit status (README.md)."""

from __future__ import annotations

import argparse

from ..config import Settings
from .report import DoctorReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON (for machines)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for Kafka per step")
    parser.add_argument("--skip-kafka", action="store_true", help="check the model servers only")
    parser.add_argument("--skip-models", action="store_true", help="check Kafka only")


def diagnose(settings: Settings, *, timeout_s: float = 10.0, kafka: bool = True, models: bool = True) -> DoctorReport:
    findings = []
    if kafka:
        from .kafka_checks import check_kafka

        findings += check_kafka(settings, timeout_s=timeout_s)
    if models:
        from .model_checks import check_models

        findings += check_models(settings)
    return DoctorReport.of(findings)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Exit status 0 when nothing failed (warnings allowed), 1 otherwise."""
    report = diagnose(settings, timeout_s=args.timeout, kafka=not args.skip_kafka, models=not args.skip_models)
    print(report.model_dump_json(indent=2) if args.json else report.text())
    return 0 if report.ok else 1
