"""Exit the process when a guarded blocking call outlives its limit.

For calls that nothing in the process can interrupt (librdkafka's transactional calls have been seen to
block past their own timeout): exiting lets the orchestrator restart a clean instance, which beats a poll
loop stuck for ever behind the call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


class HangWatchdog:
    def __init__(self, limit_s: float, *, exit_code: int) -> None:
        self._limit_s = limit_s
        self._exit_code = exit_code
        self._lock = threading.Lock()
        self._armed: tuple[str, float, float] | None = None  # (call, deadline, limit)
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def guard(self, call: str, limit_s: float | None = None) -> Iterator[None]:
        """Exit the process if the block outlives `limit_s` (the watchdog's own limit by default)."""
        limit = self._limit_s if limit_s is None else limit_s
        with self._lock:
            self._armed = (call, time.monotonic() + limit, limit)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="hang-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._armed = None

    def _watch(self) -> None:
        while True:
            time.sleep(1.0)
            with self._lock:
                armed = self._armed
            if armed is not None and time.monotonic() > armed[1]:
                log.critical("blocking call hung past its limit; exiting so that a restart recovers",
                             extra={"call": armed[0], "limit_s": armed[2]})
                for handler in logging.getLogger().handlers:
                    handler.flush()
                os._exit(self._exit_code)
