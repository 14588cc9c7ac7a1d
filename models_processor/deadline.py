"""A per-request deadline on the monotonic clock, passed down to every stage that may wait."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import ErrorCode, ProcessingError


@dataclass(frozen=True)
class Deadline:
    expires_at: float  # time.monotonic() value
    started_at: float = field(default_factory=time.monotonic)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        now = time.monotonic()
        return cls(expires_at=now + seconds, started_at=now)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.expires_at

    def check(self, stage: str) -> None:
        """Raise deadline_exceeded if the request has no time left before `stage` starts."""
        if self.expired():
            raise ProcessingError(ErrorCode.DEADLINE_EXCEEDED, f"request deadline passed before {stage}")
