"""Command line: `run` the service, `send` a request and print its answer, `analyze` one photo, `topics`."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from .config import ConfigError, Settings, load_settings
from .logs import configure_logging
from .messages import RequestKind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models_processor")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the service (configuration from environment variables)")

    send = commands.add_parser("send", help="produce a request and print the matching response")
    what = send.add_mutually_exclusive_group(required=True)
    what.add_argument("--photo", type=Path, help="image file to send as a photo request")
    what.add_argument("--text", help="prompt to send as a text request")
    send.add_argument("--prompt", default="", help="prompt sent with --photo")
    send.add_argument("--kind", default="auto", choices=[k.value for k in RequestKind])
    send.add_argument("--email", default="user@example.com", help="user_email of the request")
    send.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the answer")

    analyze = commands.add_parser("analyze", help="run one photo through the pipeline, no Kafka")
    analyze.add_argument("image", type=Path)
    analyze.add_argument("--kind", default="auto", choices=[k.value for k in RequestKind])
    analyze.add_argument("--no-llm", action="store_true", help="OCR and parsing only; never call a model")

    topics = commands.add_parser("topics", help="create the service's topics if missing (local runs)")
    topics.add_argument("--partitions", type=int, default=8)

    from .dlq.command import add_arguments as add_dlq_arguments

    add_dlq_arguments(commands.add_parser("dlq", help="DLQ: stats by error code and age; replay to the request topic"))

    from .doctor.command import add_arguments as add_doctor_arguments

    add_doctor_arguments(commands.add_parser("doctor", help="check Kafka and the model servers; say what to fix"))

    from .models_command import add_arguments as add_models_arguments

    add_models_arguments(commands.add_parser("models", help="list or pull the models on the configured servers"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"models-processor: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "run":
            from .service import run_service

            return run_service(settings)
        if args.command == "send":
            return _send(settings, args)
        if args.command == "analyze":
            return _analyze(settings, args)
        if args.command == "topics":
            return _topics(settings, args)
        if args.command == "dlq":
            from .dlq.command import run as run_dlq

            return run_dlq(settings, args)
        if args.command == "doctor":
            from .doctor.command import run as run_doctor

            return run_doctor(settings, args)
        if args.command == "models":
            from .models_command import run as run_models

            return run_models(settings, args)
    except ConfigError as exc:
        print(f"models-processor: {exc}", file=sys.stderr)
        return 2
    return 1


def _topics(settings: Settings, args: argparse.Namespace) -> int:
    from confluent_kafka.admin import AdminClient

    from .kafka.client_config import admin_config
    from .kafka.topics import ensure_topics

    admin = AdminClient(admin_config(settings))
    names = [settings.local_model_kafka_topic, settings.photo_response_topic, settings.text_response_topic,
             settings.dlq_topic, settings.error_topic]
    created = ensure_topics(admin, names, partitions=args.partitions)
    print(json.dumps({"created": created, "topics": sorted(set(names))}))
    return 0


def _send(settings: Settings, args: argparse.Namespace) -> int:
    from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

    from .kafka.client_config import admin_config

    request_id = f"cli-{uuid.uuid4()}"
    if args.photo is not None:
        value = {"user_email": args.email, "prompt": args.prompt, "kind": args.kind,
                 "photo": base64.b64encode(args.photo.read_bytes()).decode()}
        topic = settings.photo_response_topic
    else:
        value = {"user_email": args.email, "prompt": args.text}
        topic = settings.text_response_topic

    base = admin_config(settings)
    consumer = Consumer({**base, "group.id": f"models-processor-cli-{uuid.uuid4()}", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    # Listen from the current end of the response topic before sending, so the answer cannot be missed.
    metadata = consumer.list_topics(topic, timeout=10)
    partitions = list(metadata.topics[topic].partitions) if topic in metadata.topics else []
    if not partitions:
        print(f"response topic {topic} does not exist", file=sys.stderr)
        return 1
    consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in partitions])
    for p in partitions:  # resolve OFFSET_END now, before producing
        consumer.position([TopicPartition(topic, p)])
    consumer.poll(0.5)

    producer = Producer({**base, "enable.idempotence": True,
                         "message.max.bytes": settings.max_message_bytes + 1024 * 1024})
    producer.produce(settings.local_model_kafka_topic, key=request_id.encode(), value=json.dumps(value).encode())
    if producer.flush(30) != 0:
        print("request was not delivered to Kafka within 30 s", file=sys.stderr)
        return 1
    print(f"sent {request_id} to {settings.local_model_kafka_topic}; waiting up to {args.wait:.0f}s "
          f"for the answer on {topic}", file=sys.stderr)
    until = time.monotonic() + args.wait
    try:
        while time.monotonic() < until:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            if message.key() == request_id.encode():
                print(json.dumps(json.loads(message.value() or b"null"), indent=2, ensure_ascii=False))
                return 0
    finally:
        consumer.close()
    print(f"no answer for {request_id} within {args.wait:.0f}s", file=sys.stderr)
    return 1


def _analyze(settings: Settings, args: argparse.Namespace) -> int:
    from .pipeline.analyze import analyze_file

    response = analyze_file(settings, args.image, kind=args.kind, use_llm=not args.no_llm)
    print(json.dumps(json.loads(response.to_bytes()), indent=2, ensure_ascii=False))
    return 0 if response.status == "ok" else 1
