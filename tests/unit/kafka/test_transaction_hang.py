"""Exactly-once across a broker restart: librdkafka's send_offsets_to_transaction can block past its own
timeout (confluentinc/librdkafka#5456). The process must exit (code 70) soon after the call's timeout, so
that a restart fences it and processing resumes; until then every partition is stuck behind the call.

The hung call runs in a child process: the watchdog ends its process with os._exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

from models_processor.kafka.transactions import (
    TXN_CALL_TIMEOUT_S,
    TXN_HANG_EXIT_CODE,
    TXN_HANG_MARGIN_S,
    TXN_INIT_TIMEOUT_S,
)

_CHILD = textwrap.dedent("""
    import json, sys, threading, time
    from models_processor.kafka.routing import OutputRecord
    from models_processor.kafka.transactions import ExactlyOnceCheckpoint
    from models_processor.metrics import Metrics
    from testkit.fake_kafka_run import P0, settings
    from testkit.fakes.kafka_clients import FakeConsumer, FakeProducer

    class HangingProducer(FakeProducer):
        # A send_offsets_to_transaction that never returns, whatever its timeout (the librdkafka bug).
        def init_transactions(self, timeout=-1):
            print(json.dumps({"call": "init_transactions", "timeout": timeout}), flush=True)
            super().init_transactions(timeout)

        def send_offsets_to_transaction(self, positions, group_metadata, timeout=-1):
            print(json.dumps({"call": "send_offsets_to_transaction", "timeout": timeout}), flush=True)
            threading.Event().wait()

    checkpoint = ExactlyOnceCheckpoint(HangingProducer(transactional=True), FakeConsumer(), settings(),
                                       Metrics())
    checkpoint.start()
    record = OutputRecord(topic="answers", key=b"r0", value=b"{}", headers=[], request_id="r0")
    checkpoint.release(P0, 1, [record])
    print(json.dumps({"call": "hang"}), flush=True)
    print(time.monotonic(), flush=True)
    checkpoint.commit(force=True)
    sys.exit(0)
""")


def test_a_hung_send_offsets_exits_soon_after_the_call_timeout():
    child = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120)
    ended = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process on the host
    calls = [line for line in child.stdout.splitlines() if line.startswith("{")]
    assert child.returncode == TXN_HANG_EXIT_CODE, (child.returncode, child.stdout, child.stderr[-2000:])
    assert calls == [json.dumps({"call": "init_transactions", "timeout": TXN_INIT_TIMEOUT_S}),
                     json.dumps({"call": "hang"}),  # the exit came from the hung call, not from start()
                     json.dumps({"call": "send_offsets_to_transaction", "timeout": TXN_CALL_TIMEOUT_S})], calls
    # Exited at the call's timeout plus the margin (the watchdog checks once a second), not at the
    # 30 s + 5 s of before.
    elapsed = ended - float(child.stdout.splitlines()[2])
    assert TXN_CALL_TIMEOUT_S + TXN_HANG_MARGIN_S <= elapsed < TXN_CALL_TIMEOUT_S + TXN_HANG_MARGIN_S + 5, elapsed
    assert "blocking call hung past its limit" in child.stderr, child.stderr[-2000:]


def test_a_call_that_returns_past_its_timeout_is_logged(monkeypatch, caplog):
    # The hang resolves itself once a broker connection changes state (connections.max.idle.ms on the
    # transactional producer: docs/guarantees.md): the late return is logged, so a fault run shows the path.
    import logging
    import threading

    from models_processor.kafka import transactions
    from models_processor.kafka.routing import OutputRecord
    from models_processor.metrics import Metrics
    from testkit.fake_kafka_run import P0, settings
    from testkit.fakes.kafka_clients import FakeConsumer, FakeProducer

    class SlowProducer(FakeProducer):
        def send_offsets_to_transaction(self, positions, group_metadata, timeout=-1):  # type: ignore[no-untyped-def]
            threading.Event().wait(0.3)
            super().send_offsets_to_transaction(positions, group_metadata, timeout)

    monkeypatch.setattr(transactions, "TXN_CALL_TIMEOUT_S", 0.1)
    producer = SlowProducer(transactional=True)
    checkpoint = transactions.ExactlyOnceCheckpoint(producer, FakeConsumer(), settings(), Metrics())
    checkpoint.start()
    checkpoint.release(P0, 1, [OutputRecord(topic="answers", key=b"r0", value=b"{}", headers=[], request_id="r0")])
    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.transactions"):
        checkpoint.commit(force=True)
    late = [r for r in caplog.records if r.getMessage() == "transactional call returned past its timeout"]
    assert [(r.call, r.seconds >= 0.3) for r in late] == [("send_offsets_to_transaction", True)]
    assert producer.committed_offsets() == [(P0, 1)]
