"""Whether each partition makes progress: the age of its oldest unfinished request, to /metrics and /health.

A loop that polls but cannot finish anything (an answer Kafka keeps refusing, exactly-once commits that
keep failing, workers stuck) looks alive to a poll-age check alone. The age of each partition's oldest
unfinished offset (read and not done, or done and not committed) is exported as a gauge to alert on, and
/health fails past PROGRESS_STALL_SECONDS so the orchestrator restarts the pod.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..health_state import HealthState
from ..metrics import Metrics
from .backpressure import Load
from .checkpoint import Checkpoint
from .offsets import OffsetTracker

TP = tuple[str, int]

REPORT_EVERY_S = 1.0


class ProgressReport:
    def __init__(self, tracker: OffsetTracker, checkpoint: Checkpoint, metrics: Metrics, health: HealthState,
                 *, stall_limit_s: float) -> None:
        self._tracker = tracker
        self._checkpoint = checkpoint
        self._metrics = metrics
        self._health = health
        self._stall_limit_s = stall_limit_s
        self._last = 0.0

    def report(self, load: Callable[[], Load]) -> None:
        """At most once a second: ages per partition, /health, and the in-flight gauges (records and bytes
        in hand and the commit window, from `load`, asked only then)."""
        now = time.monotonic()
        if now - self._last < REPORT_EVERY_S:
            return
        self._last = now
        records, nbytes, window = load()
        ages = self._tracker.oldest_unfinished_ages(now)
        for tp, waiting in self._checkpoint.uncommitted_ages(now).items():  # exactly-once: done, not committed
            ages[tp] = max(ages.get(tp, 0.0), waiting)
        stuck = []
        for (topic, partition), age in ages.items():
            self._metrics.oldest_unfinished_age.labels(topic, str(partition)).set(age)
            if age > self._stall_limit_s:
                stuck.append(f"{topic}[{partition}] oldest unfinished request {age:.0f}s old")
        self._health.mark_progress("no progress: " + "; ".join(stuck) if stuck else "")
        self._metrics.in_flight.set(records)
        self._metrics.in_flight_bytes.set(nbytes)
        self._metrics.uncommitted_records.set(window)

    def forget(self, tp: TP) -> None:
        try:
            self._metrics.oldest_unfinished_age.remove(tp[0], str(tp[1]))
        except KeyError:
            pass
