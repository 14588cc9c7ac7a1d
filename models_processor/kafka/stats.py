"""librdkafka statistics (stats_cb) -> per-partition consumer lag in /metrics."""

from __future__ import annotations

import json
import logging

from ..metrics import Metrics

log = logging.getLogger(__name__)


class LagReporter:
    """Called on the consumer thread inside poll(); cheap: one JSON parse every statistics interval."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_stats(self, stats_json: str) -> None:
        try:
            stats = json.loads(stats_json)
        except ValueError:
            return
        for topic, tstats in (stats.get("topics") or {}).items():
            for pid, pstats in (tstats.get("partitions") or {}).items():
                if pid == "-1" or pstats.get("consumer_lag", -1) < 0:
                    continue  # -1: internal UA partition, or lag unknown (nothing committed yet)
                self._metrics.consumer_lag.labels(topic, pid).set(pstats["consumer_lag"])
