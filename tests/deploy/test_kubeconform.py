"""kubeconform (strict) on both rendered overlays for Kubernetes 1.29, 1.33 and 1.37, fully offline.

Built-in kinds: the schemas the kubernetes-validate wheel ships, made standalone by
deploy/tools/k8s_schemas.py. CRD kinds: the KEDA and Prometheus Operator CRDs kept in tests/deploy/crds/
(upstream versions in its README). No -ignore-missing-schemas: a kind without a schema is an error, and
no remote schema location is given, so nothing is fetched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import K8S, OVERLAYS, ROOT, installed_tool

K8S_VERSIONS = ("1.29.0", "1.33.0", "1.37.0")
CRDS = sorted((ROOT / "tests" / "deploy" / "crds").glob("*.yaml"))
SCRIPT = ROOT / "deploy" / "tools" / "k8s_schemas.py"


@pytest.fixture(scope="session")
def kubeconform() -> Path:
    return installed_tool("kubeconform")


@pytest.fixture(scope="session")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kubeconform-schemas")
    for args in (["builtin", str(out), *K8S_VERSIONS], ["crd", str(out), *map(str, CRDS)]):
        proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    return out


def run_kubeconform(kubeconform: Path, schemas: Path, version: str, *files: Path) -> tuple[int, list[dict]]:
    proc = subprocess.run(
        [str(kubeconform), "-strict", "-output", "json", "-summary", "-verbose", "-kubernetes-version", version,
         "-schema-location",
         f"{schemas}/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/"
         "{{ .ResourceKind }}{{ .KindSuffix }}.json",
         "-schema-location", f"{schemas}/crds/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
         *map(str, files)],
        capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    return proc.returncode, report["resources"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid(kubeconform, schemas, rendered_files, overlay, version):
    code, resources = run_kubeconform(kubeconform, schemas, version, rendered_files[overlay])
    bad = [(r["kind"], r["name"], r["status"], r.get("msg")) for r in resources if r["status"] != "statusValid"]
    assert code == 0 and bad == []
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "ScaledObject", "ServiceMonitor", "NetworkPolicy", "PodDisruptionBudget"} <= kinds


def test_example_files_are_valid(kubeconform, schemas):
    files = [K8S / "base" / "secret.example.yaml", K8S / "base" / "keda-triggerauth.example.yaml"]
    code, resources = run_kubeconform(kubeconform, schemas, K8S_VERSIONS[-1], *files)
    assert code == 0 and {r["kind"] for r in resources if r["status"] == "statusValid"} == {
        "Secret", "TriggerAuthentication"}


def test_kubeconform_catches_typos_in_builtin_and_crd_kinds(kubeconform, schemas, rendered_files, tmp_path):
    # Proof the schemas are really applied, strictly: one unknown field in each kind family.
    docs = [d for d in yaml.safe_load_all(rendered_files["gpu"].read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["initContainers"][1]["livenessprobe"] = {}
        elif doc["kind"] == "ScaledObject":
            doc["spec"]["triggers"][0]["metadat"] = {"topic": "x"}
        elif doc["kind"] == "ServiceMonitor":
            doc["spec"]["endpoints"][0]["intervall"] = "30s"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(docs))
    code, resources = run_kubeconform(kubeconform, schemas, K8S_VERSIONS[0], bad)
    invalid = {r["kind"]: r["msg"] for r in resources if r["status"] == "statusInvalid"}
    assert code != 0
    assert set(invalid) == {"Deployment", "ScaledObject", "ServiceMonitor"}
    assert "livenessprobe" in invalid["Deployment"] and "metadat" in invalid["ScaledObject"]
    assert "intervall" in invalid["ServiceMonitor"]


def test_crd_sources_are_noted():
    readme = (ROOT / "tests" / "deploy" / "crds" / "README.md").read_text()
    for crd in CRDS:
        assert crd.name in readme, f"{crd.name}: note its upstream source and version in crds/README.md"
