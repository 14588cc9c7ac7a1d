from models_processor.kafka.offsets import OffsetTracker

TP = ("requests", 0)


def test_out_of_order_completion_never_releases_past_an_unfinished_offset():
    tracker = OffsetTracker()
    for offset in (10, 11, 12, 13):
        tracker.track(TP, offset)
    assert tracker.complete(TP, 12, "c") == []
    assert tracker.complete(TP, 13, "d") == []
    assert tracker.committable(TP) is None
    assert tracker.complete(TP, 10, "a") == [(10, "a")]
    assert tracker.committable(TP) == 11
    # 11 finishing releases itself and the two already done behind it, in order
    assert tracker.complete(TP, 11, "b") == [(11, "b"), (12, "c"), (13, "d")]
    assert tracker.committable(TP) == 14
    assert tracker.in_flight() == 0


def test_in_flight_counts_done_offsets_held_behind_a_gap():
    tracker = OffsetTracker()
    tracker.track(TP, 0)
    tracker.track(TP, 1)
    tracker.complete(TP, 1)
    assert tracker.in_flight(TP) == 2


def test_forgotten_partition_ignores_late_completions():
    tracker = OffsetTracker()
    tracker.track(TP, 5)
    assert tracker.forget(TP) == 1
    assert tracker.complete(TP, 5) == []
    assert tracker.committable(TP) is None


def test_partitions_are_independent():
    tracker = OffsetTracker()
    other = ("requests", 1)
    tracker.track(TP, 0)
    tracker.track(other, 7)
    assert tracker.complete(other, 7) == [(7, True)]
    assert tracker.committable(other) == 8
    assert tracker.committable(TP) is None


def test_bytes_in_flight_follow_tracking_release_and_forget():
    tracker = OffsetTracker()
    tracker.track(TP, 0, size=100)
    tracker.track(TP, 1, size=50)
    tracker.track(("requests", 1), 0, size=7)
    assert tracker.in_flight_bytes() == 157
    tracker.complete(TP, 1)
    assert tracker.in_flight_bytes() == 157  # done behind an unfinished offset: still held
    tracker.complete(TP, 0)
    assert tracker.in_flight_bytes() == 7
    tracker.forget(("requests", 1))
    assert tracker.in_flight_bytes() == 0


def test_oldest_unfinished_age_ignores_done_offsets():
    tracker = OffsetTracker()
    tracker.track(TP, 0, read_at=100.0)
    tracker.track(TP, 1, read_at=105.0)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 10.0}
    tracker.complete(TP, 1)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 10.0}
    tracker.complete(TP, 0)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 0.0}
