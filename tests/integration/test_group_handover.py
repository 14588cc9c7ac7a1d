"""A stopping processor leaves the group, so its partitions move at once; a static member does not.

The README promises "leave the group" on shutdown, and docs/DEPLOYMENT.md explains why the manifests set no
KAFKA_GROUP_INSTANCE_ID: librdkafka sends no LeaveGroup for a static member on close (KIP-345), so its
partitions wait for the session timeout. Both halves are measured here on the real broker.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer

from models_processor.kafka.client_config import consumer_config
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import InProcessService, create_output_topics, make_settings

pytestmark = pytest.mark.broker

# Above the broker's group.min.session.timeout.ms (6 s), so the static member's wait and the dynamic
# member's prompt move (about 1 s) stay apart by seconds on a loaded machine.
SESSION_TIMEOUT_S = 10.0
GROUP_ENV = {"KAFKA_SESSION_TIMEOUT_MS": str(int(SESSION_TIMEOUT_S * 1000)), "KAFKA_HEARTBEAT_INTERVAL_MS": "500"}


def _poll_until(consumer: Consumer, partitions: int, timeout: float) -> float:
    """Poll until the consumer owns `partitions` partitions; the time that took."""
    started = time.monotonic()
    while len(consumer.assignment()) != partitions:
        assert time.monotonic() - started < timeout, f"assignment stuck at {consumer.assignment()}"
        consumer.poll(0.05)
    return time.monotonic() - started


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
def test_a_stopping_processor_hands_its_partitions_over(kafka_bootstrap, kafka_topic_factory, static):
    topic = kafka_topic_factory(partitions=2, prefix="handover")
    settings = make_settings(kafka_bootstrap, topic)
    create_output_topics(kafka_bootstrap, settings)
    env_a = {**GROUP_ENV, **({"KAFKA_GROUP_INSTANCE_ID": f"a-{uuid.uuid4().hex[:6]}"} if static else {})}
    other = Consumer(consumer_config(settings, environ=GROUP_ENV))
    try:
        with InProcessService(settings, ScriptedTextModel(), kafka_env=env_a) as service:
            service.wait_joined()
            other.subscribe([topic])
            _poll_until(other, 1, 30.0)  # the group is balanced: one partition each
        # The processor has shut down (SIGTERM path: drain, commit, close).
        handover = _poll_until(other, 2, 30.0)
    finally:
        other.close()
    if static:
        # No LeaveGroup: the partition waits until the broker expires the session.
        assert handover >= SESSION_TIMEOUT_S - 1.5, f"static member's partition moved after {handover:.1f} s"
    else:
        assert handover < SESSION_TIMEOUT_S - 2.5, f"partition moved only after {handover:.1f} s"
    print(f"handover after close ({'static' if static else 'dynamic'} member): {handover:.2f} s")
