"""Readiness of one Ollama server for /ready, and the start-up preparation (pull, warm-up).

Ready means: /api/tags answers within the health timeout and lists our model by the §4 name rules
(`LLaVA` finds `llava:latest`). The answer is cached ~2 s so frequent probes do not hammer Ollama.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

from ..deadline import Deadline
from ..metrics import Metrics
from .base import ModelCallError
from .client import OllamaClient
from .names import find_model

log = logging.getLogger(__name__)


class OllamaReadiness:
    """ModelServerProbe of one (server, model) pair."""

    def __init__(self, client: OllamaClient, model: str, role: str, metrics: Optional[Metrics], *,
                 health_timeout: Optional[float] = None, keep_alive: str | int = "30m",
                 cache_seconds: float = 2.0, warm_up_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.model = model
        self.role = role
        self.metrics = metrics
        self.health_timeout = health_timeout if health_timeout is not None else client.connect_timeout
        self.keep_alive = keep_alive
        self.cache_seconds = cache_seconds
        # A cold load of a 7B vision model takes seconds to minutes; a short client timeout aborts the load
        # (ollama-api.md §5 item 4), so the warm-up gets its own generous budget.
        self.warm_up_seconds = warm_up_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: Optional[tuple[float, list[str]]] = None  # (checked_at, reasons)

    def not_ready_reasons(self) -> list[str]:
        with self._lock:
            if self._cached is not None and self._clock() - self._cached[0] < self.cache_seconds:
                return list(self._cached[1])
        reasons = self._check()
        with self._lock:
            self._cached = (self._clock(), reasons)
        if self.metrics is not None:
            self.metrics.model_server_up.labels(role=self.role).set(0 if reasons else 1)
        return list(reasons)

    def _check(self) -> list[str]:
        try:
            names = self.client.tags(timeout=self.health_timeout)
        except ModelCallError as exc:
            return [f"{self.role} model server {self.client.base_url} not reachable: {exc.message}"]
        if find_model(self.model, names) is None:
            listed = ", ".join(names[:10]) or "none"
            return [f"{self.role} model '{self.model}' not present on {self.client.base_url} (models: {listed})"]
        return []

    def prepare(self, pull_on_start: bool, warm_up: bool) -> bool:
        """At service start: pull the model if missing (when asked), then warm it up. Failures are logged,
        not raised: /ready keeps reporting the reason while the service runs. Returns True when ready."""
        try:
            names = self.client.tags(timeout=self.health_timeout)
        except ModelCallError as exc:
            log.warning("%s model server not reachable at start: %s", self.role, exc.message)
            return False
        present = find_model(self.model, names) is not None
        if not present and pull_on_start:
            log.info("%s model %s missing on %s: pulling", self.role, self.model, self.client.base_url)
            try:
                self.client.pull(self.model)
                present = True
            except ModelCallError as exc:
                log.error("pulling %s failed: %s", self.model, exc.message)
        elif not present:
            log.warning("%s model %s missing on %s and OLLAMA_PULL_ON_START is off", self.role, self.model,
                        self.client.base_url)
        if present and warm_up:
            try:
                outcome = self.client.warm_up(self.model, self.keep_alive,
                                              deadline=Deadline.after(self.warm_up_seconds))
                log.info("%s model %s warmed up (load %.2fs)", self.role, self.model,
                         (outcome.load_duration_ns or 0) / 1e9)
            except ModelCallError as exc:
                log.warning("warm-up of %s failed: %s", self.model, exc.message)
        with self._lock:
            self._cached = None  # the next probe looks again
        return present
