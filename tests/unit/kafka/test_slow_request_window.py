"""A slow request must not hold the others (docs/guarantees.md, "A slow request does not hold the others").

The commit point of a partition stays at its lowest unfinished offset, so requests that finish behind a
slow one cannot be committed yet. They used to count against the in-flight limit (2 x the workers) as if
they were still work in hand: once a few had finished behind a slow request, reading stopped and every
worker and model slot sat idle until the slow one ended. Found through the peers benchmark, where a model
call delayed 1 s (a lost SYN) stopped a 16-worker service for 0.75 s (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import pytest

from testkit.fake_kafka_run import P0, P1, Running, settings, text_request

FAST = 40


def fast_answers(run: Running) -> int:
    return sum(1 for prompt in run.model.finished if prompt.startswith("fast"))


def committed(run: Running, tp: tuple[str, int]) -> int | None:
    """The partition's commit point: stored offsets (at-least-once) or those sent in transactions."""
    if run.settings.processing_guarantee.value == "at_least_once":
        return run.consumer.stored.get(tp)
    return max((offset for p, offset in run.producer.committed_offsets() if p == tp), default=None)


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_requests_behind_a_slow_one_keep_being_processed(guarantee: str) -> None:
    # 2 workers: 4 requests in hand at most; the slow one holds one worker throughout.
    with Running(settings(CONCURRENT_REQUESTS="2", PROCESSING_GUARANTEE=guarantee,
                          TRANSACTIONAL_ID="unit-tx")) as run:
        run.consumer.schedule("assign", [P0, P1])
        run.consumer.append(P0, text_request("wait:slow"), key=b"slow")
        for i in range(FAST):
            run.consumer.append(P0 if i % 2 else P1, text_request(f"fast {i}"), key=f"f{i}".encode())
        run.wait_for(lambda: fast_answers(run) == FAST, timeout=10, what="every fast request processed")
        assert "wait:slow" not in run.model.finished  # the path under test: all of it behind the slow one
        # Nothing of P0 is committed past the slow request; the window gauge shows what it holds.
        assert committed(run, P0) is None
        run.wait_for(lambda: committed(run, P1) == FAST // 2, timeout=5, what="P1 committed to its end")
        assert run.dispatcher._load().window == FAST // 2 + 1  # P0: the slow request and those behind it
        run.model.release.set()
        run.wait_for(lambda: committed(run, P0) == FAST // 2 + 1, timeout=10, what="P0 committed to its end")


def test_the_commit_window_is_bounded_and_reading_resumes_when_the_slow_request_ends() -> None:
    with Running(settings(CONCURRENT_REQUESTS="2", MAX_UNCOMMITTED_RECORDS="10")) as run:
        run.consumer.schedule("assign", [P0])
        run.consumer.append(P0, text_request("wait:slow"), key=b"slow")
        for i in range(FAST):
            run.consumer.append(P0, text_request(f"fast {i}"), key=f"f{i}".encode())
        run.wait_for(lambda: fast_answers(run) == 9, timeout=10, what="the window filled")
        run.wait_for(lambda: run.metric("models_processor_paused_partitions") == 1, timeout=5,
                     what="the partition paused at the window")
        assert fast_answers(run) == 9  # 10 read: the slow one and 9 behind it
        assert run.metric("models_processor_uncommitted_requests") == 10
        run.model.release.set()
        run.wait_for(lambda: run.consumer.stored.get(P0) == FAST + 1, timeout=10, what="all committed")
        assert fast_answers(run) == FAST
