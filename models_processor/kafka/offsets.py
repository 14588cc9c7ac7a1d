"""Per-partition completion tracking: only the contiguous done prefix of a partition is ever committed.

Work completes out of order (a fast text request overtakes a slow photo). librdkafka commits whatever
offset is stored, so storing a later offset early would silently skip an unfinished request. The tracker
keeps, per partition, the offsets handed out and the ones done, and reports the committable position
(lowest unfinished offset, or last done + 1) only when it advances. It also knows how many offsets and
bytes are unfinished (the work in hand) apart from those held (finished, waiting behind an unfinished one:
the commit window), and how long the oldest unfinished offset of each partition has waited (a stuck
partition).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TopicPartition = tuple[str, int]


@dataclass
class _Entry:
    read_at: float
    size: int
    done: bool = False
    payload: Any = None


@dataclass
class _PartitionState:
    entries: dict[int, _Entry] = field(default_factory=dict)  # offset -> entry, until released
    committed: int | None = None  # next offset to consume, as last reported


class OffsetTracker:
    """Not thread-safe by design: only the dispatcher (consumer) thread touches it."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _PartitionState] = {}
        self._unfinished = 0  # offsets handed out and not done
        self._unfinished_bytes = 0

    def track(self, tp: TopicPartition, offset: int, size: int = 0, read_at: float | None = None) -> None:
        state = self._partitions.setdefault(tp, _PartitionState())
        earlier = state.entries.get(offset)
        if earlier is not None and not earlier.done:  # read again (a rewind): counted once
            self._unfinished -= 1
            self._unfinished_bytes -= earlier.size
        state.entries[offset] = _Entry(time.monotonic() if read_at is None else read_at, size)
        self._unfinished += 1
        self._unfinished_bytes += size

    def complete(self, tp: TopicPartition, offset: int, payload: Any = True) -> list[tuple[int, Any]]:
        """Mark `offset` done. Returns the (offset, payload) pairs that became part of the contiguous done
        prefix by this call, in offset order (empty when an earlier offset is still unfinished, or when the
        partition is no longer tracked, e.g. after a revoke)."""
        state = self._partitions.get(tp)
        entry = state.entries.get(offset) if state else None
        if state is None or entry is None or entry.done:
            return []
        entry.done, entry.payload = True, payload
        self._unfinished -= 1
        self._unfinished_bytes -= entry.size
        out: list[tuple[int, Any]] = []
        for o in sorted(state.entries):
            if not state.entries[o].done:
                break
            out.append((o, state.entries.pop(o).payload))
        if out:
            state.committed = out[-1][0] + 1
        return out

    def committable(self, tp: TopicPartition) -> int | None:
        state = self._partitions.get(tp)
        return state.committed if state else None

    def in_flight(self, tp: TopicPartition | None = None) -> int:
        """Offsets handed out and not yet released (unfinished, or done behind an unfinished one): the
        commit window, what a crash would make the next owner read again."""
        if tp is not None:
            state = self._partitions.get(tp)
            return 0 if state is None else len(state.entries)
        return sum(len(s.entries) for s in self._partitions.values())

    def unfinished(self) -> int:
        """Offsets handed out and not done: the work in hand."""
        return self._unfinished

    def unfinished_bytes(self) -> int:
        return self._unfinished_bytes

    def oldest_unfinished_ages(self, now: float | None = None) -> dict[TopicPartition, float]:
        """Seconds since the lowest unfinished offset of each tracked partition was read (0 when none)."""
        now = time.monotonic() if now is None else now
        ages: dict[TopicPartition, float] = {}
        for tp, state in self._partitions.items():
            unfinished = [e.read_at for e in state.entries.values() if not e.done]
            ages[tp] = now - min(unfinished) if unfinished else 0.0
        return ages

    def forget(self, tp: TopicPartition) -> int:
        """Drop a partition (revoked or lost). Returns how many unfinished offsets were abandoned; their
        results are discarded when they complete, and the partition's next owner processes them again."""
        state = self._partitions.pop(tp, None)
        if state is None:
            return 0
        unfinished = [e for e in state.entries.values() if not e.done]
        self._unfinished -= len(unfinished)
        self._unfinished_bytes -= sum(e.size for e in unfinished)
        return len(state.entries)
