"""The 16 MiB topic/broker message limit is defined once, in models_processor.kafka.topics; the local broker
script (standard library only, so it cannot import the package) repeats it and must agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from models_processor.config import load_settings
from models_processor.kafka.client_config import producer_config
from models_processor.kafka.topics import TOPIC_MAX_MESSAGE_BYTES

BROKER_SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local-kafka" / "broker.py"


def test_local_broker_allows_what_the_topics_allow():
    spec = importlib.util.spec_from_file_location("local_kafka_broker", BROKER_SCRIPT)
    assert spec is not None and spec.loader is not None
    broker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(broker)
    assert broker.MAX_MESSAGE_BYTES == TOPIC_MAX_MESSAGE_BYTES


def test_topics_take_the_largest_message_the_producer_writes():
    # A DLQ copy or answer can be as large as the largest accepted request plus headers.
    producer_limit = int(producer_config(load_settings({}), environ={})["message.max.bytes"])
    assert load_settings({}).max_message_bytes < producer_limit <= TOPIC_MAX_MESSAGE_BYTES
