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
