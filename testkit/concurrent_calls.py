"""Model calls made at once from threads, as the service's workers make them: the answers and the errors."""

from __future__ import annotations

import threading
from collections.abc import Callable

from models_processor.llm.base import Generation, ModelCallError


def call_at_once(call: Callable[[int], Generation], count: int, *,
                 timeout_s: float) -> tuple[list[Generation], list[ModelCallError]]:
    """`call(i)` for i in range(count), each on its own thread, all started together; every thread must end
    within timeout_s."""
    results: list[Generation] = []
    errors: list[ModelCallError] = []

    def one(i: int) -> None:
        try:
            results.append(call(i))
        except ModelCallError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    assert not any(t.is_alive() for t in threads), f"a call still running after {timeout_s} s"
    return results, errors
