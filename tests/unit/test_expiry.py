"""Intake by record age: `expired` past MAX_REQUEST_AGE_SECONDS, deadlines capped by what is left of it."""

from __future__ import annotations

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE

from models_processor.errors import DLQ_CODES, ErrorCode
from models_processor.kafka.expiry import admit

NOW = 1_800_000_000.0  # wall clock of the tests, seconds


def _admit(age_s: float, *, deadline_s: float = 240.0, max_age_s: float = 3600.0,
           kind: int = TIMESTAMP_CREATE_TIME):
    return admit((kind, int((NOW - age_s) * 1000)), request_deadline_s=deadline_s, max_age_s=max_age_s,
                 wall_clock=lambda: NOW)


def test_a_fresh_request_gets_the_whole_deadline():
    admission = _admit(2.0)
    assert admission.expired is None
    assert admission.age_s == pytest.approx(2.0)
    assert 239.0 < admission.deadline.remaining() <= 240.0


@pytest.mark.parametrize("kind", [TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME])
def test_a_request_older_than_the_limit_is_expired_not_processed(kind):
    admission = _admit(3 * 3600.0, kind=kind)
    assert admission.expired is not None
    assert admission.expired.code is ErrorCode.EXPIRED and admission.expired.retryable
    assert "MAX_REQUEST_AGE_SECONDS=3600" in admission.expired.message
    assert admission.deadline.expired()
    assert ErrorCode.EXPIRED in DLQ_CODES  # an operator can replay a backlog that expired during an outage


def test_the_deadline_is_capped_by_what_is_left_of_the_age_limit():
    # Read 3590 s after it was produced: 10 s left before it would have expired, not 240 s on top.
    admission = _admit(3590.0)
    assert admission.expired is None
    assert 9.0 < admission.deadline.remaining() <= 10.0


def test_a_timestamp_in_the_future_counts_as_age_zero():
    admission = _admit(-600.0)  # the producer's clock is 10 minutes ahead
    assert admission.expired is None and admission.age_s == 0.0
    assert 239.0 < admission.deadline.remaining() <= 240.0


def test_no_timestamp_means_only_the_request_deadline_applies():
    admission = admit((TIMESTAMP_NOT_AVAILABLE, -1), request_deadline_s=240.0, max_age_s=60.0,
                      wall_clock=lambda: NOW)
    assert admission.expired is None and admission.age_s is None
    assert admission.deadline.remaining() > 239.0


def test_zero_disables_the_age_limit():
    admission = _admit(10 * 86400.0, max_age_s=0.0)
    assert admission.expired is None
    assert admission.deadline.remaining() > 239.0
