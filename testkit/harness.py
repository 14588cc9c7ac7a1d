"""Helpers for integration tests on the real broker: run the service in-process or as a process,
produce requests, and read back answers and committed offsets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from models_processor.config import Settings, load_settings
from models_processor.health_state import HealthState
from models_processor.kafka.topics import TOPIC_MAX_MESSAGE_BYTES
from models_processor.metrics import Metrics
from models_processor.pipeline.requests import RequestProcessor
from models_processor.pipeline.text import TextPipeline
from models_processor.service import Parts, run_service
from testkit.fakes.models import NoPhotoPipeline

REPO = Path(__file__).resolve().parents[1]


def service_env(bootstrap: str, request_topic: str, group: str, **extra: str) -> dict[str, str]:
    return {
        "BOOTSTRAP_SERVER": bootstrap,
        "LOCAL_MODEL_KAFKA_TOPIC": request_topic,
        "CONSUMER_GROUP": group,
        "PHOTO_RESPONSE_TOPIC": f"{request_topic}-photo",
        "TEXT_RESPONSE_TOPIC": f"{request_topic}-text",
        "DLQ_TOPIC": f"{request_topic}-dlq",
        **extra,
    }


def make_settings(bootstrap: str, request_topic: str, **extra: str) -> Settings:
    return load_settings(service_env(bootstrap, request_topic, f"g-{uuid.uuid4().hex[:8]}", **extra))


def create_output_topics(factory_admin_bootstrap: str, settings: Settings, partitions: int = 1) -> None:
    from confluent_kafka.admin import AdminClient

    from models_processor.kafka.topics import ensure_topics

    admin = AdminClient({"bootstrap.servers": factory_admin_bootstrap})
    ensure_topics(admin, [settings.photo_response_topic, settings.text_response_topic, settings.dlq_topic],
                  partitions=partitions)


class InProcessService:
    """The service's own wiring (service.Parts + service.run_service) on a thread, with the given model and
    photo doubles: the real dispatcher, request processor and HTTP server (on a free port)."""

    def __init__(self, settings: Settings, text_model, photo=None, probes=(), metrics: Metrics | None = None,
                 kafka_env: dict[str, str] | None = None) -> None:
        self.settings = settings if settings.port == 0 else settings.model_copy(update={"port": 0})
        self.kafka_env = kafka_env or {}  # KAFKA_<PROPERTY> passthrough, as the service reads from its env
        self.metrics = metrics or Metrics()
        self.health = HealthState(stall_seconds=settings.health_stall_seconds, probes=probes)
        text = TextPipeline(text_model, max_prompt_chars=settings.max_prompt_chars)
        self.processor = RequestProcessor(settings, text, photo or NoPhotoPipeline(), self.metrics)
        self.parts = Parts(self.processor, self.health, self.metrics,
                           model_name=getattr(text_model, "model_name", "stand-in"))
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            run_service(self.settings, self.parts, install_signals=False, stop=self.stop, environ=self.kafka_env)
        except BaseException as exc:  # surfaced by the test through .error
            self.error = exc
            raise

    def __enter__(self) -> InProcessService:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._thread.join(self.settings.shutdown_grace_seconds + 30)
        assert not self._thread.is_alive(), "dispatcher did not stop"

    def metric(self, name: str, **labels) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    def wait_joined(self, timeout: float = 30.0) -> None:
        until = time.monotonic() + timeout
        while "consumer has not joined its group yet" in self.health.not_ready_reasons():
            assert self.error is None, self.error
            assert time.monotonic() < until, "consumer never joined its group"
            time.sleep(0.05)


def produce(bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes | None]],
            partition: int | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "message.max.bytes": TOPIC_MAX_MESSAGE_BYTES, "linger.ms": 5})
    for key, value in items:
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, key=key, value=value, **kwargs)
    assert producer.flush(30) == 0


def text_request(prompt: str, email: str = "user@example.com", **extra) -> bytes:
    return json.dumps({"user_email": email, "prompt": prompt, **extra}).encode()


class ResponseReader:
    """Reads whole topics from the beginning (read_committed unless told otherwise)."""

    def __init__(self, bootstrap: str, topics: list[str], isolation: str = "read_committed") -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                   "isolation.level": isolation})
        self._consumer.subscribe(topics)
        self.messages: list = []

    def read_until(self, predicate, timeout: float = 30.0) -> list:
        until = time.monotonic() + timeout
        while time.monotonic() < until and not predicate(self.messages):
            for message in self._consumer.consume(100, 0.2):
                if message.error() is None:
                    self.messages.append(message)
        return self.messages

    def drain(self, quiet_s: float = 2.0, timeout: float = 60.0) -> list:
        """Read until nothing new arrives for quiet_s."""
        until = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() < until and time.monotonic() - last < quiet_s:
            batch = self._consumer.consume(100, 0.2)
            if batch:
                last = time.monotonic()
                self.messages.extend(m for m in batch if m.error() is None)
        return self.messages

    def by_key(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = defaultdict(list)
        for message in self.messages:
            out[(message.key() or b"").decode()].append(json.loads(message.value()) if message.value() else None)
        return out

    def close(self) -> None:
        self._consumer.close()


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        result = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in result}
    finally:
        consumer.close()


def wait_for(predicate, timeout: float, message: str, interval: float = 0.05) -> None:
    until = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > until:
            raise AssertionError(message)
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessorProcess:
    """`python -m models_processor run` as a child process (for kill -9 and SIGTERM)."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # BOOTSTRAP_SERVER in env is the one to use
        self.port = int(env.get("PORT") or 0) or free_port()
        self.env["PORT"] = str(self.port)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> ProcessorProcess:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen([sys.executable, "-m", "models_processor", "run"], cwd=REPO,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(30)
