"""`python -m models_processor dlq stats|replay`: argument parsing and the Kafka clients (README.md, "Try it")."""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from ..config import Settings
from ..errors import ErrorCode
from .entries import DlqReadError, read_entries
from .originals import OriginalReader
from .replay import ReplayFilter, replay
from .stats import summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="dlq_action", required=True)
    stats = actions.add_parser("stats", help="counts of DLQ entries by error code and age")
    stats.add_argument("--timeout", type=float, default=60.0, help="seconds to read the DLQ to its end")
    again = actions.add_parser("replay", help="send DLQ entries back to the request topic")
    again.add_argument("--code", action="append", default=[], choices=[c.value for c in ErrorCode],
                       help="only entries with this x-error-code (repeatable)")
    again.add_argument("--request-id", action="append", default=[], help="only this request id (repeatable)")
    again.add_argument("--since", type=_utc, help="only entries written to the DLQ at or after (ISO 8601, UTC)")
    again.add_argument("--until", type=_utc, help="only entries written to the DLQ before (ISO 8601, UTC)")
    again.add_argument("--rate", type=float, default=10.0, help="requests per second at most (0: no limit)")
    again.add_argument("--limit", type=int, default=None, help="replay at most this many")
    again.add_argument("--topic", default=None, help="target topic (default: LOCAL_MODEL_KAFKA_TOPIC)")
    again.add_argument("--dry-run", action="store_true", help="list what would be replayed; send nothing")
    again.add_argument("--timeout", type=float, default=60.0, help="seconds to read the DLQ to its end")


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer

    from ..kafka.client_config import admin_config

    base = admin_config(settings)
    consumer = Consumer({**base, "group.id": f"models-processor-dlq-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        entries = read_entries(consumer, settings.dlq_topic, timeout_s=args.timeout)
        if args.dlq_action == "stats":
            output: Any = summarize(settings.dlq_topic, entries, now_s=time.time())
        else:
            output = _replay(settings, args, base, entries)
    except DlqReadError as exc:
        print(f"models-processor dlq: {exc}", file=sys.stderr)
        return 1
    finally:
        consumer.close()
    print(json.dumps(output.model_dump(mode="json"), indent=2))
    return 1 if getattr(output, "failed", 0) else 0


def _replay(settings: Settings, args: argparse.Namespace, base: dict[str, Any], entries: Any) -> Any:
    from confluent_kafka import Consumer, Producer

    selection = ReplayFilter(codes=frozenset(args.code), request_ids=frozenset(args.request_id),
                             since=args.since, until=args.until)
    if args.dry_run:
        return replay(entries, selection, topic=args.topic or settings.local_model_kafka_topic, producer=None,
                      rate=args.rate, limit=args.limit)
    producer = Producer({**base, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                         "message.max.bytes": settings.max_message_bytes + 1024 * 1024})
    sources = Consumer({**base, "group.id": f"models-processor-dlq-{uuid.uuid4().hex[:8]}",
                        "enable.auto.commit": False, "isolation.level": "read_committed",
                        "auto.offset.reset": "earliest"})  # gone: the next record says so
    try:
        return replay(entries, selection, topic=args.topic or settings.local_model_kafka_topic, producer=producer,
                      rate=args.rate, limit=args.limit, originals=OriginalReader(sources))
    finally:
        sources.close()
