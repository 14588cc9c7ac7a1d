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


def test_unfinished_work_is_counted_apart_from_the_commit_window():
    """A request done behind an unfinished one is no longer work in hand (its bytes are let go), but it
    stays in the commit window until the offsets before it are done."""
    tracker = OffsetTracker()
    tracker.track(TP, 0, size=100)
    tracker.track(TP, 1, size=50)
    tracker.track(("requests", 1), 0, size=7)
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (3, 157, 3)
    tracker.complete(TP, 1)
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (2, 107, 3)
    tracker.complete(TP, 1)  # a second report of the same offset changes nothing
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (2, 107, 3)
    tracker.complete(TP, 0)
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (1, 7, 1)
    tracker.forget(("requests", 1))
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (0, 0, 0)


def test_an_offset_read_again_is_counted_once():
    tracker = OffsetTracker()
    tracker.track(TP, 0, size=100)
    tracker.track(TP, 0, size=100)
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (1, 100, 1)
    assert tracker.complete(TP, 0) == [(0, True)]
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (0, 0, 0)


def test_forgetting_a_partition_drops_only_its_unfinished_work():
    tracker = OffsetTracker()
    tracker.track(TP, 0, size=100)
    tracker.track(TP, 1, size=50)
    tracker.complete(TP, 1)
    assert tracker.forget(TP) == 2  # both offsets are read again by the next owner
    assert (tracker.unfinished(), tracker.unfinished_bytes(), tracker.in_flight()) == (0, 0, 0)


def test_oldest_unfinished_age_ignores_done_offsets():
    tracker = OffsetTracker()
    tracker.track(TP, 0, read_at=100.0)
    tracker.track(TP, 1, read_at=105.0)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 10.0}
    tracker.complete(TP, 1)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 10.0}
    tracker.complete(TP, 0)
    assert tracker.oldest_unfinished_ages(now=110.0) == {TP: 0.0}
