"""A request that crashes the process (here: os._exit in the model call, as a native crash in a decoder
would) must not crash-loop its partition: each read is counted in STATE_DIR, and past MAX_ATTEMPTS the
restarted process answers it `internal` and sends it to the DLQ with x-attempts, then goes on.
Real broker, real Kafka clients, the real dispatcher in a child process (testkit/crashing_processor.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from testkit.crashing_processor import CRASH_EXIT_CODE
from testkit.harness import (
    REPO,
    ResponseReader,
    committed,
    create_output_topics,
    make_settings,
    produce,
    service_env,
    text_request,
    wait_for,
)

pytestmark = pytest.mark.broker


def test_a_request_that_crashes_the_process_goes_to_the_dlq_after_max_attempts(kafka_bootstrap, kafka_topic_factory,
                                                                                tmp_path):
    topic = kafka_topic_factory(partitions=1, prefix="crash")
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **service_env(kafka_bootstrap, topic, group), "STATE_DIR": str(tmp_path / "state"),
           "MAX_ATTEMPTS": "2", "PYTHONUNBUFFERED": "1",
           # a restarted member takes its predecessor's place at once (static membership), as a pod restart
           "KAFKA_GROUP_INSTANCE_ID": f"crash-{group}", "KAFKA_SESSION_TIMEOUT_MS": "6000"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    create_output_topics(kafka_bootstrap, make_settings(kafka_bootstrap, topic))
    dlq_topic, text_topic = env["DLQ_TOPIC"], env["TEXT_RESPONSE_TOPIC"]
    produce(kafka_bootstrap, topic, [(b"ok-0", text_request("fine")), (b"poison", text_request("crash:now")),
                                     (b"ok-1", text_request("fine too"))])
    exit_codes = []
    with open(tmp_path / "processor.log", "ab") as log:
        for _ in range(4):  # the orchestrator restarting a crashed container
            process = subprocess.Popen([sys.executable, "-m", "testkit.crashing_processor"], cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda p=process: p.poll() is not None or committed(kafka_bootstrap, group, topic, 1)[0] == 3,
                         90, "neither a crash nor progress", interval=0.5)
                if process.poll() is None:
                    break  # it stopped crashing: the poison request was set aside
                exit_codes.append(process.returncode)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(30)
    assert exit_codes == [CRASH_EXIT_CODE, CRASH_EXIT_CODE], (exit_codes, (tmp_path / "processor.log").read_text())
    answers = ResponseReader(kafka_bootstrap, [text_topic])
    answers.read_until(lambda ms: {m.key() for m in ms} >= {b"ok-0", b"poison", b"ok-1"}, timeout=30)
    by_key = answers.by_key()
    answers.close()
    assert by_key["poison"][-1]["error"]["code"] == "internal"
    assert by_key["ok-1"][-1]["status"] == "ok"
    dlq = ResponseReader(kafka_bootstrap, [dlq_topic])
    dlq.read_until(lambda ms: any(m.key() == b"poison" for m in ms), timeout=30)
    dlq.close()
    [copy] = [m for m in dlq.messages if m.key() == b"poison"]
    headers = dict(copy.headers())
    assert headers["x-attempts"] == b"3" and headers["x-error-code"] == b"internal"
