"""checkov on both rendered overlays (`kustomize build` output), offline, with k8s/checkov.yaml: every
check passes except the few that file skips, each with its reason there."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import K8S, OVERLAYS, ROOT, installed_tool

CONFIG = K8S / "checkov.yaml"


@pytest.fixture(scope="session")
def checkov() -> Path:
    return installed_tool("checkov")


def run_checkov(checkov: Path, directory: Path) -> tuple[int, dict]:
    # Offline: --skip-download (in the config) and a dead proxy, so any attempt to reach the network fails
    # instead of silently succeeding on a machine that has one.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    proc = subprocess.run([str(checkov), "--config-file", str(CONFIG), "-d", str(directory), "-o", "json"],
                          capture_output=True, text=True, timeout=600, env=env)
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "kubernetes")
    return proc.returncode, report


def _failed(report: dict) -> list[tuple[str, str]]:
    return [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlay_passes_checkov(checkov, rendered_files, tmp_path, overlay):
    (tmp_path / f"{overlay}.yaml").write_text(rendered_files[overlay].read_text())
    code, report = run_checkov(checkov, tmp_path)
    assert _failed(report) == [] and code == 0
    summary = report["summary"]
    assert summary["resource_count"] >= 10 and summary["passed"] >= 50
    _justified_skips()


def _justified_skips() -> set[str]:
    """The skip list, where each entry has a comment right above it."""
    lines = CONFIG.read_text().splitlines()
    ids = set()
    for i, line in enumerate(lines):
        match = re.match(r"\s*-\s*(CKV2?_[A-Z0-9_]+)\s*$", line)
        if match:
            assert i > 0 and lines[i - 1].strip().startswith("#"), f"{match.group(1)}: justify the skip"
            ids.add(match.group(1))
    assert ids == set(yaml.safe_load(CONFIG.read_text())["skip-check"])
    return ids


def test_checkov_fails_a_weakened_pod(checkov, rendered_files, tmp_path):
    # The same run fails once the pod loses its hardening: the check is live, not a formality.
    docs = [d for d in yaml.safe_load_all(rendered_files["gpu"].read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            sc = doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]
            sc["allowPrivilegeEscalation"] = True
            sc["readOnlyRootFilesystem"] = False
    (tmp_path / "weak.yaml").write_text(yaml.safe_dump_all(docs))
    code, report = run_checkov(checkov, tmp_path)
    failed = {check for check, _ in _failed(report)}
    assert code != 0
    assert {"CKV_K8S_20", "CKV_K8S_22"} <= failed  # privilege escalation, read-only root filesystem


def test_dockerfile_passes_checkov(checkov):
    # Skips in the Dockerfile itself are `# checkov:skip=ID: reason` comments; each must give a reason.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([str(checkov), "-f", str(ROOT / "Dockerfile"), "--framework", "dockerfile", "--skip-download",
                           "-o", "json"], capture_output=True, text=True, timeout=600, env=env)
    report = json.loads(proc.stdout)
    assert _failed(report) == [] and proc.returncode == 0
    assert report["summary"]["passed"] >= 50
    for check in report["results"].get("skipped_checks", []):
        assert len(check["check_result"]["suppress_comment"].strip()) > 20, f"{check['check_id']}: say why it is skipped"
