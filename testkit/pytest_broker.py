"""pytest plugin: a real Kafka broker for the integration tests.

Loaded by tests/conftest.py (`pytest_plugins = ["testkit.pytest_broker"]`). Fixtures:

- `kafka_bootstrap` (session) -> "host:port". The first that works of:
  1. env KAFKA_BOOTSTRAP_SERVERS (an existing broker or cluster);
  2. a Docker engine: testcontainers' KafkaContainer in KRaft mode (image: env KAFKA_TEST_IMAGE);
  3. deploy/local-kafka/broker.py (testkit.broker.LocalBroker): Apache Kafka from the Maven Central jars,
     in a temp run dir, watched so that a killed pytest does not leave it running.
  No broker is a test failure, never a skip: a silently skipped integration suite proves nothing.
- `kafka_topic_factory` (session) -> callable(partitions=1, prefix="t", config=None) -> topic name,
  created (max.message.bytes: the product's TOPIC_MAX_MESSAGE_BYTES) and visible in metadata before it returns.
- `local_broker_controller` (session) -> BrokerController: stop()/start() the local broker with its data
  kept on the same port (fault tests). Raises BrokerControlUnavailable for an external or Docker broker.
A test using any of these fixtures is marked `broker`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from testkit.broker import TOPIC_MAX_MESSAGE_BYTES, LocalBroker, create_topics

DEFAULT_TEST_IMAGE = "confluentinc/cp-kafka:8.0.0"  # Kafka 4.0: KIP-848 consumer groups are GA
BROKER_FIXTURES = frozenset({"kafka_bootstrap", "kafka_topic_factory", "local_broker_controller", "_kafka_broker"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using a broker fixture get the `broker` marker (`make test-fast` deselects them)."""
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)


class BrokerControlUnavailable(RuntimeError):
    """Stopping/starting the broker is only possible for the one this session started locally."""


class BrokerController:
    """Stops and restarts the session's broker, keeping its data, port and cluster id."""

    def __init__(self, bootstrap: str, broker: LocalBroker | None, source: str):
        self.bootstrap = bootstrap
        self.broker = broker  # None: not ours to control
        self.source = source  # "env", "docker" or "local", for messages

    @property
    def controllable(self) -> bool:
        return self.broker is not None

    def _require_local(self) -> LocalBroker:
        if self.broker is None:
            raise BrokerControlUnavailable(
                f"the Kafka broker of this session comes from {self.source} ({self.bootstrap}); only "
                "a broker started by deploy/local-kafka/broker.py can be stopped and restarted. Unset "
                "KAFKA_BOOTSTRAP_SERVERS (and have no Docker engine) to run this test.")
        return self.broker

    def stop(self) -> None:
        self._require_local().stop()

    def start(self) -> str:
        """Start again on the same port with the same data; returns the (unchanged) bootstrap."""
        bootstrap = self._require_local().start(keep_data=True)
        assert bootstrap == self.bootstrap, f"broker came back on {bootstrap}, not {self.bootstrap}"
        return bootstrap


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
    broker = LocalBroker(tmp_root / "local-kafka")
    try:
        bootstrap = broker.start()
    except RuntimeError as exc:
        pytest.fail(f"no Kafka broker for the integration tests: set KAFKA_BOOTSTRAP_SERVERS, run a "
                    f"Docker engine, or fix the local broker:\n{exc}", pytrace=False)
    try:
        yield BrokerController(bootstrap, broker, "local")
    finally:
        broker.stop()


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
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})

    def create(partitions: int = 1, prefix: str = "t", config: dict[str, str] | None = None,
               timeout: float = 30.0) -> str:
        # Unique names: tests never see each other's messages, and no clean-up is needed.
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        create_topics(kafka_bootstrap, {name: partitions}, config=config, timeout=timeout, admin=admin)
        return name

    return create
