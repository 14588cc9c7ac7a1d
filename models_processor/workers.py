"""A fixed pool of daemon worker threads fed from a queue.

Daemon threads, unlike concurrent.futures' pool, never hold the process open at exit: a worker stuck in a
hung call past the shutdown grace must not keep a pod from terminating (its request is redelivered).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

log = logging.getLogger(__name__)

_STOP = object()


class WorkerPool:
    def __init__(self, size: int, name: str = "worker") -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, task: Callable[[], None]) -> None:
        self._tasks.put(task)

    def shutdown(self) -> None:
        """Ask every worker to stop after its current task; does not wait."""
        for _ in self._threads:
            self._tasks.put(_STOP)

    def alive(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is _STOP:
                return
            try:
                task()
            except Exception:  # tasks handle their own errors; this is a last line of defence
                log.exception("worker task raised")
