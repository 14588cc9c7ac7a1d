"""A counting semaphore that hands its permits out in arrival order, as Go's golang.org/x/sync/semaphore
.Weighted does (Ollama's per-model slots, llmServer.sem in llm/llama_server.go): a call waiting for a slot is
never overtaken by one that arrived later. threading.Semaphore makes no such promise.

Like Weighted.Release, a release hands the permit straight to the oldest waiter and wakes that one alone
(Go closes the waiter's `ready` channel). An earlier version woke every waiter with notify_all and let them
race for the lock to find the oldest; on two shared cores that took the freed slot about a millisecond to
reach its next call, an idle gap Go's scheduler does not have, counted against every client measured
through the stand-in (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class FifoSlots:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[threading.Event] = deque()  # oldest first; set() = the permit is handed over
        self._lock = threading.Lock()

    def acquire(self, still_wanted: Callable[[], None], poll_s: float) -> None:
        """Wait for a permit in turn; `still_wanted` runs every `poll_s` and raises to give up the place."""
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            granted = threading.Event()
            self._waiters.append(granted)
        try:
            while not granted.wait(poll_s):
                still_wanted()
        except BaseException:
            with self._lock:
                handed_over = granted.is_set()
                if not handed_over:
                    self._waiters.remove(granted)
            if handed_over:  # granted just as the caller gave up: pass the permit on (Weighted.Acquire)
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            self._free += 1
            while self._free > 0 and self._waiters:
                self._free -= 1
                self._waiters.popleft().set()

    @property
    def waiting(self) -> int:
        """Callers queued for a permit right now."""
        with self._lock:
            return len(self._waiters)
