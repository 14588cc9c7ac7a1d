#!/usr/bin/env python3
"""A real single-node Apache Kafka broker (KRaft) from the official jars on Maven Central.

Used by the tests, `make run` and the benchmarks on machines without Docker. Standard library only,
so it runs before any virtualenv exists.

    broker.py start [--port P] [--run-dir DIR] [--partitions N] [--watch-pid PID] [--keep-data] [--json]
    broker.py stop [--run-dir DIR]
    broker.py status [--run-dir DIR] [--json]

`start` prints the bootstrap address (or broker.json with --json) once the broker answers a Kafka
Metadata request. A healthy broker already running in the run dir is reused. `--keep-data` restarts a
stopped broker on the same ports with the same data (fault tests: "broker stopped and restarted").
`--watch-pid` stops the broker once that process is gone, so a killed test runner leaves nothing behind.

Jars: downloaded once by Maven into LOCAL_KAFKA_CACHE (default ~/.cache/models-processor), in a folder
keyed by the Kafka version and a hash of pom.xml.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KAFKA_VERSION = "4.3.1"
HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
REPO_ROOT = HERE.parent.parent
DEFAULT_RUN_DIR = REPO_ROOT / ".cache" / "local-kafka"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # room for the service's 10 MiB requests plus headers

STOP_GRACE_S = 20.0  # clean shutdown flushes logs; SIGKILL after this
WATCHDOG_GRACE_S = 15.0
READY_TIMEOUT_S = 120.0  # a cold JVM on a busy 2-core CI box can take a while
BIND_ATTEMPTS = 3  # free ports are picked then released, so another process can take one meanwhile

JAVA_OPTS = [
    # The official kafka-server-start.sh flags, with a smaller initial heap for shared test machines.
    "-Xms256M", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
]


class BrokerError(Exception):
    """A failure the user can act on; main() prints it without a traceback."""


# ---------------------------------------------------------------------------------------------
# Jar cache
# ---------------------------------------------------------------------------------------------

def libs_dir() -> Path:
    """The jar folder for this pom.xml: editing the POM yields a new folder, never a stale mix."""
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("LOCAL_KAFKA_CACHE") or Path.home() / ".cache" / "models-processor")
    return root.expanduser() / f"kafka-{KAFKA_VERSION}-{pom_hash}" / "libs"


def ensure_jars() -> Path:
    libs = libs_dir()
    if libs.is_dir():  # only ever created by an atomic rename of a complete download
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError(
            "Maven (mvn) is not on PATH; it is needed once to download the Kafka jars from Maven "
            f"Central into {libs}. Install Maven 3.8+ (e.g. apt-get install maven), or set "
            "KAFKA_BOOTSTRAP_SERVERS to use another broker.")
    libs.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_downloads(libs.parent)
    # Download next to the final folder, then rename: a killed download leaves only a .download-* dir.
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=libs.parent))
    try:
        print(f"downloading Kafka {KAFKA_VERSION} jars into {libs} ...", file=sys.stderr)
        started = time.monotonic()
        cmd = [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={tmp / 'libs'}"]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not any((tmp / "libs").glob("kafka_2.13-*.jar")):
            raise BrokerError(
                f"downloading the Kafka jars failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                f"{proc.stdout[-4000:]}\nCheck that Maven Central is reachable (proxy settings in "
                "~/.m2/settings.xml).")
        try:
            os.rename(tmp / "libs", libs)
        except OSError:
            if not libs.is_dir():  # not a concurrent download that finished first
                raise
        print(f"downloaded in {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return libs


def _remove_stale_downloads(parent: Path) -> None:
    # Leftovers of killed downloads; an hour is far longer than any live download takes.
    for old in parent.glob(".download-*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 3600:
                shutil.rmtree(old, ignore_errors=True)


def java_bin() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise BrokerError("java is not on PATH (nor in JAVA_HOME); Kafka 4.3 needs a JDK/JRE 17+.")
    return java


# ---------------------------------------------------------------------------------------------
# A minimal Kafka protocol client: ApiVersions + Metadata, enough to prove the broker serves requests
# ---------------------------------------------------------------------------------------------

API_METADATA, API_VERSIONS = 3, 18


def _kafka_request(sock: socket.socket, api_key: int, version: int, correlation_id: int,
                   body: bytes) -> bytes:
    client_id = b"local-kafka-probe"
    # Request header v1 (non-flexible): api_key, api_version, correlation_id, client_id.
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
    response = _recv_exactly(sock, size)
    if struct.unpack(">i", response[:4])[0] != correlation_id:
        raise OSError("correlation id mismatch")
    return response[4:]  # response header v0 is the correlation id alone


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def probe_metadata(host: str, port: int, timeout: float = 5.0) -> int:
    """Return the number of brokers in a Metadata response; raise OSError if there is none.

    A bare TCP accept is not enough: the listener can accept before the broker has registered with
    the controller and before it answers requests.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        # ApiVersions v0 is answered by every broker; it tells which Metadata versions this one has.
        resp = _kafka_request(sock, API_VERSIONS, 0, 1, b"")
        error, count = struct.unpack(">hi", resp[:6])
        if error:
            raise OSError(f"ApiVersions error {error}")
        ranges = {}
        for i in range(count):
            key, lo, hi = struct.unpack(">hhh", resp[6 + 6 * i:12 + 6 * i])
            ranges[key] = (lo, hi)
        lo, hi = ranges.get(API_METADATA, (0, -1))
        # v4..v8 share the non-flexible layout implemented here (4.x dropped v0-v3).
        version = max(lo, 4)
        if version > min(hi, 8):
            raise OSError(f"broker supports Metadata v{lo}-v{hi}, the probe speaks v4-v8")
        # topics = null (all topics), allow_auto_topic_creation = false, [v8: two authz flags]
        body = struct.pack(">ib", -1, 0) + (b"\x00\x00" if version >= 8 else b"")
        resp = _kafka_request(sock, API_METADATA, version, 2, body)
        # throttle_time_ms int32, then the brokers array.
        brokers = struct.unpack(">i", resp[4:8])[0]
        if brokers < 1:
            raise OSError("broker has not registered yet (no brokers in metadata)")
        return brokers


def wait_ready(host: str, port: int, pid: int, timeout: float, log_file: Path) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise BrokerExited(tail(log_file))
        try:
            probe_metadata(host, port, timeout=3.0)
            return
        except (OSError, struct.error) as exc:  # struct.error: a truncated reply mid-startup
            last_error = str(exc) or type(exc).__name__
        time.sleep(0.2)
    raise BrokerError(f"broker pid {pid} not ready on {host}:{port} after {timeout:.0f} s "
                      f"({last_error}); log {log_file}:\n{tail(log_file)}")


class BrokerExited(BrokerError):
    """The broker process died during start-up; the message is the log tail."""


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped: e.g. when the reaper is busy) still answers kill(0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_our_broker(pid: int, run_dir: Path) -> bool:
    """Guard against pid reuse: only signal a java running kafka.Kafka on this run dir's config."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)  # no /proc (not Linux): trust the pid file
    return b"kafka.Kafka" in cmdline and str(run_dir / "server.properties").encode() in cmdline


def terminate(pid: int, grace: float) -> None:
    """SIGTERM (Kafka's shutdown hook flushes and closes logs), SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@contextlib.contextmanager
def locked(run_dir: Path):
    """Serialize start/stop on one run dir (two test sessions, or `make run` twice)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# ---------------------------------------------------------------------------------------------
# Run dir
# ---------------------------------------------------------------------------------------------

def read_state(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "broker.json").read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def server_properties(run_dir: Path, port: int, cport: int, partitions: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{cport}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(run_dir / "data"),
        "num.partitions": str(partitions),
        "auto.create.topics.enable": "true",
        # One node: every internal topic has one replica; one partition keeps start-up quick.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Photos travel inside messages (10 MiB limit in the service).
        "message.max.bytes": str(MAX_MESSAGE_BYTES),
        "replica.fetch.max.bytes": str(MAX_MESSAGE_BYTES),
        # Fast tests: classic groups start at once, KIP-848 groups get assignments within a second.
        "group.initial.rebalance.delay.ms": "0",
        "group.consumer.min.heartbeat.interval.ms": "500",
        "group.consumer.heartbeat.interval.ms": "1000",
        "group.consumer.min.session.timeout.ms": "6000",
        "group.consumer.session.timeout.ms": "10000",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def java_cmd(libs: Path, run_dir: Path, main_class: str, *args: str) -> list[str]:
    tmp = run_dir / "tmp"  # zstd-jni/snappy unpack natives here: /tmp may be noexec
    return [java_bin(), *JAVA_OPTS,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={run_dir / 'logs'}",
            f"-DZstdTempFolder={tmp}", f"-Dorg.xerial.snappy.tempdir={tmp}",
            "-cp", f"{libs}/*", main_class, *args]


def format_storage(libs: Path, run_dir: Path) -> str:
    # Like Kafka's Uuid.randomUuid: 16 random bytes, base64url; never a leading "-", which the
    # tool's argument parser would take for an option (1 id in 64 otherwise).
    cluster_id = "-"
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    cmd = java_cmd(libs, run_dir, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                   "-c", str(run_dir / "server.properties"), "--standalone")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise BrokerError(f"formatting storage failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}")
    return cluster_id


def healthy_state(run_dir: Path) -> dict | None:
    state = read_state(run_dir)
    if not state or not pid_alive(state["pid"]) or not is_our_broker(state["pid"], run_dir):
        return None
    try:
        probe_metadata("127.0.0.1", state["port"], timeout=3.0)
    except (OSError, struct.error):
        return None
    return state


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

def cmd_start(args: argparse.Namespace) -> dict:
    run_dir = Path(args.run_dir).resolve()
    with locked(run_dir):
        state = read_state(run_dir)
        if state and pid_alive(state["pid"]) and is_our_broker(state["pid"], run_dir):
            # Already running (perhaps still starting): reuse it once it answers.
            try:
                wait_ready("127.0.0.1", state["port"], state["pid"], args.timeout, Path(state["log_file"]))
            except BrokerError as exc:
                raise BrokerError(f"{exc}\nthe broker already running in {run_dir} does not answer; "
                                  f"`broker.py stop --run-dir {run_dir}` and start again") from None
        else:
            state = _launch(args, run_dir, state)
        if args.watch_pid:
            spawn_watchdog(args.watch_pid, state["pid"], run_dir)
        return state


def _launch(args: argparse.Namespace, run_dir: Path, old: dict | None) -> dict:
    libs = ensure_jars()
    java_bin()  # fail early and clearly
    keep = args.keep_data and old is not None and (run_dir / "data" / "meta.properties").exists()
    if args.keep_data and not keep:
        print("--keep-data: no earlier data in this run dir, starting fresh", file=sys.stderr)
    for attempt in range(1, BIND_ATTEMPTS + 1):
        if keep:
            # The controller endpoint is recorded in the formatted voter set: reuse both ports.
            port, cport, cluster_id = old["port"], old["controller_port"], old["cluster_id"]
        else:
            port = args.port or free_port()
            cport = free_port()
            while cport == port:
                cport = free_port()
            for stale in ("data", "logs", "tmp"):
                shutil.rmtree(run_dir / stale, ignore_errors=True)
        for d in ("logs", "tmp"):
            (run_dir / d).mkdir(parents=True, exist_ok=True)
        (run_dir / "server.properties").write_text(server_properties(run_dir, port, cport, args.partitions))
        if not keep:
            cluster_id = format_storage(libs, run_dir)
        log_file = run_dir / "logs" / "server.log"
        with open(run_dir / "logs" / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                java_cmd(libs, run_dir, "kafka.Kafka", str(run_dir / "server.properties")),
                cwd=run_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)  # own session: a Ctrl-C on the caller does not reach it
        proc.returncode = 0  # detached on purpose: silence Popen's "still running" warning
        state = {
            "bootstrap": f"127.0.0.1:{port}", "pid": proc.pid, "port": port, "controller_port": cport,
            "cluster_id": cluster_id, "run_dir": str(run_dir), "log_file": str(log_file),
            "kafka_version": KAFKA_VERSION,
        }
        (run_dir / "broker.pid").write_text(f"{proc.pid}\n")
        write_json_atomic(run_dir / "broker.json", state)
        try:
            wait_ready("127.0.0.1", port, proc.pid, args.timeout, log_file)
            return state
        except BrokerExited as exc:
            log = f"{exc}\n{tail(run_dir / 'logs' / 'stdout.log')}"
            in_use = "Address already in use" in log
            if not in_use or attempt == BIND_ATTEMPTS or keep or args.port:
                why = f" (port {port} or controller port {cport} already in use)" if in_use else ""
                raise BrokerError(f"broker exited during start-up{why}; log {log_file}:\n{log}") from None
            print(f"port {port} or {cport} taken meanwhile, retrying", file=sys.stderr)
        except BrokerError:
            terminate(proc.pid, STOP_GRACE_S)
            raise
    raise AssertionError("unreachable")


def spawn_watchdog(watch_pid: int, broker_pid: int, run_dir: Path) -> None:
    subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "_watchdog", str(watch_pid), str(broker_pid),
         str(run_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    ).returncode = 0


def cmd_watchdog(watch_pid: int, broker_pid: int, run_dir: Path) -> None:
    """Stop the broker once watch_pid is gone; exit quietly if the broker goes first."""
    while pid_alive(broker_pid) and is_our_broker(broker_pid, run_dir):
        if not pid_alive(watch_pid):
            terminate(broker_pid, WATCHDOG_GRACE_S)
            return
        time.sleep(0.5)


def cmd_stop(run_dir: Path) -> bool:
    """Stop the run dir's broker. Returns whether one was running; stopping nothing is fine."""
    with locked(run_dir):
        state = read_state(run_dir)
        pid = state["pid"] if state else None
        was_running = bool(pid and pid_alive(pid) and is_our_broker(pid, run_dir))
        if was_running:
            terminate(pid, STOP_GRACE_S)
        with contextlib.suppress(FileNotFoundError):
            (run_dir / "broker.pid").unlink()
        return was_running  # broker.json stays: --keep-data reads the ports from it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start (or reuse) a broker and print its bootstrap address")
    start.add_argument("--port", type=int, default=0, help="client port (default: a free one)")
    start.add_argument("--partitions", type=int, default=8, help="num.partitions (default 8)")
    start.add_argument("--watch-pid", type=int, default=0, help="stop the broker when PID exits")
    start.add_argument("--keep-data", action="store_true",
                       help="restart on the same ports with the data of the previous run")
    start.add_argument("--timeout", type=float, default=READY_TIMEOUT_S, help="seconds to wait for ready")
    start.add_argument("--json", action="store_true", help="print broker.json instead of the address")
    stop = sub.add_parser("stop", help="stop the broker (SIGTERM, then SIGKILL after 20 s)")
    status = sub.add_parser("status", help="print the bootstrap address; exit 1 if not running/healthy")
    status.add_argument("--json", action="store_true")
    for p in (start, stop, status):
        p.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR), help=f"default {DEFAULT_RUN_DIR}")
    watchdog = sub.add_parser("_watchdog")  # internal, spawned by start --watch-pid
    watchdog.add_argument("watch_pid", type=int)
    watchdog.add_argument("broker_pid", type=int)
    watchdog.add_argument("run_dir")
    args = parser.parse_args(argv)

    try:
        if args.command == "start":
            state = cmd_start(args)
            print(json.dumps(state) if args.json else state["bootstrap"], flush=True)
        elif args.command == "stop":
            print("stopped" if cmd_stop(Path(args.run_dir).resolve()) else "not running")
        elif args.command == "status":
            state = healthy_state(Path(args.run_dir).resolve())
            if not state:
                print("not running", file=sys.stderr)
                return 1
            print(json.dumps(state) if args.json else state["bootstrap"])
        else:
            cmd_watchdog(args.watch_pid, args.broker_pid, Path(args.run_dir))
    except BrokerError as exc:
        print(f"broker.py {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
