"""The model clients' retry loop (models_processor/llm/retries.py): what the caller learns when the deadline
ends the retries."""

from __future__ import annotations

import time

import pytest

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.base import Generation, ModelCallError
from models_processor.llm.retries import MIN_ATTEMPT_S, RetryPolicy


def busy() -> ModelCallError:
    return ModelCallError(ErrorCode.MODEL_UNAVAILABLE, "server busy (503)", transient=True, status=503)


def test_a_backoff_that_wakes_up_at_the_deadline_reports_what_kept_failing():
    """A busy machine wakes the sleeping retry with a few milliseconds left: no attempt is made with them,
    and the caller gets the 503 that kept failing, not a deadline error the late wake-up produced."""
    deadline = Deadline.after(1.0)
    attempts: list[float] = []

    def attempt() -> Generation:
        attempts.append(deadline.remaining())
        if deadline.remaining() < MIN_ATTEMPT_S:  # the client's own check: no time left for the call
            raise ModelCallError(ErrorCode.DEADLINE_EXCEEDED, "deadline passed before the call", transient=False)
        raise busy()

    def late_wake_up(_state) -> None:
        time.sleep(max(0.0, deadline.remaining() - 0.02))

    policy = RetryPolicy(max_attempts=10, backoff_initial=0.005, backoff_max=0.005)
    with pytest.raises(ModelCallError) as info:
        policy.run(attempt, deadline, late_wake_up)
    assert info.value.code is ErrorCode.MODEL_UNAVAILABLE and info.value.transient and info.value.status == 503
    assert len(attempts) == 1 and deadline.remaining() < MIN_ATTEMPT_S


def test_retries_go_on_while_the_deadline_leaves_time_and_count_the_attempts():
    deadline = Deadline.after(5.0)
    failures = [busy(), busy()]

    def attempt() -> Generation:
        if failures:
            raise failures.pop()
        return Generation(text="ok", model="m")

    outcome = RetryPolicy(max_attempts=5, backoff_initial=0.01, backoff_max=0.02).run(attempt, deadline,
                                                                                        lambda _s: None)
    assert outcome.text == "ok" and outcome.attempts == 3
