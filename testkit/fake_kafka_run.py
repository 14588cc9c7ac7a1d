"""Drive the real Dispatcher (real RequestProcessor and TextPipeline) against the fake Kafka clients of
testkit.fakes.kafka_clients: for unit tests of the Kafka core and bench/dispatcher_loop.py."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from models_processor.config import Settings, load_settings
from models_processor.deadline import Deadline
from models_processor.health_state import HealthState
from models_processor.kafka.dispatcher import Dispatcher
from models_processor.llm.base import Generation
from models_processor.metrics import Metrics
from models_processor.pipeline.requests import RequestProcessor
from models_processor.pipeline.text import TextPipeline
from testkit.fakes.kafka_clients import FakeConsumer, FakeProducer
from testkit.fakes.models import NoPhotoPipeline

TOPIC = "requests"
P0 = (TOPIC, 0)
P1 = (TOPIC, 1)


def settings(**extra: str) -> Settings:
    env = {"LOCAL_MODEL_KAFKA_TOPIC": TOPIC, "TEXT_RESPONSE_TOPIC": "answers", "DLQ_TOPIC": "dlq",
           "PHOTO_RESPONSE_TOPIC": "photo-answers", "CONSUMER_GROUP": "unit", "CONCURRENT_REQUESTS": "2",
           "SHUTDOWN_GRACE_SECONDS": "1", "REVOKE_DRAIN_SECONDS": "0.2", "STATE_DIR": tempfile.mkdtemp()}
    env.update(extra)
    return load_settings(env)


def text_request(prompt: str, **fields: Any) -> bytes:
    return json.dumps({"user_email": "a@b.c", "prompt": prompt, **fields}).encode()


class GatedTextModel:
    """Echoes the prompt. "wait:" prompts wait for `release` (within their deadline); "hang:" prompts wait
    for `unhang` ignoring their deadline, like a call stuck in a socket read without a timeout."""

    model_name = "gated"

    def __init__(self, latency_s: float = 0.01) -> None:
        self.latency_s = latency_s  # long enough for concurrent calls to overlap
        self.release = threading.Event()
        self.unhang = threading.Event()
        self._lock = threading.Lock()
        self.started: list[str] = []
        self.finished: list[str] = []
        self._active: set[str] = set()
        self.overlaps: list[frozenset[str]] = []  # the calls running as each call started

    def max_active_during(self, prompts: list[str]) -> int:
        """The most calls that ran at once while any of `prompts` ran."""
        with self._lock:
            return max((len(o) for o in self.overlaps if o & set(prompts)), default=0)

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation:
        with self._lock:
            self.started.append(prompt)
            self._active.add(prompt)
            self.overlaps.append(frozenset(self._active))
        if prompt.startswith("wait:"):
            self.release.wait(deadline.remaining())
        if prompt.startswith("hang:"):
            self.unhang.wait(60)
        if self.latency_s:
            time.sleep(self.latency_s)
        with self._lock:
            self._active.discard(prompt)
            self.finished.append(prompt)
        return Generation(text=f"echo: {prompt}", model=self.model_name, eval_count=1)


class Running:
    """The dispatcher's run() on a thread; `error` holds whatever escaped it."""

    def __init__(self, settings: Settings, *, producer: FakeProducer | None = None,
                 consumer: FakeConsumer | None = None, model: GatedTextModel | None = None,
                 **dispatcher_kwargs: Any) -> None:
        self.settings = settings
        self.consumer = consumer or FakeConsumer()
        transactional = settings.processing_guarantee.value == "exactly_once"
        self.producer = producer or FakeProducer(transactional=transactional,
                                                 message_max_bytes=settings.max_message_bytes + 1024 * 1024)
        self.model = model or GatedTextModel()
        self.metrics = Metrics()
        self.health = HealthState(stall_seconds=settings.health_stall_seconds)
        text = TextPipeline(self.model, max_prompt_chars=settings.max_prompt_chars)
        processor = RequestProcessor(settings, text, NoPhotoPipeline(), self.metrics)
        self.dispatcher = Dispatcher(settings, processor, self.consumer, self.producer, self.metrics, self.health,
                                     **dispatcher_kwargs)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.dispatcher.run(self.stop)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Running:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.model.release.set()
        self.model.unhang.set()
        self.stop.set()
        self._thread.join(15)
        if exc[0] is None and self._thread.is_alive():
            raise AssertionError("the dispatcher did not stop within 15 s of being told to")

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition",
                 *, error_expected: bool = False) -> None:
        until = time.monotonic() + timeout
        while not condition():
            assert self.error is None or error_expected, f"dispatcher raised {self.error!r} waiting for {what}"
            assert time.monotonic() < until, f"timed out waiting for {what}"
            time.sleep(0.01)

    def answers(self, topic: str = "answers") -> list[dict[str, Any]]:
        return [json.loads(m.value() or b"{}") for m in self.producer.records(topic)]


def header(message: Any, name: str) -> bytes | None:
    for key, value in message.headers() or []:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None
