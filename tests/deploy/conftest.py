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


def render(kustomize: Path, directory: Path) -> list[dict]:
    proc = subprocess.run([str(kustomize), "build", str(directory)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kustomize build {directory} failed:\n{proc.stderr}"
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs, f"kustomize build {directory} rendered nothing"
    return docs


@pytest.fixture(scope="session")
def rendered(kustomize: Path) -> dict[str, list[dict]]:
    return {name: render(kustomize, K8S / "overlays" / name) for name in OVERLAYS}


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session")
def compose() -> dict:
    with open(ROOT / "deploy" / "docker-compose.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)
