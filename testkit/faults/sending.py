"""Producing the run's known request ids at a steady rate."""

from __future__ import annotations

import threading
import time

from confluent_kafka import KafkaError, Message, Producer

from testkit.harness import text_request


class Sender:
    """Produces the known ids, all at once (rate None) or `rate` per second, on a thread."""

    def __init__(self, bootstrap: str, topic: str, ids: list[str], rate: float | None) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5,
                                   "message.timeout.ms": 300_000, "log_level": 0})
        self._topic = topic
        self._ids = ids
        self._rate = rate
        self.acked: set[str] = set()
        self.failed: dict[str, str] = {}
        self.produced = 0
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sender", daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        key = (msg.key() or b"").decode()
        if err is None:
            self.acked.add(key)
        else:
            self.failed[key] = str(err)

    def _run(self) -> None:
        t0 = time.monotonic()
        for i, rid in enumerate(self._ids):
            if self._rate:
                pause = t0 + i / self._rate - time.monotonic()
                if pause > 0:  # not poll(pause): poll returns early whenever a delivery report is served
                    time.sleep(pause)
            while True:
                try:
                    self._producer.produce(self._topic, key=rid.encode(), value=text_request(f"question {rid}"),
                                           on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.1)
            self.produced += 1
            self._producer.poll(0)
        self._producer.flush(330)
        self.done.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
