"""Test doubles of the model interfaces (models_processor.llm.base), for tests of the Kafka core.

They are scripted by the test; they never stand in for a model in the product.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.base import Generation, ModelCallError


class ScriptedTextModel:
    """Answers "echo: <prompt>" after `latency_s`. Prompts starting with "block:" wait for `release`;
    "fail:<code>" raises that error code. Records the peak of concurrent calls."""

    model_name = "scripted-text"

    def __init__(self, latency_s: float = 0.0, on_call: Callable[[str], None] | None = None) -> None:
        self.latency_s = latency_s
        self.release = threading.Event()
        self.on_call = on_call
        self.calls: list[str] = []
        self._lock = threading.Lock()
        self._active = 0
        self.max_active = 0

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation:
        with self._lock:
            self.calls.append(prompt)
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if self.on_call:
                self.on_call(prompt)
            if prompt.startswith("block:") and not self.release.wait(deadline.remaining()):
                raise ModelCallError(ErrorCode.DEADLINE_EXCEEDED, "deadline passed", transient=False)
            if prompt.startswith("fail:"):
                raise ModelCallError(ErrorCode(prompt.split(":", 1)[1]), "scripted failure", transient=False)
            if self.latency_s:
                time.sleep(self.latency_s)
            return Generation(text=f"echo: {prompt}", model=model or self.model_name, eval_count=3)
        finally:
            with self._lock:
                self._active -= 1


class NoPhotoPipeline:
    """For core tests that send text only: a photo request is answered with `internal`."""

    def run(self, request, *, request_id, deadline):
        from models_processor.errors import ProcessingError

        raise ProcessingError(ErrorCode.INTERNAL, "no photo pipeline in this test")
