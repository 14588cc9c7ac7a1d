"""The service as a separate process on the real broker, with the Ollama stand-in as its model server:
kill -9 mid-stream (exactly-once and at-least-once), SIGTERM drain, /ready following the model server."""

from __future__ import annotations

import uuid

import pytest
import requests

from models_processor.config import load_settings
from testkit.fakes.ollama_server import OllamaStandIn
from testkit.harness import (
    ProcessorProcess,
    ResponseReader,
    committed,
    create_output_topics,
    produce,
    service_env,
    text_request,
    wait_for,
)

pytestmark = [pytest.mark.broker, pytest.mark.ollama]


@pytest.fixture
def ollama():
    server = OllamaStandIn(models=("llava:7b",), num_parallel=4, latency_s=0.05)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(kafka_bootstrap, kafka_topic_factory, ollama, tmp_path):
    """A request topic with its output topics, and a factory of processor processes on it."""
    processes: list[ProcessorProcess] = []

    def build(partitions: int = 4, **extra: str):
        topic = kafka_topic_factory(partitions=partitions, prefix="req")
        env = service_env(kafka_bootstrap, topic, f"g-{uuid.uuid4().hex[:8]}", OLLAMA_HOST=ollama.url,
                          OLLAMA_MODEL="llava:7b", OLLAMA_WARMUP="false", RESULT_CACHE_SIZE="0",
                          OLLAMA_NUM_PARALLEL=str(ollama.num_parallel), SHUTDOWN_GRACE_SECONDS="20", **extra)
        create_output_topics(kafka_bootstrap, load_settings(env), partitions=partitions)

        def spawn() -> ProcessorProcess:
            process = ProcessorProcess(env, tmp_path / f"processor-{len(processes)}.log").start()
            processes.append(process)
            return process
        return topic, env, spawn

    yield build
    for process in processes:
        process.stop()


def _count_keys(reader: ResponseReader) -> int:
    return len({m.key() for m in reader.messages})


def _kill_repeatedly(kafka_bootstrap, env, spawn, total: int, kills_at: list[int]) -> None:
    """Run the processor, SIGKILL it once `kills_at[i]` answers are visible (read_uncommitted), restart."""
    watcher = ResponseReader(kafka_bootstrap, [env["TEXT_RESPONSE_TOPIC"]], isolation="read_uncommitted")
    try:
        for threshold in kills_at:
            process = spawn()
            watcher.read_until(lambda ms, at=threshold: len({m.key() for m in ms}) >= at, timeout=90)
            assert _count_keys(watcher) >= threshold, process.log_text()[-3000:]
            process.kill()
        spawn()  # the last one runs to the end
    finally:
        watcher.close()


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_every_request_answered_across_kill_9(kafka_bootstrap, stack, guarantee):
    total = 300
    topic, env, spawn = stack(partitions=4, PROCESSING_GUARANTEE=guarantee, CONCURRENT_REQUESTS="8",
                              TRANSACTIONAL_ID=f"tx-{uuid.uuid4().hex[:8]}")
    ids = [f"req-{i:04d}" for i in range(total)]
    produce(kafka_bootstrap, topic, [(rid.encode(), text_request(f"question {rid}")) for rid in ids])
    _kill_repeatedly(kafka_bootstrap, env, spawn, total, kills_at=[40, 140])

    reader = ResponseReader(kafka_bootstrap, [env["TEXT_RESPONSE_TOPIC"]], isolation="read_committed")
    try:
        reader.read_until(lambda ms: len({m.key() for m in ms}) >= total, timeout=120)
        reader.drain(quiet_s=3)
        answers = reader.by_key()
    finally:
        reader.close()
    missing = [rid for rid in ids if rid not in answers]
    assert not missing, f"{len(missing)} requests never answered, e.g. {missing[:5]}"
    assert all(a["status"] == "ok" and a["response"] for v in answers.values() for a in v)
    duplicates = {rid: len(v) for rid, v in answers.items() if len(v) > 1}
    if guarantee == "exactly_once":
        assert not duplicates, f"read_committed saw duplicates: {list(duplicates.items())[:5]}"
    wait_for(lambda: sum(committed(kafka_bootstrap, env["CONSUMER_GROUP"], topic, 4).values()) == total, 60,
             "offsets not fully committed at the end")


def test_sigterm_finishes_in_flight_work_then_commits(kafka_bootstrap, stack, ollama):
    ollama.latency_s = 2.0  # slow enough that SIGTERM lands while all four are being generated
    topic, env, spawn = stack(partitions=1, CONCURRENT_REQUESTS="4")
    process = spawn()
    wait_for(lambda: _ready_or_joined(process), 60, "processor never joined its group")
    produce(kafka_bootstrap, topic, [(f"t{i}".encode(), text_request(f"slow {i}")) for i in range(4)])
    wait_for(lambda: ollama.stats.active == 4, 30, "the four requests never reached the model server")
    assert process.terminate(timeout=60) == 0
    reader = ResponseReader(kafka_bootstrap, [env["TEXT_RESPONSE_TOPIC"]])
    try:
        reader.read_until(lambda ms: len(ms) >= 4, timeout=10)
        assert sorted(reader.by_key()) == ["t0", "t1", "t2", "t3"]
    finally:
        reader.close()
    assert committed(kafka_bootstrap, env["CONSUMER_GROUP"], topic, 1)[0] == 4
    log = process.log_text()
    assert "stopping: finishing in-flight work" in log and '"in_flight": 4' in log


def _ready_or_joined(process: ProcessorProcess) -> bool:
    try:
        body = requests.get(process.url("/ready"), timeout=2).json()
    except (requests.RequestException, ValueError):
        return False
    return not any("joined" in reason for reason in body.get("reasons", []))


def test_ready_follows_the_model_server(stack, ollama):
    _, _, spawn = stack(partitions=1)
    process = spawn()
    wait_for(lambda: _status(process, "/ready") == 200, 60, "never ready with the model server up")
    assert requests.get(process.url("/ready")).json()["status"] == "ready"
    ollama.set_down(True)
    wait_for(lambda: _status(process, "/ready") == 503, 30, "/ready stayed 200 with the model server down")
    reasons = requests.get(process.url("/ready")).json()["reasons"]
    assert any("vision" in r or "text" in r for r in reasons), reasons
    assert _status(process, "/health") == 200  # liveness does not depend on the model server
    ollama.set_down(False)
    wait_for(lambda: _status(process, "/ready") == 200, 30, "/ready did not recover")


def _status(process: ProcessorProcess, path: str) -> int:
    try:
        return requests.get(process.url(path), timeout=2).status_code
    except requests.RequestException:
        return 0


def test_invalid_configuration_stops_at_start_naming_the_variable(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "models_processor", "run"], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "CONCURRENT_REQUESTS": "many"}, timeout=60)
    assert result.returncode == 2
    assert "CONCURRENT_REQUESTS" in result.stderr
