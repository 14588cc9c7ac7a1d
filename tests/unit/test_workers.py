import threading
import time

from models_processor.workers import WorkerPool


def _wait(condition, timeout=5.0):
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until
        time.sleep(0.01)


def test_a_stuck_worker_is_replaced_within_the_bound_and_leaves_when_its_call_returns():
    pool = WorkerPool(1, max_replaced=1)
    unstick = threading.Event()
    ran: list[str] = []
    first, second = object(), object()
    pool.submit(lambda: (unstick.wait(10), ran.append("first")), token=first)
    _wait(lambda: pool.replace(first))  # true once the worker has picked the task up
    assert pool.abandoned() == 1
    second_running = threading.Event()
    pool.submit(lambda: (second_running.set(), unstick.wait(10), ran.append("second")), token=second)
    # Refused because of the bound, not because no worker has picked the task up yet.
    assert second_running.wait(5), "the replacement worker never ran the second task"
    assert pool.replace(second) is False  # the bound: one replaced worker at a time
    unstick.set()
    _wait(lambda: ran == ["first", "second"] or ran == ["second", "first"])
    _wait(lambda: pool.abandoned() == 0)
    done = threading.Event()
    pool.submit(done.set)
    assert done.wait(5), "the pool still runs tasks after the stuck worker left"
    pool.shutdown()


def test_replace_of_a_task_no_worker_runs_is_refused():
    pool = WorkerPool(1)
    assert pool.replace(object()) is False
    pool.shutdown()
