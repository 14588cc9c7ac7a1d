"""A second processor joins while the first has a request in flight on every partition.

What must happen, and what this test checks happened (not just "nothing was lost"):
- the first member really is revoked while its model calls are still running (they are held open until
  after the revoke), so the revoke is mid-flight by construction, and its drain budget runs out;
- the newcomer answers requests, among them ones the first member had started (so the work moved);
- every request is answered, and under exactly-once a read_committed reader sees each answer once;
- the first member's late results for partitions it no longer owns are dropped, not produced.
"""

from __future__ import annotations

import json
import uuid

import pytest

from models_processor.config import load_settings
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import (
    InProcessService,
    ResponseReader,
    create_output_topics,
    produce,
    service_env,
    text_request,
    wait_for,
)

pytestmark = pytest.mark.broker

PARTITIONS = 4


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_newcomer_takes_over_work_in_flight(kafka_bootstrap, kafka_topic_factory, guarantee):
    topic = kafka_topic_factory(partitions=PARTITIONS, prefix="join")
    group = f"g-{uuid.uuid4().hex[:8]}"

    def settings(member: str):
        return load_settings(service_env(
            kafka_bootstrap, topic, group, PROCESSING_GUARANTEE=guarantee, TRANSACTIONAL_ID=f"{group}-{member}",
            CONCURRENT_REQUESTS=str(PARTITIONS), REVOKE_DRAIN_SECONDS="2", REQUEST_DEADLINE_SECONDS="60",
            SHUTDOWN_GRACE_SECONDS="5"))

    first_settings = settings("a")
    create_output_topics(kafka_bootstrap, first_settings, partitions=PARTITIONS)
    first_model = ScriptedTextModel()  # "block:" prompts wait until first_model.release is set
    first_model.model_name = "member-a"
    second_model = ScriptedTextModel()
    second_model.model_name = "member-b"
    second_model.release.set()  # the newcomer answers at once
    kafka_env = {"KAFKA_HEARTBEAT_INTERVAL_MS": "500"}

    with InProcessService(first_settings, first_model, kafka_env=kafka_env) as first:
        first.wait_joined()
        # One held request per partition: whichever partitions move, each has work in flight.
        for p in range(PARTITIONS):
            produce(kafka_bootstrap, topic, [(f"held-{p}".encode(), text_request(f"block:held-{p}"))], partition=p)
        wait_for(lambda: len(first_model.calls) == PARTITIONS, 30, "first member never started every request")

        with InProcessService(settings("b"), second_model, kafka_env=kafka_env) as second:
            # The revoked partitions' requests are still in the first member's model at the revoke: the
            # drain budget runs out and the member lets them go (counted as skipped, reason "revoked").
            wait_for(lambda: first.metric("models_processor_messages_skipped_total", reason="revoked") >= 1, 60,
                     "the first member was never revoked with work in flight")
            assert first.metric("models_processor_rebalances_total", event="revoke") >= 1
            second.wait_joined()
            assert first_model.max_active == PARTITIONS and not first_model.release.is_set()
            wait_for(lambda: len(second_model.calls) >= 1, 30, "the newcomer never processed a request")
            first_model.release.set()  # the first member finishes what it kept; its stale results are dropped
            # The group keeps going with both members.
            produce(kafka_bootstrap, topic, [(f"after-{i}".encode(), text_request(f"after-{i}")) for i in range(12)])
            reader = ResponseReader(kafka_bootstrap, [first_settings.text_response_topic])
            expected = {f"held-{p}" for p in range(PARTITIONS)} | {f"after-{i}" for i in range(12)}
            reader.read_until(lambda ms: {m.key().decode() for m in ms} >= expected, timeout=60)
            reader.drain(quiet_s=2.0)
            reader.close()

    answers = reader.by_key()
    assert set(answers) == expected, f"unanswered: {expected - set(answers)}"
    by_member = {key: {a["model"] for a in values} for key, values in answers.items()}
    started_by_first = {c.removeprefix("block:") for c in first_model.calls if c.startswith("block:held-")}
    taken_over = {key for key in started_by_first if by_member[key] == {"member-b"}}
    assert taken_over, f"no request the first member had started was answered by the newcomer: {by_member}"
    assert any("member-a" in members for members in by_member.values()), "the first member stopped answering"
    assert first.metric("models_processor_messages_skipped_total", reason="superseded") >= len(taken_over)
    if guarantee == "exactly_once":
        duplicated = {key: len(values) for key, values in answers.items() if len(values) > 1}
        assert not duplicated, f"read_committed saw duplicates: {duplicated}"
    print(f"{guarantee}: taken over mid-flight by the newcomer: {sorted(taken_over)}; "
          f"answers by member: {json.dumps({k: sorted(v) for k, v in sorted(by_member.items())})}")
