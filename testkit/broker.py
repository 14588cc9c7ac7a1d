"""The local Kafka broker for tests, benchmarks and `make run`: the one wrapper of deploy/local-kafka/broker.py.

    with LocalBroker() as broker:            # a temp run dir, removed on exit
        create_topics(broker.bootstrap, {"requests": 4})

`LocalBroker.from_env()` uses KAFKA_BOOTSTRAP_SERVERS instead when it is set (start/stop do nothing then).
The broker is started with --watch-pid, so a killed test runner or benchmark leaves no JVM behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from models_processor.kafka.topics import TOPIC_MAX_MESSAGE_BYTES

REPO = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = REPO / "deploy" / "local-kafka" / "broker.py"
# A cold Maven download plus a JVM start on a slow CI box; broker.py has its own ready timeout.
START_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 120.0

__all__ = ["BROKER_SCRIPT", "TOPIC_MAX_MESSAGE_BYTES", "LocalBroker", "create_topics", "run_broker_script"]


def run_broker_script(*args: str, timeout: float = START_TIMEOUT_S) -> str:
    """Run deploy/local-kafka/broker.py with `args`; its stdout, or RuntimeError with its stderr."""
    try:
        proc = subprocess.run([sys.executable, str(BROKER_SCRIPT), *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"broker.py {' '.join(args)} did not finish in {timeout:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"broker.py {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout.strip()


class LocalBroker:
    """A single-node broker in `run_dir` (a temp dir, removed by close(), when None), watched by this process.

    `port` fixes the client port (None: a free one). start(keep_data=True) restarts a stopped broker on the
    same port with the same data (the "broker restart" fault)."""

    def __init__(self, run_dir: Path | None = None, *, port: int | None = None, watch: bool = True,
                 external: str | None = None) -> None:
        self._temp = run_dir is None and external is None
        self.run_dir = run_dir if run_dir is not None or external else Path(tempfile.mkdtemp(prefix="kafka-"))
        self.port = port
        self.watch = watch
        self.external = external
        self.bootstrap = external or ""

    @classmethod
    def from_env(cls) -> LocalBroker:
        """KAFKA_BOOTSTRAP_SERVERS when set (an existing broker: never started or stopped), else a local one."""
        return cls(external=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)

    @property
    def controllable(self) -> bool:
        return self.external is None

    def start(self, keep_data: bool = False) -> str:
        if self.external is not None:
            return self.external
        assert self.run_dir is not None
        args = ["start", "--json", "--run-dir", str(self.run_dir)]
        if self.watch:
            args += ["--watch-pid", str(os.getpid())]
        if self.port is not None:
            args += ["--port", str(self.port)]
        if keep_data:
            args.append("--keep-data")
        bootstrap: str = json.loads(run_broker_script(*args))["bootstrap"]
        if keep_data and self.bootstrap and bootstrap != self.bootstrap:
            raise RuntimeError(f"broker came back on {bootstrap}, not {self.bootstrap}")
        self.bootstrap = bootstrap
        return bootstrap

    def stop(self) -> None:
        if self.external is None and self.run_dir is not None:
            run_broker_script("stop", "--run-dir", str(self.run_dir), timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        """Stop, and remove the run dir if it was a temp one."""
        try:
            self.stop()
        finally:
            if self._temp and self.run_dir is not None:
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def create_topics(bootstrap: str, partitions: dict[str, int], *, log_append_time: Iterable[str] = (),
                  config: dict[str, str] | None = None, timeout: float = 30.0,
                  admin: AdminClient | None = None) -> None:
    """Create topics (name -> partitions) accepting the product's largest messages, and wait until every
    partition has a leader (CreateTopics returns once the controller has the topic; a produce before the
    leader is known fails with UNKNOWN_TOPIC_OR_PART). Topics in `log_append_time` get broker timestamps."""
    admin = admin or AdminClient({"bootstrap.servers": bootstrap})
    append = set(log_append_time)
    new = []
    for name, count in partitions.items():
        topic_config = {"max.message.bytes": str(TOPIC_MAX_MESSAGE_BYTES), **(config or {})}
        if name in append:
            topic_config["message.timestamp.type"] = "LogAppendTime"
        new.append(NewTopic(name, num_partitions=count, replication_factor=1, config=topic_config))
    for future in admin.create_topics(new, operation_timeout=timeout).values():
        future.result(timeout)
    until = time.monotonic() + timeout
    for name, count in partitions.items():
        while True:
            meta = admin.list_topics(name, timeout=5).topics.get(name)
            if (meta is not None and meta.error is None and len(meta.partitions) == count
                    and all(p.leader >= 0 for p in meta.partitions.values())):
                break
            if time.monotonic() > until:
                raise TimeoutError(f"topic {name} not ready after {timeout:g} s")
            time.sleep(0.1)
