"""`dlq replay`: send DLQ entries back to the request topic, unchanged (key, value and the request's own
headers), with `x-replay-count` raised by one, at a bounded rate.

A replayed request is a new record, so the processor treats it as new: it is answered again (the requester
sees a second answer with the same request id if the first one was an error) and, if it fails again, it
lands in the DLQ again with its replay count, which `dlq stats` shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from .entries import REPLAY_COUNT_HEADER, DlqEntry, Headers


class ReplayProducer(Protocol):
    """The parts of confluent_kafka.Producer used here."""

    def produce(self, topic: str, value: str | bytes | None = None, key: str | bytes | None = None,
                partition: int = -1, callback: Any = None, on_delivery: Any = None, timestamp: int = 0,
                headers: Any = None) -> None: ...
    def poll(self, timeout: float = -1) -> int: ...
    def flush(self, timeout: float = -1) -> int: ...


class ReplayFilter(BaseModel):
    """Which entries to replay; every given criterion must match. Times are the DLQ record's timestamp."""

    codes: frozenset[str] = frozenset()
    request_ids: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, entry: DlqEntry) -> bool:
        if self.codes and entry.error_code not in self.codes:
            return False
        if self.request_ids and entry.request_id not in self.request_ids:
            return False
        at_s = entry.timestamp_ms / 1000
        if self.since is not None and at_s < self.since.timestamp():
            return False
        return self.until is None or at_s < self.until.timestamp()


class ReplayReport(BaseModel):
    topic: str
    dry_run: bool
    matched: int = 0
    replayed: int = 0
    restored_from_source: int = 0  # DLQ copies without a value, replayed from the original record
    skipped_value_dropped: int = 0  # no value in the DLQ copy, and the original is gone (or a dry run)
    failed: int = 0
    by_code: dict[str, int] = {}
    request_ids: list[str] = []  # the matched ones, in DLQ order (the first 1000)
    errors: list[str] = []


def replay_headers(entry: DlqEntry) -> Headers:
    own = [(k, v) for k, v in entry.request_headers if k != REPLAY_COUNT_HEADER]
    return [*own, (REPLAY_COUNT_HEADER, str(entry.replay_count + 1).encode())]


class Pacer:
    """At most `rate` sends per second (0: no limit), without drifting over a long replay."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        pause = self._next - self._clock()
        if pause > 0:
            self._sleep(pause)
        self._next = max(self._next, self._clock() - self._interval) + self._interval


def replay(entries: Iterable[DlqEntry], selection: ReplayFilter, *, topic: str, producer: ReplayProducer | None,
           rate: float, limit: int | None = None, flush_timeout_s: float = 60.0,
           originals: Callable[[DlqEntry], bytes | None] | None = None) -> ReplayReport:
    """Replay the matching entries to `topic`; `producer=None` is a dry run that only reports them.
    `originals` reads the original request of a copy sent without its value (dlq/originals.py)."""
    report = ReplayReport(topic=topic, dry_run=producer is None)
    pacer = Pacer(rate)

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            report.failed += 1
            report.replayed -= 1
            if len(report.errors) < 20:
                report.errors.append(str(err))

    for entry in _selected(entries, selection, limit):
        report.matched += 1
        report.by_code[entry.error_code] = report.by_code.get(entry.error_code, 0) + 1
        if len(report.request_ids) < 1000:
            report.request_ids.append(entry.request_id)
        if producer is None:
            report.skipped_value_dropped += entry.value is None
            continue
        if entry.value is None:
            value = originals(entry) if originals is not None and entry.value_dropped else None
            if value is None:
                report.skipped_value_dropped += 1
                continue
            entry = entry.model_copy(update={"value": value})
            report.restored_from_source += 1
        pacer.wait()
        _produce(producer, topic, entry, on_delivery)
        report.replayed += 1
    if producer is not None:
        left = producer.flush(flush_timeout_s)
        if left:
            report.errors.append(f"{left} replayed records not acknowledged within {flush_timeout_s:g} s")
            report.failed += left
            report.replayed -= left
    return report


def _selected(entries: Iterable[DlqEntry], selection: ReplayFilter, limit: int | None) -> Iterator[DlqEntry]:
    taken = 0
    for entry in entries:
        if limit is not None and taken >= limit:
            return
        if selection.matches(entry):
            taken += 1
            yield entry


def _produce(producer: ReplayProducer, topic: str, entry: DlqEntry, on_delivery: Callable[[Any, Any], None]) -> None:
    while True:
        try:
            producer.produce(topic, value=entry.value, key=entry.key, headers=replay_headers(entry),
                             on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:  # the local queue is full: serve delivery reports to make room
            producer.poll(0.1)
