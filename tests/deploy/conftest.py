"""Shared fixtures of the offline deployment checks: repo paths, the pinned kustomize, rendered overlays.

kustomize comes from deploy/tools/install-kustomize.sh (cached under .cache/tools). When it is missing the
fixture runs that script once; if it still cannot be had, the tests FAIL (never skip): a check that
silently does not run is worse than a red build.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("gpu", "cpu")
INSTALL_SCRIPT = ROOT / "deploy" / "tools" / "install-kustomize.sh"
KUSTOMIZE = ROOT / ".cache" / "tools" / "bin" / "kustomize"
TOOLS_BIN = ROOT / ".cache" / "tools" / "bin"
# The request topic's partition count the deployment is sized for (compose topic-init, KEDA cap).
EXPECTED_PARTITIONS = 8


def _kustomize_path() -> Path:
    override = os.environ.get("KUSTOMIZE")
    if override:
        if not Path(override).exists():
            pytest.fail(f"KUSTOMIZE={override} does not exist")
        return Path(override)
    if not KUSTOMIZE.exists():
        proc = subprocess.run(["sh", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"kustomize is missing and {INSTALL_SCRIPT.name} failed:\n{proc.stderr[-3000:]}")
    if not KUSTOMIZE.exists():
        pytest.fail(f"kustomize not found at {KUSTOMIZE}; run deploy/tools/install-kustomize.sh")
    return KUSTOMIZE


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return _kustomize_path()


def installed_tool(name: str) -> Path:
    """A tool from deploy/tools/install-<name>.sh under .cache/tools/bin; installed when missing, and the
    test FAILS (never skips) when it cannot be."""
    path = TOOLS_BIN / name
    script = ROOT / "deploy" / "tools" / f"install-{name}.sh"
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0 or not path.exists():
        pytest.fail(f"{name} is missing and {script.name} failed:\n{proc.stderr[-3000:]}")
    return path


def kustomize_build(kustomize: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """`kustomize build` of a directory, its output and errors kept (a build may be meant to fail)."""
    return subprocess.run([str(kustomize), "build", str(directory)], capture_output=True, text=True, timeout=120)


def render(kustomize: Path, directory: Path) -> list[dict]:
    proc = kustomize_build(kustomize, directory)
    assert proc.returncode == 0, f"kustomize build {directory} failed:\n{proc.stderr}"
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs, f"kustomize build {directory} rendered nothing"
    return docs


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict]]:
    return {name: render(kustomize, K8S / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def rendered_files(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`kustomize build` of each overlay as a file, for the command-line checkers."""
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name in OVERLAYS:
        proc = kustomize_build(kustomize, K8S / "overlays" / name)
        assert proc.returncode == 0, proc.stderr
        files[name] = out / f"{name}.yaml"
        files[name].write_text(proc.stdout)
    return files


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def compose() -> dict:
    with open(ROOT / "deploy" / "docker-compose.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def pod_spec(docs: list[dict]) -> dict:
    return one(docs, "Deployment", "models-processor")["spec"]["template"]["spec"]


def container(pod: dict, name: str) -> dict:
    found = [c for c in pod.get("initContainers", []) + pod.get("containers", []) if c["name"] == name]
    assert len(found) == 1, f"expected one container {name}, found {len(found)}"
    return found[0]


def plain_env(c: dict) -> dict[str, str]:
    """A container's env entries that carry a literal value."""
    return {e["name"]: str(e["value"]) for e in c.get("env", []) if "value" in e}


def argv(c: dict) -> list[str]:
    """What the container runs: command + args (the ollama/ollama image's entrypoint is /bin/ollama)."""
    command = c.get("command")
    if command is None and c["image"].split("@")[0].split(":")[0].endswith("ollama/ollama"):
        command = ["/bin/ollama"]
    return list(command or []) + list(c.get("args", []))


def ollama_containers(pod: dict) -> list[dict]:
    return [c for c in pod.get("initContainers", []) + pod.get("containers", [])
            if c["image"].split("@")[0].split(":")[0].endswith("ollama/ollama")]
