"""Doctor checks of Kafka: the broker reachable with the configured (security) settings, the topics present
and large enough for MAX_MESSAGE_BYTES, and the consumer group's lag."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public, but not in the stubs' exports
    AdminClient,
    ConfigResource,
    ResourceType,
)

from ..config import Settings
from ..kafka.client_config import admin_config
from .report import Finding, Status

# Requests up to MAX_MESSAGE_BYTES travel whole; answers and DLQ copies add headers. The producer's own
# limit is MAX_MESSAGE_BYTES + 1 MiB (kafka/client_config.py), so a topic must take that much.
HEADROOM_BYTES = 1024 * 1024


def required_topic_bytes(settings: Settings) -> int:
    return settings.max_message_bytes + HEADROOM_BYTES


def service_topics(settings: Settings) -> dict[str, str]:
    """Role -> topic name of every topic the service reads or writes."""
    return {"request": settings.local_model_kafka_topic, "photo response": settings.photo_response_topic,
            "text response": settings.text_response_topic, "error response": settings.error_topic,
            "DLQ": settings.dlq_topic}


def check_kafka(settings: Settings, *, timeout_s: float = 10.0) -> list[Finding]:
    config = admin_config(settings)
    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return [Finding(check="kafka.connection", status=Status.FAIL,
                        message=f"cannot reach Kafka at {settings.bootstrap_server}: {exc.args[0].str()}",
                        fix="check BOOTSTRAP_SERVER and the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* "
                            "variables (the same ones the service uses)")]
    findings = [Finding(check="kafka.connection", status=Status.OK,
                        message=f"connected to {settings.bootstrap_server} ({len(metadata.brokers)} broker(s), "
                                f"security.protocol {config.get('security.protocol', 'plaintext')})")]
    findings += check_topics(settings, admin, set(metadata.topics), timeout_s=timeout_s)
    request_topic = metadata.topics.get(settings.local_model_kafka_topic)
    if request_topic is not None:
        findings.append(check_lag(settings, config, sorted(request_topic.partitions), timeout_s=timeout_s))
    return findings


def _max_message_bytes(admin: AdminClient, topics: list[str], timeout_s: float) -> dict[str, int]:
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics],
                                     request_timeout=timeout_s)
    sizes = {}
    for resource, future in futures.items():
        entries = future.result(timeout=timeout_s)
        sizes[resource.name] = int(entries["max.message.bytes"].value)
    return sizes


def check_topics(settings: Settings, admin: AdminClient, existing: set[str], *, timeout_s: float) -> list[Finding]:
    needed = required_topic_bytes(settings)
    roles: dict[str, list[str]] = {}
    for role, topic in service_topics(settings).items():
        roles.setdefault(topic, []).append(role)
    present = [t for t in roles if t in existing]
    sizes = _max_message_bytes(admin, present, timeout_s) if present else {}
    findings = []
    for topic, topic_roles in roles.items():
        check, what = f"kafka.topic.{topic}", " and ".join(topic_roles) + " topic"
        if topic not in existing:
            findings.append(Finding(check=check, status=Status.FAIL, message=f"{what} '{topic}' does not exist",
                                    fix=f"create it with max.message.bytes >= {needed} (or run `python -m "
                                        "models_processor topics` on a local broker)"))
            continue
        size = sizes[topic]
        details: dict[str, object] = {"max_message_bytes": size, "required_bytes": needed}
        if size < needed:
            findings.append(Finding(
                check=check, status=Status.FAIL, details=details,
                message=f"{what} '{topic}' takes messages up to {size} bytes, but MAX_MESSAGE_BYTES="
                        f"{settings.max_message_bytes} needs {needed} (request plus headers)",
                fix=f"kafka-configs --alter --entity-type topics --entity-name {topic} --add-config "
                    f"max.message.bytes={needed} (or lower MAX_MESSAGE_BYTES)"))
        else:
            findings.append(Finding(check=check, status=Status.OK, details=details,
                                    message=f"{what} '{topic}' exists, max.message.bytes {size} >= {needed}"))
    return findings


# librdkafka does not mark these retriable on committed(), yet they pass once the group's coordinator is known.
_COORDINATOR_MOVING = frozenset({KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                 KafkaError.COORDINATOR_NOT_AVAILABLE})


def _committed(consumer: Consumer, partitions: list[TopicPartition], timeout_s: float) -> list[TopicPartition]:
    """Consumer.committed, again while the error is retriable: a group's coordinator is briefly unknown
    ("not coordinator") on a new cluster or after a coordinator move."""
    until = time.monotonic() + timeout_s
    while True:
        try:
            return list(consumer.committed(partitions, timeout=max(0.5, until - time.monotonic())))
        except KafkaException as exc:
            error = exc.args[0]
            if not (error.retriable() or error.code() in _COORDINATOR_MOVING) or time.monotonic() >= until:
                raise
            time.sleep(0.2)


def check_lag(settings: Settings, config: dict[str, Any], partitions: list[int], *, timeout_s: float) -> Finding:
    """Committed offsets of the consumer group against the high watermarks. The consumer never subscribes,
    so it does not join the group or disturb its members."""
    topic = settings.local_model_kafka_topic
    consumer = Consumer({**config, "group.id": settings.consumer_group, "enable.auto.commit": False})
    try:
        committed = _committed(consumer, [TopicPartition(topic, p) for p in partitions], timeout_s)
        lag: dict[int, int] = {}
        uncommitted = 0
        for tp in committed:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
            if tp.offset < 0:  # nothing committed: a new group starts at the earliest offset
                uncommitted += 1
                lag[tp.partition] = high - low
            else:
                lag[tp.partition] = max(0, high - tp.offset)
    except KafkaException as exc:
        return Finding(check="kafka.consumer_group", status=Status.FAIL,
                       message=f"cannot read the offsets of group '{settings.consumer_group}': {exc.args[0].str()}",
                       fix="grant the service's principal Describe on the group and the topic")
    finally:
        consumer.close()
    total = sum(lag.values())
    details: dict[str, object] = {"lag": total, "partitions": {str(p): n for p, n in lag.items()},
                                  "partitions_without_commit": uncommitted}
    message = f"group '{settings.consumer_group}' is {total} request(s) behind on '{topic}' ({len(lag)} partition(s))"
    if uncommitted == len(lag) and lag:
        return Finding(check="kafka.consumer_group", status=Status.WARN, details=details,
                       message=message + "; the group has committed nothing yet",
                       fix="none needed for a new deployment: it starts at the earliest offset; otherwise check "
                           "CONSUMER_GROUP")
    return Finding(check="kafka.consumer_group", status=Status.OK, details=details, message=message)
