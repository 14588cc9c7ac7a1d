"""The pod's Ollama containers run for real: the rendered manifest's own command, args, environment and
probe commands, against the Ollama 0.17.4 the tests build (testkit/local_ollama) and a copy of its model
store (the tiny model `gemma3-tiny` stands in for llava:7b; nothing is downloaded).

Only what cannot exist outside a cluster is mapped: /bin/ollama -> the local binary, /models and $HOME ->
temp dirs, the loopback port -> a free one (the host stays the manifest's 127.0.0.1), /scripts -> the
rendered ConfigMap's script. Issue 15, items 1 (probes), 2 (no prune, pull once under a lock) and 6 (SIGTERM).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from testkit.local_ollama import build
from testkit.ollama_local import LOCAL_MODEL, ensure_built

from .conftest import OVERLAYS, argv, container, one, plain_env, pod_spec

UNREFERENCED_BLOB = "sha256-" + "ab" * 32          # a finished blob no manifest names yet (another pod's pull)
PARTIAL_DOWNLOAD = "sha256-" + "cd" * 32 + "-partial"  # a download in progress


@pytest.fixture(scope="module")
def ollama_build() -> ModuleType:
    ensure_built()  # the binary and the imported tiny model, built once per machine
    assert build.binary_path().exists()
    return build


@pytest.fixture
def models(ollama_build: ModuleType, tmp_path: Path) -> Path:
    """A private copy (hard links) of the local model store, holding the tiny model."""
    src, dest = Path(ollama_build.models_dir()), tmp_path / "models"
    for dirpath, _, files in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            os.link(Path(dirpath) / name, dest / rel / name)
    assert any((dest / "manifests").rglob("*")), "the local store has no imported model"
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _local_env(c: dict, docs: list[dict], binary: Path, models: Path, home: Path, port: int) -> dict[str, str]:
    env = plain_env(c)
    config = one(docs, "ConfigMap", "models-processor-config")["data"]
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            env[e["name"]] = config[ref["key"]]
    host = env["OLLAMA_HOST"].rsplit(":", 1)[0]
    assert host == "127.0.0.1", "the manifest's bind address is kept as is"
    env.update(OLLAMA_HOST=f"{host}:{port}", OLLAMA_MODELS=str(models), HOME=str(home), OLLAMA_BIN=str(binary),
               PATH=os.environ["PATH"])
    if "PULL_MODELS" in env:
        env["PULL_MODELS"] = LOCAL_MODEL
    return env


def _local_argv(cmd: list[str], binary: Path, scripts: Path | None = None) -> list[str]:
    out = [str(binary) if part == "/bin/ollama" else part for part in cmd]
    if scripts is not None:
        out = [str(scripts / Path(p).name) if p.startswith("/scripts/") else p for p in out]
    return out


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Sidecar:
    def __init__(self, docs: list[dict], binary: Path, models: Path, home: Path, env: dict[str, str] | None = None):
        self.spec = container(pod_spec(docs), "ollama")
        self.binary = binary
        self.env = env or _local_env(self.spec, docs, binary, models, home, _free_port())
        self.proc = subprocess.Popen(_local_argv(argv(self.spec), binary), env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def probe(self, kind: str) -> int:
        cmd = _local_argv(self.spec[kind]["exec"]["command"], self.binary)
        timeout = self.spec[kind].get("timeoutSeconds", 1)
        return subprocess.run(cmd, env=self.env, capture_output=True, timeout=timeout + 5).returncode

    def wait_started(self) -> float:
        """Runs the startup probe as the kubelet would; returns the seconds it took to pass."""
        sp = self.spec["startupProbe"]
        start = time.monotonic()
        for _ in range(sp["failureThreshold"]):
            if self.probe("startupProbe") == 0:
                return time.monotonic() - start
            assert self.proc.poll() is None, "the sidecar exited"
            time.sleep(min(sp["periodSeconds"], 1))
        pytest.fail("the sidecar's startup probe never passed")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


@pytest.fixture
def sidecars() -> Iterator[list[Sidecar]]:
    started: list[Sidecar] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_sidecar_probes_pass_and_sigterm_stops_it(rendered, overlay, ollama_build, models, tmp_path, sidecars):
    sidecar = Sidecar(rendered[overlay], ollama_build.binary_path(), models, tmp_path)
    sidecars.append(sidecar)
    sidecar.wait_started()
    # Liveness keeps passing while the server runs (the restart loop of issue 15 was a liveness failure).
    assert [sidecar.probe("livenessProbe") for _ in range(3)] == [0, 0, 0]
    # SIGTERM to the process the manifest starts: Ollama's own handler stops it, well within the grace.
    started = time.monotonic()
    code = sidecar.stop()
    assert code is not None, "SIGTERM did not stop the sidecar within 15 s"
    assert code != -signal.SIGTERM, "the default action killed it: nothing handled SIGTERM"
    assert time.monotonic() - started < 15
    # And once it is gone the liveness probe fails (the probe really asks the server).
    assert sidecar.probe("livenessProbe") != 0


def _plant(models: Path) -> tuple[Path, Path]:
    blobs = models / "blobs"
    (blobs / UNREFERENCED_BLOB).write_bytes(b"another pod's layer")
    (blobs / PARTIAL_DOWNLOAD).write_bytes(b"half a layer")
    return blobs / UNREFERENCED_BLOB, blobs / PARTIAL_DOWNLOAD


def test_sidecar_start_keeps_other_pods_downloads(rendered, ollama_build, models, tmp_path, sidecars):
    blob, partial = _plant(models)
    sidecar = Sidecar(rendered["gpu"], ollama_build.binary_path(), models, tmp_path)
    sidecars.append(sidecar)
    sidecar.wait_started()
    sidecar.stop()
    assert blob.exists() and partial.exists(), "the sidecar's start pruned the shared volume"
    # Control: the same start without OLLAMA_NOPRUNE deletes both, so the check above can fail.
    env = {k: v for k, v in sidecar.env.items() if k != "OLLAMA_NOPRUNE"}
    env["OLLAMA_HOST"] = f"127.0.0.1:{_free_port()}"
    control = Sidecar(rendered["gpu"], ollama_build.binary_path(), models, tmp_path, env=env)
    sidecars.append(control)
    control.wait_started()
    control.stop()
    assert not blob.exists() and not partial.exists()


def _pull_step(docs: list[dict], binary: Path, models: Path, tmp_path: Path) -> subprocess.Popen[str]:
    pod = pod_spec(docs)
    spec = container(pod, "ollama-pull")
    scripts = tmp_path / "scripts"
    scripts.mkdir(exist_ok=True)
    mount = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/scripts")
    cm_name = next(v for v in pod["volumes"] if v["name"] == mount["name"])["configMap"]["name"]
    for name, text in one(docs, "ConfigMap", cm_name)["data"].items():
        (scripts / name).write_text(text)
    env = _local_env(spec, docs, binary, models, tmp_path, _free_port())
    return subprocess.Popen(_local_argv(argv(spec), binary, scripts), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line)
            if text in line:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.1)
    pytest.fail(f"no line with {text!r} in {timeout} s: {lines}")


def test_pull_step_waits_for_the_lock_then_downloads_nothing(rendered, overlay, ollama_build, models, tmp_path):
    lock = models / ".pull.lock"
    with open(lock, "a") as held:  # another pod is pulling into the shared volume
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _pull_step(rendered[overlay], ollama_build.binary_path(), models, tmp_path)
        try:
            _wait_for_line(proc, "waiting for another pod's pull", 30)
            time.sleep(2)
            assert proc.poll() is None, "it must wait, not pull alongside the other pod"
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)
    assert proc.wait(timeout=120) == 0
    assert proc.stdout is not None
    output = proc.stdout.read()
    assert f"{LOCAL_MODEL} already present" in output and f"{LOCAL_MODEL} pulled" not in output


def test_pull_step_stops_at_once_on_sigterm(rendered, ollama_build, models, tmp_path):
    lock = models / ".pull.lock"
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = _pull_step(rendered["cpu"], ollama_build.binary_path(), models, tmp_path)
        try:
            _wait_for_line(proc, "waiting for another pod's pull", 30)
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 143
            assert time.monotonic() - started < 3, "the trap must run while waiting, not after"
        finally:
            if proc.poll() is None:
                proc.kill()
            fcntl.flock(held, fcntl.LOCK_UN)


def _outward_address() -> str:
    """This machine's address on its default route: what a pod IP is to the kubelet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the kernel only picks a route
        return str(s.getsockname()[0])


def test_an_http_probe_to_the_pod_ip_would_be_refused(rendered, ollama_build, models, tmp_path, sidecars):
    # Why the probes are exec: the kubelet's httpGet goes to the pod IP, and the sidecar listens on
    # loopback only. Reproduced with this machine's outward address standing in for the pod IP.
    sidecar = Sidecar(rendered["gpu"], ollama_build.binary_path(), models, tmp_path)
    sidecars.append(sidecar)
    sidecar.wait_started()
    port = int(sidecar.env["OLLAMA_HOST"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass  # the loopback listener answers
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((_outward_address(), port), timeout=3).close()
    sidecar.stop()
