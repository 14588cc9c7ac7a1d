"""Per-partition completion tracking: only the contiguous done prefix of a partition is ever committed.

Work completes out of order (a fast text request overtakes a slow photo). librdkafka commits whatever
offset is stored, so storing a later offset early would silently skip an unfinished request. The tracker
keeps, per partition, the offsets handed out and the ones done, and reports the committable position
(lowest unfinished offset, or last done + 1) only when it advances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Optional

TopicPartition = tuple[str, int]


@dataclass
class _PartitionState:
    # offset -> payload kept until the offset leaves the tracker (None until the work is done)
    pending: dict[int, Any] = field(default_factory=dict)
    done: dict[int, Any] = field(default_factory=dict)
    committed: Optional[int] = None  # next offset to consume, as last reported


class OffsetTracker:
    """Not thread-safe by design: only the dispatcher (consumer) thread touches it."""

    def __init__(self) -> None:
        self._partitions: dict[TopicPartition, _PartitionState] = {}

    def track(self, tp: TopicPartition, offset: int) -> None:
        state = self._partitions.setdefault(tp, _PartitionState())
        state.pending[offset] = None

    def is_tracked(self, tp: TopicPartition, offset: int) -> bool:
        state = self._partitions.get(tp)
        return state is not None and (offset in state.pending or offset in state.done)

    def complete(self, tp: TopicPartition, offset: int, payload: Any = True) -> list[tuple[int, Any]]:
        """Mark `offset` done. Returns the (offset, payload) pairs that became part of the contiguous done
        prefix by this call, in offset order (empty when an earlier offset is still unfinished, or when the
        partition is no longer tracked, e.g. after a revoke)."""
        state = self._partitions.get(tp)
        if state is None or offset not in state.pending:
            return []
        del state.pending[offset]
        state.done[offset] = payload
        floor = min(state.pending) if state.pending else None
        released = sorted(o for o in state.done if floor is None or o < floor)
        out = [(o, state.done.pop(o)) for o in released]
        if out:
            state.committed = out[-1][0] + 1
        return out

    def committable(self, tp: TopicPartition) -> Optional[int]:
        state = self._partitions.get(tp)
        return state.committed if state else None

    def in_flight(self, tp: Optional[TopicPartition] = None) -> int:
        """Offsets handed out and not yet released (pending, or done behind an unfinished one)."""
        if tp is not None:
            state = self._partitions.get(tp)
            return 0 if state is None else len(state.pending) + len(state.done)
        return sum(len(s.pending) + len(s.done) for s in self._partitions.values())

    def pending_offsets(self, tp: TopicPartition) -> list[int]:
        state = self._partitions.get(tp)
        return sorted(state.pending) if state else []

    def partitions(self) -> list[TopicPartition]:
        return list(self._partitions)

    def forget(self, tp: TopicPartition) -> int:
        """Drop a partition (revoked or lost). Returns how many unfinished offsets were abandoned; their
        results are discarded when they complete, and the partition's next owner processes them again."""
        state = self._partitions.pop(tp, None)
        return 0 if state is None else len(state.pending) + len(state.done)


def partition_key(tp: Hashable) -> str:
    topic, partition = tp  # type: ignore[misc]
    return f"{topic}[{partition}]"
