"""The Ollama containers of the pod (issue 15, items 1, 2, 6 and 9), read from the rendered overlays.

1. The sidecar's probes must reach the listener its OLLAMA_HOST opens: an httpGet/tcpSocket probe goes to
   the pod IP, so it needs a non-loopback bind; an exec probe runs the Ollama CLI, which dials OLLAMA_HOST.
2. No Ollama server prunes the models volume at start (OLLAMA_NOPRUNE), and models are pulled once, by
   an init step holding a lock, not by the serving sidecar of every pod.
6. SIGTERM reaches Ollama: PID 1 is the server itself, not a shell that drops the signal.
9. The deployed Ollama is the version the real-server tests build (testkit/local_ollama).
The same containers are run for real in test_k8s_ollama_real.py.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from .conftest import K8S, OVERLAYS, ROOT, argv, container, ollama_containers, one, plain_env, pod_spec

SHELLS = {"sh", "bash", "dash", "ash"}
# Ollama CLI subcommands that connect to the server named by OLLAMA_HOST and fail when it does not answer.
CLIENT_SUBCOMMANDS = {"list", "ls", "ps"}
PULL_SCRIPT = K8S / "base" / "ollama-pull.sh"


def _bind(ollama_host: str) -> tuple[str, int]:
    """The address `ollama serve` listens on for an OLLAMA_HOST value (envconfig.Host: default port 11434)."""
    parts = urlsplit(ollama_host if "://" in ollama_host else "http://" + ollama_host)
    return parts.hostname or "", parts.port or 11434


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def _probes(c: dict) -> dict[str, dict]:
    return {kind: c[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe") if kind in c}


def _probe_problem(probe: dict, ollama_host: str, ports: dict[str, int]) -> str | None:
    host, port = _bind(ollama_host)
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if kind in probe:
            target = probe[kind]["port"]
            target = ports.get(target, target) if isinstance(target, str) else target
            if _is_loopback(host) or not (_is_wildcard(host) or probe[kind].get("host") == host):
                return f"{kind} goes to the pod IP, but OLLAMA_HOST={ollama_host} listens on {host} only"
            if target != port:
                return f"{kind} port {target} != the server's port {port}"
            return None
    if "exec" in probe:
        cmd = probe["exec"]["command"]
        if PurePosixPath(cmd[0]).name != "ollama" or len(cmd) < 2 or cmd[1] not in CLIENT_SUBCOMMANDS:
            return f"exec {cmd} does not ask the server (expected the ollama CLI: {sorted(CLIENT_SUBCOMMANDS)})"
        return None
    return f"unknown probe {probe}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sidecar_probes_reach_the_listener_ollama_host_opens(rendered, overlay):
    sidecar = container(pod_spec(rendered[overlay]), "ollama")
    ollama_host = plain_env(sidecar)["OLLAMA_HOST"]
    ports = {p["name"]: p["containerPort"] for p in sidecar.get("ports", []) if "name" in p}
    probes = _probes(sidecar)
    assert {"startupProbe", "livenessProbe"} <= set(probes), "the sidecar needs startup and liveness probes"
    problems = {kind: _probe_problem(p, ollama_host, ports) for kind, p in probes.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_probe_check_rejects_the_shapes_that_restart_loop():
    # The rule above, on the shapes issue 15 describes: an httpGet against a loopback bind, and a startup
    # probe that only looks for a file (passes while nothing answers).
    assert _probe_problem({"httpGet": {"path": "/api/version", "port": 11434}}, "127.0.0.1:11434", {})
    assert _probe_problem({"exec": {"command": ["test", "-f", "/tmp/models-ready"]}}, "127.0.0.1:11434", {})
    assert _probe_problem({"httpGet": {"path": "/", "port": 11434}}, "0.0.0.0:11434", {}) is None
    assert _probe_problem({"exec": {"command": ["/bin/ollama", "list"]}}, "127.0.0.1:11434", {}) is None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_ollama_server_prunes_the_models_volume(rendered, overlay):
    containers = ollama_containers(pod_spec(rendered[overlay]))
    assert {c["name"] for c in containers} == {"ollama-pull", "ollama"}
    for c in containers:
        # envconfig.Bool: "1"/"true" (strconv.ParseBool) turn pruning off.
        assert plain_env(c).get("OLLAMA_NOPRUNE", "").lower() in ("1", "true"), c["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_models_are_pulled_by_one_init_step_under_a_lock(rendered, overlay):
    docs = rendered[overlay]
    pod = pod_spec(docs)
    names = [c["name"] for c in pod["initContainers"]]
    assert names.index("ollama-pull") < names.index("ollama"), "pull before the sidecar serves"
    pull = container(pod, "ollama-pull")
    sidecar = container(pod, "ollama")
    assert "restartPolicy" not in pull, "a regular (run-to-completion) init container"
    assert "pull" not in " ".join(argv(sidecar)), "the serving sidecar must not pull"
    # The pull step runs ollama-pull.sh from the generated ConfigMap, against the same models volume.
    script_mount = next(m for m in pull["volumeMounts"] if argv(pull)[-1].startswith(m["mountPath"] + "/"))
    volume = next(v for v in pod["volumes"] if v["name"] == script_mount["name"])
    script = one(docs, "ConfigMap", volume["configMap"]["name"])["data"][PurePosixPath(argv(pull)[-1]).name]
    assert script == PULL_SCRIPT.read_text()
    models = plain_env(pull)["OLLAMA_MODELS"]
    assert models == plain_env(sidecar)["OLLAMA_MODELS"]
    mount = {m["mountPath"]: m["name"] for m in pull["volumeMounts"]}
    assert mount[models] == {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}[models]
    pull_models = next(e for e in pull["env"] if e["name"] == "PULL_MODELS")
    assert pull_models["valueFrom"]["configMapKeyRef"]["key"] == "OLLAMA_MODEL"


def test_pull_script_locks_before_it_pulls():
    lines = [ln.strip() for ln in PULL_SCRIPT.read_text().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    lock = next(i for i, ln in enumerate(lines) if re.search(r"\bflock\b", ln))
    serve = next(i for i, ln in enumerate(lines) if re.search(r"\bserve\b", ln))
    pull = next(i for i, ln in enumerate(lines) if re.search(r"OLLAMA_BIN\"? pull\b", ln))
    assert lock < serve < pull
    assert "export OLLAMA_NOPRUNE=1" in lines


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sigterm_reaches_ollama(rendered, overlay):
    pod = pod_spec(rendered[overlay])
    sidecar = container(pod, "ollama")
    cmd = argv(sidecar)
    # PID 1 is the server (no shell between the kubelet's SIGTERM and Ollama's handler).
    assert PurePosixPath(cmd[0]).name == "ollama" and cmd[1:] == ["serve"], cmd
    # The pull step is a shell script: it must trap TERM (and stop its private server).
    pull = container(pod, "ollama-pull")
    assert PurePosixPath(argv(pull)[0]).name in SHELLS
    assert re.search(r"^trap .*\bTERM\b", PULL_SCRIPT.read_text(), re.MULTILINE)


def _tested_ollama_version() -> str:
    text = (ROOT / "testkit" / "local_ollama" / "build.py").read_text()
    match = re.search(r'^OLLAMA_VERSION = "([0-9.]+)"', text, re.MULTILINE)
    assert match, "testkit/local_ollama/build.py must define OLLAMA_VERSION"
    return match.group(1)


def _tag_and_digest(image: str) -> tuple[str, str | None]:
    name, _, digest = image.partition("@")
    assert ":" in name.rsplit("/", 1)[-1], f"{image}: no tag"
    return name.rsplit(":", 1)[1], digest or None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployed_ollama_is_the_tested_version(rendered, overlay):
    tested = _tested_ollama_version()
    for c in ollama_containers(pod_spec(rendered[overlay])):
        tag, digest = _tag_and_digest(c["image"])
        assert tag == tested, f"{c['name']} runs ollama/ollama:{tag}; the tests run {tested}"
        if digest is not None:
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), c["image"]


def test_compose_ollama_is_the_tested_version():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    images = {svc["image"] for svc in compose["services"].values() if "ollama/ollama" in svc.get("image", "")}
    assert images
    assert {_tag_and_digest(i)[0] for i in images} == {_tested_ollama_version()}


def _as_pod_user(pod: dict, cmd: list[str]) -> list[str]:
    """cmd as the pod's uid/gid (setpriv when we are root: root would ignore the permission bits)."""
    if os.geteuid() != 0:
        return cmd
    sc = pod["securityContext"]
    return ["setpriv", f"--reuid={sc['runAsUser']}", f"--regid={sc['runAsGroup']}",
            f"--groups={sc['fsGroup']}", *cmd]


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A temp dir the pod's uid can traverse (pytest's tmp_path sits under a root-only folder)."""
    path = Path(tempfile.mkdtemp(prefix="models-volume-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_pull_step_names_a_volume_that_ignores_fsgroup(rendered, reachable_dir):
    # An NFS export that ignores fsGroup: owned by root, not writable by the pod's uid or fsGroup. The
    # pull step must stop at once and say so (before: the sidecar crash-looped on an unwritable /models).
    pod = pod_spec(rendered["gpu"])
    models = reachable_dir / "models"
    models.mkdir()
    models.chmod(0o555)
    env = {"PATH": os.environ["PATH"], "OLLAMA_MODELS": str(models), "PULL_MODELS": "llava:7b",
           "OLLAMA_BIN": "/nonexistent/ollama"}
    proc = subprocess.run(_as_pod_user(pod, ["sh", str(PULL_SCRIPT)]), env=env, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 1
    assert f"cannot write {models}" in proc.stderr and "fsGroup" in proc.stderr
    # Control: the same volume made writable for the pod's fsGroup gets past the check to the lock.
    if os.geteuid() == 0:
        os.chown(models, 0, pod["securityContext"]["fsGroup"])
    models.chmod(0o775)
    proc = subprocess.run(_as_pod_user(pod, ["sh", str(PULL_SCRIPT)]), env=env, capture_output=True, text=True,
                          timeout=30)
    assert "cannot write" not in proc.stderr and (models / ".pull.lock").exists()
