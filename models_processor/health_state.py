"""What /health and /ready report, written by the dispatcher thread and read by the HTTP thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from .llm.base import ModelServerProbe


class HealthState:
    def __init__(self, *, stall_seconds: float, probes: Sequence[ModelServerProbe] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stall_seconds = stall_seconds
        self._probes = list(probes)
        self._clock = clock
        self._lock = threading.Lock()
        self._last_poll: float | None = None
        self._joined = False
        self._stopping = False
        self._no_progress = ""  # why the loop cannot make progress, when it cannot

    # --- written by the dispatcher ---
    def mark_poll(self) -> None:
        self._last_poll = self._clock()  # a single float store: atomic under the GIL

    def mark_joined(self, joined: bool) -> None:
        with self._lock:
            self._joined = joined

    def mark_progress(self, problem: str) -> None:
        """Empty when every partition is making progress; else what is stuck (a string store: atomic)."""
        self._no_progress = problem

    def mark_stopping(self) -> None:
        with self._lock:
            self._stopping = True

    # --- read by the HTTP thread ---
    def live(self) -> tuple[bool, str]:
        last = self._last_poll
        if last is None:
            return True, "starting"  # the loop has not begun; the startup probe covers this window
        age = self._clock() - last
        if age > self._stall_seconds:
            return False, f"poll loop stalled for {age:.0f}s"
        problem = self._no_progress
        if problem:
            return False, problem
        return True, "ok"

    def not_ready_reasons(self) -> list[str]:
        reasons = []
        with self._lock:
            if self._stopping:
                reasons.append("shutting down")
            if not self._joined:
                reasons.append("consumer has not joined its group yet")
        for probe in self._probes:
            reasons.extend(probe.not_ready_reasons())
        return reasons
