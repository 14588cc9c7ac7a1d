"""`dlq stats`: how many requests are in the DLQ, by error code and by how long ago they landed there."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from .entries import DlqEntry

# Age buckets, upper bounds in seconds; an operator asks "what failed in the last hour / day / week".
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 3600.0), ("1h-24h", 86400.0), ("1d-7d", 7 * 86400.0), (">7d", float("inf")),
)


def age_bucket(age_s: float) -> str:
    return next(name for name, bound in AGE_BUCKETS if age_s < bound)


class CodeStats(BaseModel):
    count: int = 0
    by_age: dict[str, int] = {}
    oldest_age_s: float = 0.0
    newest_age_s: float | None = None


class DlqStats(BaseModel):
    topic: str
    total: int = 0
    by_code: dict[str, CodeStats] = {}
    by_age: dict[str, int] = {}
    replayed_before: int = 0  # entries that were themselves a replay (x-replay-count >= 1)
    value_dropped: int = 0  # copies too large for the DLQ topic: the original is only at its source offset


def summarize(topic: str, entries: Iterable[DlqEntry], now_s: float) -> DlqStats:
    stats = DlqStats(topic=topic, by_age={name: 0 for name, _ in AGE_BUCKETS})
    for entry in entries:
        age = entry.age_s(now_s)
        bucket = age_bucket(age)
        code = stats.by_code.setdefault(entry.error_code, CodeStats(by_age={name: 0 for name, _ in AGE_BUCKETS}))
        code.count += 1
        code.by_age[bucket] += 1
        code.oldest_age_s = round(max(code.oldest_age_s, age), 1)
        code.newest_age_s = round(age if code.newest_age_s is None else min(code.newest_age_s, age), 1)
        stats.total += 1
        stats.by_age[bucket] += 1
        stats.replayed_before += entry.replay_count > 0
        stats.value_dropped += entry.value_dropped
    return stats
