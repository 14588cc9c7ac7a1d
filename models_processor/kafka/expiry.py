"""A request's age when read: answered `expired` past MAX_REQUEST_AGE_SECONDS, and its deadline capped so it
is never answered after it would have expired.

After an outage the backlog can be hours old; its requesters have long given up, and processing it would
keep the model busy while fresh requests wait. The age comes from the record timestamp (the producer's
CreateTime, or the broker's LogAppendTime), which is only trusted when it is sane: a timestamp in the
future (a producer's clock ahead of ours) counts as age 0 rather than extending the budget, and a missing
timestamp means the age is unknown and only REQUEST_DEADLINE_SECONDS applies. See docs/contracts.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError
from ..logs import request_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """What intake decided for one record: its deadline, and the error to answer at once when expired."""

    deadline: Deadline
    age_s: float | None  # None: the record has no timestamp
    expired: ProcessingError | None = None


def admit(timestamp: tuple[int, int], *, request_deadline_s: float, max_age_s: float, request_id: str = "-",
          wall_clock: Callable[[], float] = time.time) -> Admission:
    """`timestamp` is confluent-kafka's Message.timestamp(): (type, milliseconds since the epoch)."""
    timestamp_type, timestamp_ms = timestamp
    if timestamp_type == TIMESTAMP_NOT_AVAILABLE or timestamp_ms <= 0:
        return Admission(Deadline.after(request_deadline_s), None)
    age_s = max(0.0, wall_clock() - timestamp_ms / 1000)
    if max_age_s <= 0:
        return Admission(Deadline.after(request_deadline_s), age_s)
    if age_s > max_age_s:
        error = ProcessingError(ErrorCode.EXPIRED, f"request read {age_s:.0f} s after it was produced, above "
                                f"MAX_REQUEST_AGE_SECONDS={max_age_s:g}; not processed", retryable=True)
        with request_context(request_id):
            log.warning("request expired before it was read; answering expired",
                        extra={"age_s": round(age_s, 1), "max_age_s": max_age_s})
        return Admission(Deadline.after(0.0), age_s, error)
    # The budget runs from the record timestamp for the age limit: a request read close to its maximum
    # age gets only what is left of it, not a whole REQUEST_DEADLINE_SECONDS on top.
    return Admission(Deadline.after(min(request_deadline_s, max_age_s - age_s)), age_s)
