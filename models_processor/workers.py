"""A pool of daemon worker threads fed from a queue, which replaces workers stuck in a hung call.

Daemon threads, unlike concurrent.futures' pool, never hold the process open at exit: a worker stuck in a
hung call past the shutdown grace must not keep a pod from terminating (its request is redelivered).
A worker the dispatcher has given up on (answered on its behalf at the deadline) is replaced by a new
thread, at most `max_replaced` at a time, so that hung calls cannot starve the pool; the stuck thread
exits when (if ever) its call returns.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Task = Callable[[], None]


class WorkerPool:
    def __init__(self, size: int, name: str = "worker", *, max_replaced: int | None = None) -> None:
        self._name = name
        self._tasks: queue.SimpleQueue[tuple[object, Task] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[threading.Thread, object] = {}  # thread -> token of its current task
        self._retired: set[threading.Thread] = set()
        self._max_replaced = size if max_replaced is None else max_replaced
        self._started = 0
        self._threads: list[threading.Thread] = []
        for _ in range(size):
            self._start_thread()

    def submit(self, task: Task, token: object = None) -> None:
        self._tasks.put((token, task))

    def replace(self, token: object) -> bool:
        """Give up on the worker running the task of `token`: a new thread takes its place (bounded).
        Returns False when no worker runs it or the bound is reached."""
        with self._lock:
            stuck = next((t for t, tok in self._running.items() if tok is token and t not in self._retired), None)
            if stuck is None or len(self._retired) >= self._max_replaced:
                return False
            self._retired.add(stuck)
        log.error("worker stuck past its deadline; starting a replacement", extra={"worker": stuck.name})
        self._start_thread()
        return True

    def abandoned(self) -> int:
        with self._lock:
            return len(self._retired)

    def shutdown(self) -> None:
        """Ask every worker to stop after its current task; does not wait."""
        for _ in self._threads:
            self._tasks.put(None)

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name=f"{self._name}-{self._started}", daemon=True)
        self._started += 1
        self._threads.append(thread)
        thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            item = self._tasks.get()
            if item is None:
                return
            token, task = item
            with self._lock:
                self._running[me] = token
            try:
                task()
            except Exception:  # tasks handle their own errors; this is a last line of defence
                log.exception("worker task raised")
            with self._lock:
                del self._running[me]
                if me in self._retired:  # replaced while stuck: the replacement took its place
                    self._retired.discard(me)
                    self._threads.remove(me)
                    return
