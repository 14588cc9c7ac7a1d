"""Reading a topic for a whole fault run, and the group's committed offsets at its end."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition


class TopicLog:
    """Reads one topic from the beginning on a thread for the whole run; keeps (arrival, key, value).

    Each (partition, offset) is kept once: a reader that loses its group session (a broker restart longer
    than session.timeout.ms) rejoins and reads the topic again from the beginning (it commits nothing),
    which counted every answer twice, read as duplicates under exactly-once. (Assigning the partitions
    instead of subscribing left the reader fetching nothing after a broker restart in 1 run of 5.)"""

    def __init__(self, bootstrap: str, topic: str, isolation: str = "read_committed") -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fault-reader-{uuid.uuid4().hex[:8]}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                   "isolation.level": isolation, "log_level": 0})
        self.assigned_at: float | None = None  # when the reader's group gave it the partitions
        self._consumer.subscribe([topic], on_assign=self._on_assign)
        self._seen: set[tuple[int | None, int | None]] = set()
        self._lock = threading.Lock()
        self.records: list[tuple[float, str, dict[str, Any] | None]] = []
        self.first: dict[str, float] = {}  # key -> arrival of its first record
        self.positions: dict[str, list[tuple[int, int]]] = {}  # key -> (partition, offset) of each record
        self.last_arrival = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{topic}", daemon=True)
        self._thread.start()

    def _on_assign(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        if self.assigned_at is None:
            self.assigned_at = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._consumer.consume(200, 0.2)
            now = time.monotonic()
            with self._lock:
                for message in batch:
                    position = (message.partition(), message.offset())
                    if message.error() is not None or position in self._seen:
                        continue
                    self._seen.add(position)
                    key = (message.key() or b"").decode()
                    self.positions.setdefault(key, []).append((message.partition() or 0, message.offset() or 0))
                    raw = message.value()
                    try:
                        value = json.loads(raw) if raw else None
                    except ValueError:
                        value = None
                    self.records.append((now, key, value))
                    self.first.setdefault(key, now)
                    self.last_arrival = now

    def count_keys(self, keys: set[str] | None = None) -> int:
        with self._lock:
            return len(self.first) if keys is None else sum(1 for k in keys if k in self.first)

    def first_arrival_after(self, t: float) -> float | None:
        with self._lock:
            return next((a for a, _, _ in self.records if a > t), None)

    def wait_keys(self, n: int, timeout: float, keys: set[str] | None = None) -> bool:
        until = time.monotonic() + timeout
        while self.count_keys(keys) < n:
            if time.monotonic() > until:
                return False
            time.sleep(0.05)
        return True

    def wait_quiet(self, quiet_s: float, timeout: float = 60.0) -> None:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self._lock:
                last = self.last_arrival
            # Quiet counts from the assignment: before it, nothing can have arrived.
            if self.assigned_at is not None and time.monotonic() - max(last, self.assigned_at) >= quiet_s:
                return
            time.sleep(0.1)

    def snapshot(self) -> list[tuple[float, str, dict[str, Any] | None]]:
        with self._lock:
            return list(self.records)

    def repeated(self) -> dict[str, list[tuple[int, int]]]:
        """Keys with more than one record, with where each record is (partition, offset)."""
        with self._lock:
            return {k: list(v) for k, v in self.positions.items() if len(v) > 1}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


def committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in result)
    finally:
        consumer.close()

