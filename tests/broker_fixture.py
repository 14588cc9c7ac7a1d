"""pytest plugin: a real Kafka broker for the integration tests.

Loaded by tests/conftest.py (`pytest_plugins = ["tests.broker_fixture"]`). Fixtures:

- `kafka_bootstrap` (session) -> "host:port". The first that works of:
  1. env KAFKA_BOOTSTRAP_SERVERS (an existing broker or cluster);
  2. a Docker engine: testcontainers' KafkaContainer in KRaft mode (image: env KAFKA_TEST_IMAGE);
  3. deploy/local-kafka/broker.py: Apache Kafka from the Maven Central jars, in a temp run dir,
     watched so that a killed pytest does not leave it running.
  No broker is a test failure, never a skip: a silently skipped integration suite proves nothing.
- `kafka_topic_factory` (session) -> callable(partitions=1, prefix="t", config=None) -> topic name,
  created (max.message.bytes 16 MiB) and visible in metadata before it returns.
- `local_broker_controller` (session) -> BrokerController: stop()/start() the local broker with its data
  kept on the same port (fault tests). Raises BrokerControlUnavailable for an external or Docker broker.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BROKER_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "local-kafka" / "broker.py"
TOPIC_MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # as the broker: 10 MiB photos plus headers
DEFAULT_TEST_IMAGE = "confluentinc/cp-kafka:8.0.0"  # Kafka 4.0: KIP-848 consumer groups are GA
# A cold Maven download plus a JVM start on a slow CI box; broker.py has its own ready timeout.
LOCAL_START_TIMEOUT_S = 600


class BrokerControlUnavailable(RuntimeError):
    """Stopping/starting the broker is only possible for the one this session started locally."""


class BrokerController:
    """Stops and restarts the session's broker, keeping its data, port and cluster id."""

    def __init__(self, bootstrap: str, run_dir: Path | None, source: str):
        self.bootstrap = bootstrap
        self.run_dir = run_dir  # None: not ours to control
        self.source = source  # "env", "docker" or "local", for messages

    @property
    def controllable(self) -> bool:
        return self.run_dir is not None

    def _require_local(self) -> Path:
        if self.run_dir is None:
            raise BrokerControlUnavailable(
                f"the Kafka broker of this session comes from {self.source} ({self.bootstrap}); only "
                "a broker started by deploy/local-kafka/broker.py can be stopped and restarted. Unset "
                "KAFKA_BOOTSTRAP_SERVERS (and have no Docker engine) to run this test.")
        return self.run_dir

    def stop(self) -> None:
        _run_broker_script("stop", "--run-dir", str(self._require_local()))

    def start(self) -> str:
        """Start again on the same port with the same data; returns the (unchanged) bootstrap."""
        out = _run_broker_script("start", "--keep-data", "--json", "--run-dir", str(self._require_local()),
                                 "--watch-pid", str(os.getpid()))
        bootstrap = json.loads(out)["bootstrap"]
        assert bootstrap == self.bootstrap, f"broker came back on {bootstrap}, not {self.bootstrap}"
        return bootstrap


def _run_broker_script(*args: str) -> str:
    try:
        proc = subprocess.run([sys.executable, str(BROKER_SCRIPT), *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=LOCAL_START_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"broker.py {' '.join(args)} did not finish in {LOCAL_START_TIMEOUT_S} s")
    if proc.returncode != 0:
        raise RuntimeError(f"broker.py {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc.stdout.strip()


def _docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=5).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def _docker_broker() -> Iterator[BrokerController]:
    try:
        from testcontainers.community.kafka import KafkaContainer  # testcontainers >= 4.15
    except ImportError:
        from testcontainers.kafka import KafkaContainer
    container = (KafkaContainer(os.environ.get("KAFKA_TEST_IMAGE", DEFAULT_TEST_IMAGE)).with_kraft()
                 .with_env("KAFKA_MESSAGE_MAX_BYTES", str(TOPIC_MAX_MESSAGE_BYTES))
                 .with_env("KAFKA_REPLICA_FETCH_MAX_BYTES", str(TOPIC_MAX_MESSAGE_BYTES))
                 .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
                 .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"))
    with container:
        yield BrokerController(container.get_bootstrap_server(), None, "docker")


def _local_broker(tmp_root: Path) -> Iterator[BrokerController]:
    run_dir = tmp_root / "local-kafka"
    try:
        out = _run_broker_script("start", "--json", "--run-dir", str(run_dir), "--watch-pid", str(os.getpid()))
    except RuntimeError as exc:
        pytest.fail(f"no Kafka broker for the integration tests: set KAFKA_BOOTSTRAP_SERVERS, run a "
                    f"Docker engine, or fix the local broker:\n{exc}", pytrace=False)
    controller = BrokerController(json.loads(out)["bootstrap"], run_dir, "local")
    try:
        yield controller
    finally:
        _run_broker_script("stop", "--run-dir", str(run_dir))


@pytest.fixture(scope="session")
def _kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerController]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield BrokerController(external, None, "KAFKA_BOOTSTRAP_SERVERS")
    elif _docker_available():
        yield from _docker_broker()
    else:
        yield from _local_broker(tmp_path_factory.mktemp("kafka"))


@pytest.fixture(scope="session")
def kafka_bootstrap(_kafka_broker: BrokerController) -> str:
    return _kafka_broker.bootstrap


@pytest.fixture(scope="session")
def local_broker_controller(_kafka_broker: BrokerController) -> BrokerController:
    return _kafka_broker


@pytest.fixture(scope="session")
def kafka_topic_factory(kafka_bootstrap: str) -> Callable[..., str]:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def create(partitions: int = 1, prefix: str = "t", config: dict[str, str] | None = None,
               timeout: float = 30.0) -> str:
        # Unique names: tests never see each other's messages, and no clean-up is needed.
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        topic_config = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES), **(config or {})}
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                                config=topic_config)], operation_timeout=timeout)
        futures[name].result(timeout)
        # CreateTopics returns once the controller has the topic; wait until every partition has a
        # leader in the broker's metadata, or the first produce can fail with UNKNOWN_TOPIC_OR_PART.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            meta = admin.list_topics(name, timeout=5).topics.get(name)
            if (meta is not None and meta.error is None and len(meta.partitions) == partitions
                    and all(p.leader >= 0 for p in meta.partitions.values())):
                return name
            time.sleep(0.1)
        raise TimeoutError(f"topic {name} not ready after {timeout} s")

    return create
