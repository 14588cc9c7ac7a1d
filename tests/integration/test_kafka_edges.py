"""Records Kafka will not take, on the real broker: none may crash the loop or hold its partition.

- A 12 MiB request: the topic takes it (16 MiB), the service does not (MAX_MESSAGE_BYTES 10 MiB), and its
  DLQ copy is above the producer's message.max.bytes, so produce() raises MSG_SIZE_TOO_LARGE at once.
- An allow-listed reply topic that does not exist (and cannot be auto-created): the delivery fails for
  good, which must not be retried for ever.
In both guarantees: the request is accounted for (answered and/or in the DLQ), the requests after it are
answered, every offset is committed, and the dispatcher thread is still running.
"""

from __future__ import annotations

import json
import uuid

import pytest

from testkit.fakes.models import ScriptedTextModel
from testkit.harness import (
    InProcessService,
    ResponseReader,
    committed,
    create_output_topics,
    make_settings,
    produce,
    text_request,
    wait_for,
)

pytestmark = pytest.mark.broker

GUARANTEES = ["at_least_once", "exactly_once"]


def _run_around(kafka_bootstrap, topic, settings, special: tuple[bytes, bytes], kafka_env=None):
    """Two requests, the special one, two more; returns (answers by key, DLQ records, the service)."""
    before = [(f"before-{i}".encode(), text_request(f"before {i}")) for i in range(2)]
    after = [(f"after-{i}".encode(), text_request(f"after {i}")) for i in range(2)]
    with InProcessService(settings, ScriptedTextModel(), kafka_env=kafka_env) as service:
        service.wait_joined()
        produce(kafka_bootstrap, topic, [*before, special, *after])
        reader = ResponseReader(kafka_bootstrap, sorted({settings.text_response_topic, settings.error_topic}))
        expected = {"before-0", "before-1", "after-0", "after-1"}
        reader.read_until(lambda ms: {(m.key() or b"").decode() for m in ms} >= expected, timeout=60)
        # Every offset, the special one's included, is committed while the service runs.
        wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == 5, 60,
                 f"offsets not committed past the special request: "
                 f"{committed(kafka_bootstrap, settings.consumer_group, topic, 1)}")
        assert service.error is None, f"the dispatcher thread died: {service.error!r}"
        reader.drain(quiet_s=1.0)
        reader.close()
        dlq = ResponseReader(kafka_bootstrap, [settings.dlq_topic])
        dlq.read_until(lambda ms: any(m.key() == special[0] for m in ms), timeout=30)
        dlq.close()
    answers = {key: [a for a in values if a is not None] for key, values in reader.by_key().items()}
    assert expected <= set(answers), f"requests around the special one unanswered: {expected - set(answers)}"
    return answers, dlq.messages, service


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_a_12_mib_request_is_answered_and_the_group_keeps_going(kafka_bootstrap, kafka_topic_factory, guarantee):
    topic = kafka_topic_factory(partitions=1, prefix="big")  # max.message.bytes 16 MiB, as in production
    settings = make_settings(kafka_bootstrap, topic, PROCESSING_GUARANTEE=guarantee,
                             TRANSACTIONAL_ID=f"tx-{uuid.uuid4().hex[:8]}")
    create_output_topics(kafka_bootstrap, settings)
    big = b'{"user_email": "user@example.com", "prompt": "' + b"a" * (12 * 1024 * 1024) + b'"}'
    answers, dlq, _ = _run_around(kafka_bootstrap, topic, settings, (b"big-1", big))

    assert len(answers["big-1"]) == 1 and answers["big-1"][0]["status"] == "error"
    assert answers["big-1"][0]["error"]["code"] == "invalid_request"
    copies = [m for m in dlq if m.key() == b"big-1"]
    assert len(copies) == 1, "one DLQ record for the oversized request"
    headers = dict(copies[0].headers())
    assert headers["x-error-code"] == b"invalid_request" and headers["x-original-offset"] == b"2"


@pytest.mark.parametrize("guarantee", GUARANTEES)
def test_an_allowlisted_reply_topic_that_does_not_exist(kafka_bootstrap, kafka_topic_factory, guarantee):
    topic = kafka_topic_factory(partitions=1, prefix="reply")
    missing = f"missing-reply-{uuid.uuid4().hex[:8]}"
    settings = make_settings(kafka_bootstrap, topic, PROCESSING_GUARANTEE=guarantee,
                             TRANSACTIONAL_ID=f"tx-{uuid.uuid4().hex[:8]}", REPLY_TOPIC_ALLOWLIST=missing)
    create_output_topics(kafka_bootstrap, settings)
    # Production clusters do not auto-create topics; the local broker does, so the producer is told not to.
    # librdkafka then reports the topic unknown once topic.metadata.propagation.max.ms has passed.
    kafka_env = {"KAFKA_ALLOW_AUTO_CREATE_TOPICS": "false", "KAFKA_TOPIC_METADATA_PROPAGATION_MAX_MS": "2000"}
    request = text_request("answer me elsewhere", reply_topic=missing)
    _, dlq, _ = _run_around(kafka_bootstrap, topic, settings, (b"lost-reply-1", request), kafka_env)

    copies = [m for m in dlq if m.key() == b"lost-reply-1"]
    assert copies, "the request whose answer could not be delivered is in the DLQ"
    headers = dict(copies[-1].headers())
    assert missing.encode() in headers["x-error-message"], headers
    assert json.loads(copies[-1].value())["reply_topic"] == missing  # the original request, unchanged
