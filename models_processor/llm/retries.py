"""Retries of one model call: exponential backoff with jitter (tenacity), only for transient failures, never
past the request's deadline. Shared by the model clients; see docs/ollama.md ("Responses and failures")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.stop import stop_base

from ..deadline import Deadline
from .base import Generation, ModelCallError

# Less time than this left after a backoff is no time for an attempt: no model server answers that fast.
MIN_ATTEMPT_S = 0.05


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the next backoff sleep would leave no time for an attempt before the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return bool(retry_state.upcoming_sleep + MIN_ATTEMPT_S >= self._deadline.remaining())


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff_initial: float
    backoff_max: float

    def run(self, attempt: Callable[[], Generation], deadline: Deadline,
            before_sleep: Callable[[RetryCallState], None]) -> Generation:
        """`attempt()` until it succeeds, fails for good, or the attempts or the deadline run out; the last
        ModelCallError is raised as it is. The answer's `attempts` counts the HTTP attempts made."""
        # Most calls succeed at once: the retry machinery is only built after a transient failure, which
        # then counts as tenacity's first attempt (same backoff, stop rules and logs as without the shortcut).
        try:
            return attempt()
        except ModelCallError as exc:
            if not exc.transient or self.max_attempts <= 1:
                raise
            first_failure: ModelCallError | None = exc
            last_failure: ModelCallError = exc
        attempts = 0

        def counted() -> Generation:
            nonlocal attempts, first_failure, last_failure
            if first_failure is not None:
                attempts += 1
                failure, first_failure = first_failure, None
                raise failure
            if deadline.remaining() < MIN_ATTEMPT_S:
                # The backoff slept too close to the deadline (a late wake-up on a busy machine): no attempt
                # is made, and the caller learns what kept failing, not a deadline error of its own making.
                raise last_failure
            attempts += 1
            try:
                return attempt()
            except ModelCallError as failed:
                last_failure = failed
                raise

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, ModelCallError) and e.transient),
            wait=wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max,
                                         jitter=self.backoff_initial),
            stop=stop_after_attempt(self.max_attempts) | _StopBeforeDeadline(deadline),
            before_sleep=before_sleep,
            reraise=True,  # the caller sees the last ModelCallError, not tenacity's RetryError
        )
        outcome = retrying(counted)
        return outcome if attempts == 1 else dataclasses.replace(outcome, attempts=attempts)
