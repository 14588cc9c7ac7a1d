"""Shared helpers of the Kafka benchmarks (bench/throughput.py, bench/ollama_slots.py).

- `LocalBroker`, `create_topics` (testkit.broker): the local broker (KAFKA_BOOTSTRAP_SERVERS when set, via
  `LocalBroker.from_env()`) and fresh topics; response topics use LogAppendTime, so an answer's timestamp
  is the moment the broker appended it.
- `Processor`: `python -m models_processor run` as a child process (testkit.harness's
  ProcessorProcess), waited on through GET /ready, with its peak RSS sampled by psutil.
- `produce_requests`: N text requests; each request's produce time is its CreateTime timestamp (set by
  the producing client at produce()).
- `AnswerCollector`: reads the response topic on a thread; per-request end-to-end latency = the answer's
  broker timestamp (LogAppendTime; receive time if the topic has no such timestamp) minus produce time.
- `naive` sub-command (`python -m bench.common naive ...`): the baseline the throughput benchmark compares
  against: poll one message, call the model through the product's OllamaTextModel, produce, flush,
  commit synchronously, repeat.

Every figure is printed as a ratio against a baseline measured in the same run: the machine is small
(2 cores) and shared, so absolute numbers drift between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import psutil
from confluent_kafka import Consumer, Producer, TopicPartition

from testkit.broker import REPO as ROOT
from testkit.broker import TOPIC_MAX_MESSAGE_BYTES, LocalBroker, create_topics
from testkit.fakes.quiet import quiet_standin_disconnects
from testkit.harness import ProcessorProcess, free_port, service_env

OUT_DIR = ROOT / "bench" / "out"
MODEL = "llava:7b"

# Re-exported for the benchmarks: the broker (KAFKA_BOOTSTRAP_SERVERS when set) and the quiet stand-in.
__all__ = ["LocalBroker", "create_topics", "quiet_standin_disconnects"]


@dataclass
class Topics:
    request: str
    text: str
    photo: str
    dlq: str
    group: str

    @classmethod
    def fresh(cls, bootstrap: str, label: str, partitions: int) -> Topics:
        base = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        env = service_env(bootstrap, base, f"{base}-g")
        topics = cls(request=base, text=env["TEXT_RESPONSE_TOPIC"], photo=env["PHOTO_RESPONSE_TOPIC"],
                     dlq=env["DLQ_TOPIC"], group=env["CONSUMER_GROUP"])
        create_topics(bootstrap, {topics.request: partitions, topics.text: 1, topics.photo: 1, topics.dlq: 1},
                      log_append_time=[topics.text, topics.photo, topics.dlq])
        return topics

    def env(self, bootstrap: str, **extra: str) -> dict[str, str]:
        return service_env(bootstrap, self.request, self.group, **extra)


# ---------------------------------------------------------------------------------------------- memory
class RssSampler:
    """Peak resident set size of one process (and its children), sampled every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self._proc.memory_info().rss
                for child in self._proc.children(recursive=True):
                    rss += child.memory_info().rss
            except psutil.Error:
                return
            self.peak_bytes = max(self.peak_bytes, rss)
            self._stop.wait(self._interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        return self.peak_bytes / 2**20


# ---------------------------------------------------------------------------------------------- processor
class Processor:
    """The service as a child process: started, waited on until /ready, RSS sampled, stopped by SIGTERM."""

    def __init__(self, env: dict[str, str], label: str, argv: list[str] | None = None) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = OUT_DIR / f"{label}.log"
        self.log_path.write_text("")
        env = {"PORT": str(free_port()), "LOG_LEVEL": "INFO", **env}
        self._proc = ProcessorProcess(env, self.log_path)
        self._argv = argv
        self.rss: RssSampler | None = None

    @property
    def pid(self) -> int:
        assert self._proc.proc is not None
        return self._proc.proc.pid

    def start(self, ready_timeout: float = 120.0) -> Processor:
        if self._argv is None:
            self._proc.start()
        else:  # an alternative entry point (investigations: the same service with one thing patched)
            with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                self._proc.proc = subprocess.Popen(self._argv, cwd=ROOT, env=self._proc.env, stdout=log,
                                                   stderr=subprocess.STDOUT)
        self.rss = RssSampler(self.pid).start()
        until = time.monotonic() + ready_timeout
        while True:
            if not self._proc.alive():
                raise RuntimeError(f"processor exited at start; see {self.log_path}:\n{self._proc.log_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self._proc.url("/ready"), timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > until:
                self._proc.stop()  # never leave a child service running behind a failed bench
                raise RuntimeError(f"processor not ready in {ready_timeout}s; see {self.log_path}")
            time.sleep(0.1)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self._proc.url("/metrics"), timeout=5) as resp:
            return resp.read().decode()

    def stop(self) -> float:
        """SIGTERM, wait; returns the peak RSS in MiB."""
        peak = self.rss.stop() if self.rss else 0.0
        if self._proc.alive():
            try:
                self._proc.terminate(60)
            except subprocess.TimeoutExpired:
                self._proc.stop()
        return peak


# ---------------------------------------------------------------------------------------------- requests
def text_request(prompt: str) -> bytes:
    return json.dumps({"user_email": "bench@example.com", "prompt": prompt}).encode()


def unique_prompts(n: int, tag: str) -> list[tuple[str, str]]:
    """(request id, prompt) pairs; prompts are unique so the result cache never serves a repeat."""
    run = uuid.uuid4().hex[:6]
    return [(f"{tag}-{run}-{i}", f"[{run}-{i}] Suggest a dinner with lentils") for i in range(n)]


class ProducerReadiness:
    """Whether an idempotent producer holds its producer id, from librdkafka's statistics (`eos.idemp_state`).

    Its first batch waits for the id, and when the broker connection is not up at the first try the request
    is retried on a 500 ms timer: measured here, the id came 0.07 s after the start when the topic's metadata
    was fetched first, but now and then 0.5 s or 1 s after it."""

    CONFIG: ClassVar[dict[str, int]] = {"statistics.interval.ms": 20}

    def __init__(self) -> None:
        self.assigned = threading.Event()

    def on_stats(self, stats_json: str) -> None:
        # The callback keeps firing during the burst, in the bench's process: parsed only until assigned.
        if not self.assigned.is_set() and json.loads(stats_json).get("eos", {}).get("idemp_state") == "Assigned":
            self.assigned.set()

    def wait(self, producer: Producer, topic: str, timeout_s: float = 30.0) -> None:
        """Connected, the topic's leaders known and the producer id assigned, before the first request's
        timestamp is taken: a request's CreateTime is set when produce() is called and the figures count from
        the first one, so a slow start used to be counted in every job's window (0.5 s in 1600-request bursts
        of about 10 s)."""
        metadata = producer.list_topics(topic, timeout=timeout_s)
        if metadata.topics[topic].error is not None:
            raise RuntimeError(f"topic {topic}: {metadata.topics[topic].error}")
        until = time.monotonic() + timeout_s
        while not self.assigned.is_set():
            if time.monotonic() > until:
                raise RuntimeError(f"the producer got no producer id within {timeout_s} s")
            producer.poll(0.01)


def produce_requests(bootstrap: str, topic: str, items: list[tuple[str, bytes]], *,
                     pace_s: float = 0.0, linger_ms: int = 0) -> dict[str, int]:
    """Produce (key, value) items; returns key -> produce time (CreateTime, ms since the epoch).

    pace_s > 0 spaces the requests (latency runs); 0 sends them as fast as the client goes (a burst)."""
    readiness = ProducerReadiness()
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": linger_ms,
                         "message.max.bytes": TOPIC_MAX_MESSAGE_BYTES, **readiness.CONFIG,
                         "stats_cb": readiness.on_stats})
    readiness.wait(producer, topic)
    sent: dict[str, int] = {}

    def on_delivery(err, msg) -> None:
        if err is not None:
            raise RuntimeError(f"produce failed: {err}")
        sent[msg.key().decode()] = msg.timestamp()[1]

    next_at = time.monotonic()
    for key, value in items:
        if pace_s > 0:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += pace_s
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("requests not delivered within 60 s")
    return sent


@dataclass
class Answer:
    key: str
    timestamp_ms: int  # the broker's append time (or receive time)
    status: str
    value: dict = field(default_factory=dict)


class AnswerCollector:
    """Reads response topics from the beginning on a thread and keeps the first answer per key."""

    def __init__(self, bootstrap: str, topics: list[str], fetch_wait_ms: int = 10) -> None:
        # fetch_wait_ms: 10 wakes the broker 100 times a second (~15 % of a core here); a benchmark whose
        # model server shares the CPU asks for more (answers carry the broker's LogAppendTime anyway).
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                   "fetch.wait.max.ms": fetch_wait_ms})
        self._consumer.subscribe(topics)
        self.answers: dict[str, Answer] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="answer-collector")
        self._thread.start()

    def _run(self) -> None:
        from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

        while not self._stop.is_set():
            for msg in self._consumer.consume(500, 0.05):
                if msg.error() is not None:
                    continue
                received_ms = int(time.time() * 1000)
                ts_type, ts = msg.timestamp()
                key = (msg.key() or b"").decode()
                try:
                    value = json.loads(msg.value())
                except (TypeError, ValueError):
                    value = {}
                answer = Answer(key, ts if ts_type == TIMESTAMP_LOG_APPEND_TIME else received_ms,
                                str(value.get("status", "?")), value)
                with self._lock:
                    if key in self.answers:
                        self.duplicates += 1
                    else:
                        self.answers[key] = answer

    def wait_for(self, keys: Iterable[str], timeout: float) -> dict[str, Answer]:
        keys = set(keys)
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self._lock:
                if keys <= self.answers.keys():
                    break
            time.sleep(0.02)
        with self._lock:
            return {k: self.answers[k] for k in keys if k in self.answers}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()


# ---------------------------------------------------------------------------------------------- figures
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class RunFigures:
    scenario: str
    requests: int
    answered: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    peak_rss_mb: float
    extra: dict = field(default_factory=dict)


def direct_calls(calls_by_thread: list[list[Callable[[], object]]]) -> RunFigures:
    """Each list of calls run in order on its own thread, all threads at once: the server's own ceiling
    with no Kafka in the way (scenario "direct"). A call that raises ends its thread; the calls it did not
    finish count as errors."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(calls: list[Callable[[], object]]) -> None:
        for call in calls:
            started = time.monotonic()
            call()
            with lock:
                latencies.append((time.monotonic() - started) * 1000)

    threads = [threading.Thread(target=worker, args=(calls,)) for calls in calls_by_thread]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    n = sum(len(calls) for calls in calls_by_thread)
    return RunFigures("direct", n, len(latencies), n - len(latencies), seconds, len(latencies) / seconds,
                      percentile(latencies, 50), percentile(latencies, 99), 0.0)


def figures(scenario: str, sent: dict[str, int], answers: dict[str, Answer], peak_rss_mb: float) -> RunFigures:
    """Throughput from the first produce to the last answer's append; latency per request."""
    latencies = [answers[k].timestamp_ms - sent[k] for k in answers if k in sent]
    first = min(sent.values()) if sent else 0
    last = max((a.timestamp_ms for a in answers.values()), default=first)
    seconds = max(1e-3, (last - first) / 1000)
    errors = sum(1 for a in answers.values() if a.status != "ok")
    return RunFigures(scenario=scenario, requests=len(sent), answered=len(answers), errors=errors, seconds=seconds,
                      rps=len(answers) / seconds, p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99),
                      peak_rss_mb=peak_rss_mb)


def write_json(name: str, data: dict) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / name
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "loadavg_1m": os.getloadavg()[0]}


# ---------------------------------------------------------------------------------------------- naive loop
def naive_loop(bootstrap: str, request_topic: str, response_topic: str, group: str, ollama_url: str,
               expected: int, idle_exit_s: float = 60.0) -> None:
    """The baseline: one message at a time, poll -> model call -> produce -> flush -> synchronous commit.

    The model call goes through the product's own OllamaTextModel (same HTTP client, same streaming), so
    the per-call HTTP cost is the service's. Prints "joined" once it owns its partitions."""
    from models_processor.config import load_settings
    from models_processor.deadline import Deadline
    from models_processor.llm.factory import build_models
    from models_processor.metrics import Metrics

    settings = load_settings({"OLLAMA_HOST": ollama_url, "OLLAMA_MODEL": MODEL, "RESULT_CACHE_SIZE": "0"})
    text_model = build_models(settings, Metrics()).text
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 0})
    joined = threading.Event()
    consumer.subscribe([request_topic], on_assign=lambda c, parts: joined.set())
    while not joined.is_set():
        consumer.poll(0.1)
    print("joined", flush=True)
    done = 0
    last = time.monotonic()
    while done < expected and time.monotonic() - last < idle_exit_s:
        msg = consumer.poll(0.1)
        if msg is None or msg.error() is not None:
            continue
        last = time.monotonic()
        request = json.loads(msg.value())
        try:
            generation = text_model.generate_text(request["prompt"], deadline=Deadline.after(240))
            answer = {"status": "ok", "request_id": msg.key().decode(), "response": generation.text,
                      "model": generation.model}
        except Exception as exc:
            answer = {"status": "error", "request_id": msg.key().decode(), "error": {"message": str(exc)}}
        producer.produce(response_topic, key=msg.key(), value=json.dumps(answer).encode())
        producer.flush(30)
        consumer.commit(offsets=[TopicPartition(msg.topic(), msg.partition(), msg.offset() + 1)],
                        asynchronous=False)
        done += 1
    consumer.close()


class NaiveProcess:
    """The naive loop as a child process, like the service (same process boundary, own GIL)."""

    def __init__(self, bootstrap: str, topics: Topics, ollama_url: str, expected: int, label: str) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = OUT_DIR / f"{label}.log"
        self._argv = [sys.executable, "-m", "bench.common", "naive", "--bootstrap", bootstrap,
                      "--request-topic", topics.request, "--response-topic", topics.text, "--group", topics.group,
                      "--ollama", ollama_url, "--expected", str(expected)]
        self.proc: subprocess.Popen | None = None
        self.rss: RssSampler | None = None

    def start(self, timeout: float = 60.0) -> NaiveProcess:
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(self._argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.rss = RssSampler(self.proc.pid).start()
        line = self.proc.stdout.readline()  # blocks until "joined" (or exit)
        if line.strip() != "joined":
            raise RuntimeError(f"naive loop did not start; see {self.log_path}")
        return self

    def stop(self) -> float:
        peak = self.rss.stop() if self.rss else 0.0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        return peak


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    naive = sub.add_parser("naive", help="run the naive baseline loop (used by bench/throughput.py)")
    naive.add_argument("--bootstrap", required=True)
    naive.add_argument("--request-topic", required=True)
    naive.add_argument("--response-topic", required=True)
    naive.add_argument("--group", required=True)
    naive.add_argument("--ollama", required=True)
    naive.add_argument("--expected", type=int, required=True)
    args = parser.parse_args()
    if args.command == "naive":
        naive_loop(args.bootstrap, args.request_topic, args.response_topic, args.group, args.ollama, args.expected)


if __name__ == "__main__":
    _main()


def what_if_argv(patches: list[str]) -> list[str] | None:
    """Investigations only: the service's command line with module constants overridden at start, e.g.
    ["models_processor.kafka.dispatcher._IDLE_POLL_S=0.005"], to measure a proposed change without editing
    the product. None when there is nothing to patch (the plain `python -m models_processor run`)."""
    if not patches:
        return None
    lines = ["import importlib, sys",
             "def _owner(path):",
             "    parts = path.split('.')",
             "    for i in range(len(parts), 0, -1):",
             "        try:",
             "            obj = importlib.import_module('.'.join(parts[:i]))",
             "        except ImportError:",
             "            continue",
             "        for name in parts[i:]:",
             "            obj = getattr(obj, name)",
             "        return obj"]
    for patch in patches:
        target, value = patch.split("=", 1)
        owner, attr = target.rsplit(".", 1)
        lines.append(f"setattr(_owner({owner!r}), {attr!r}, {value})")
    lines += ["from models_processor.cli import main", "sys.exit(main(['run']))"]
    return [sys.executable, "-c", "\n".join(lines)]
