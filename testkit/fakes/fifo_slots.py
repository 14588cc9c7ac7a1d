"""A counting semaphore that hands its permits out in arrival order, as Go's golang.org/x/sync/semaphore
.Weighted does (Ollama's per-model slots, llmServer.sem in llm/llama_server.go): a call waiting for a slot is
never overtaken by one that arrived later. threading.Semaphore makes no such promise, and the stand-in's
waiters re-enter it every poll (to notice a client that left), so a newcomer could take a freed slot first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class FifoSlots:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._queue: deque[object] = deque()  # one ticket per waiting caller, oldest first
        self._cond = threading.Condition()

    def acquire(self, still_wanted: Callable[[], None], poll_s: float) -> None:
        """Wait for a permit in turn; `still_wanted` runs every `poll_s` and raises to give up the place."""
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    if self._queue[0] is ticket and self._free > 0:
                        self._queue.popleft()
                        self._free -= 1
                        self._cond.notify_all()  # the next in line may have a permit too
                        return
                    self._cond.wait(poll_s)
                still_wanted()
        except BaseException:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                self._cond.notify_all()
            raise

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()
