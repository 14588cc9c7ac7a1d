"""Topic set-up for local runs and tests (production topics are an operator's job; see docs)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

log = logging.getLogger(__name__)

# Photos travel inside messages: topics must accept what MAX_MESSAGE_BYTES allows (docs/contracts.md).
TOPIC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def ensure_topics(admin: AdminClient, names: list[str], *, partitions: int, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Existing ones are left as is."""
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [n for n in dict.fromkeys(names) if n not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=-1,
                  config={"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES)}) for n in missing],
        operation_timeout=timeout_s, request_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != exc.args[0].TOPIC_ALREADY_EXISTS:
                raise
    # Metadata propagates asynchronously even on one broker: wait until every topic is visible.
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        if set(missing) <= set(admin.list_topics(timeout=timeout_s).topics):
            break
        time.sleep(0.1)
    log.info("topics created", extra={"topics": created, "partitions": partitions})
    return created
