"""The stand-in's slot semaphore: arrival order, and a release that wakes the next waiter alone (as Go's
semaphore.Weighted hands a permit over), so a freed slot reaches its next call without a stampede."""

from __future__ import annotations

import threading
import time

import pytest

from testkit.fakes.fifo_slots import FifoSlots

LONG_POLL_S = 30.0  # waiters only come back early when something wakes them


class GaveUp(Exception):
    pass


def start_waiter(slots: FifoSlots, name: str, got: list[str], wakes: dict[str, int],
                 give_up: threading.Event | None = None) -> threading.Thread:
    def still_wanted() -> None:
        wakes[name] = wakes.get(name, 0) + 1
        if give_up is not None and give_up.is_set():
            raise GaveUp(name)

    def run() -> None:
        try:
            slots.acquire(still_wanted, LONG_POLL_S if give_up is None else 0.01)
        except GaveUp:
            got.append(f"{name} gave up")
            return
        got.append(name)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_until(condition, timeout_s: float = 5.0) -> None:
    until = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < until, "timed out"
        time.sleep(0.005)


def held_slot() -> tuple[FifoSlots, list[str], dict[str, int]]:
    """One slot, already taken; the lists the waiters report into (who got a permit, who was woken)."""
    slots = FifoSlots(1)
    slots.acquire(lambda: None, LONG_POLL_S)
    return slots, [], {}


def queue_up(slots: FifoSlots, names: list[str], got: list[str], wakes: dict[str, int]) -> list[threading.Thread]:
    threads = []
    for index, name in enumerate(names):
        threads.append(start_waiter(slots, name, got, wakes))
        wait_until(lambda queued=index + 1: slots.waiting == queued)  # queued in this order
    return threads


def test_permits_go_to_waiters_in_arrival_order() -> None:
    slots, got, wakes = held_slot()
    threads = queue_up(slots, ["a", "b", "c"], got, wakes)
    for count, expected in ((1, ["a"]), (2, ["a", "b"]), (3, ["a", "b", "c"])):
        slots.release()
        wait_until(lambda count=count: len(got) == count)
        assert got == expected
    for thread in threads:
        thread.join(5)


def test_a_release_wakes_the_next_waiter_alone() -> None:
    slots, got, wakes = held_slot()
    queue_up(slots, ["a", "b", "c", "d"], got, wakes)
    slots.release()
    wait_until(lambda: got == ["a"])
    time.sleep(0.1)
    # A waiter that is woken without its permit comes back to ask whether it is still wanted; the next in
    # line must not be (notify_all woke all four, and they raced for the lock to find the oldest).
    assert wakes == {}
    assert slots.waiting == 3


def test_a_newcomer_does_not_take_a_permit_handed_to_a_waiter() -> None:
    slots, got, wakes = held_slot()
    queue_up(slots, ["a"], got, wakes)
    slots.release()
    late = start_waiter(slots, "late", got, wakes)
    wait_until(lambda: "a" in got)
    time.sleep(0.05)
    assert got == ["a"]
    slots.release()
    late.join(5)
    assert got == ["a", "late"]


def test_a_waiter_that_gives_up_leaves_the_queue() -> None:
    slots, got, wakes = held_slot()
    give_up = threading.Event()
    quitter = start_waiter(slots, "quitter", got, wakes, give_up)
    wait_until(lambda: slots.waiting == 1)
    queue_up_after = start_waiter(slots, "next", got, wakes)
    wait_until(lambda: slots.waiting == 2)
    give_up.set()
    quitter.join(5)
    assert got == ["quitter gave up"]
    slots.release()
    queue_up_after.join(5)
    assert got == ["quitter gave up", "next"]


def test_a_permit_handed_over_as_the_waiter_gives_up_is_passed_on() -> None:
    slots = FifoSlots(1)
    slots.acquire(lambda: None, LONG_POLL_S)
    handed = threading.Event()

    def still_wanted() -> None:
        slots.release()  # the permit reaches this waiter while it decides to leave
        handed.set()
        raise GaveUp("leaving")

    with pytest.raises(GaveUp):
        slots.acquire(still_wanted, 0.01)
    assert handed.is_set()
    slots.acquire(lambda: pytest.fail("the permit was lost"), 0.01)  # free again: taken at once
