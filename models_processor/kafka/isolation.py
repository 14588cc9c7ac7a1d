"""Requests that were in flight when the process died run one at a time, alone.

Every request in flight at a crash is a suspect, but only one of them (usually) caused it. Counting the
crash against all of them would send innocent requests to the DLQ. Run alone, a suspect that crashes the
process again is the culprit, and only its count grows past MAX_ATTEMPTS (see attempts.py); innocent
suspects finish and clear their count. Requests read behind a suspect wait for it, keeping offset order
and the isolation simple; with no suspects (no crash) nothing is held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..pipeline.requests import Inbound
from .jobs import Job, JobState


class Isolation:
    def __init__(self, submit: Callable[[Job, Inbound], None], running: Callable[[], int]) -> None:
        self._submit = submit
        self._running = running  # how many jobs workers have now
        self._held: deque[tuple[Job, Inbound]] = deque()
        self._alone: Job | None = None

    def offer(self, job: Job, inbound: Inbound) -> None:
        """Hand the job to a worker now, or hold it (a suspect, or anything read behind one)."""
        if job.attempts > 1 or self._held:
            job.state = JobState.HELD
            self._held.append((job, inbound))
            self.release()
        else:
            self._submit(job, inbound)

    def release(self) -> None:
        """Submit what may run now: everything up to the next suspect, which runs once nothing else does."""
        while self._held:
            if self._alone is not None and self._alone.state is JobState.RUNNING:
                return
            self._alone = None
            job, inbound = self._held[0]
            if job.state is not JobState.HELD:
                self._held.popleft()  # its partition left us meanwhile
                continue
            if job.attempts > 1:
                if self._running() > 0:
                    return
                self._alone = job
            self._held.popleft()
            self._submit(job, inbound)

    def held(self) -> int:
        return len(self._held)
