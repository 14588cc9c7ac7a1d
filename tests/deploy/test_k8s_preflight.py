"""The pre-flight gate (k8s/components/preflight): doctor runs as a regular init container after the Ollama
native sidecar, so it can reach the loopback-only model server, with the processor's own image, settings and
Kafka credentials, and its arguments are ones the real CLI takes."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from models_processor.cli import build_parser
from models_processor.doctor.command import parts

from .conftest import K8S, OVERLAYS, argv, container, kustomize_build, one, pod_spec


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_doctor_runs_after_the_sidecar_has_started_and_before_the_processor(rendered, overlay):
    docs = rendered[overlay]
    pod = pod_spec(docs)
    names = [c["name"] for c in pod["initContainers"]]
    assert names == ["ollama-pull", "ollama", "preflight"]
    sidecar, preflight = container(pod, "ollama"), container(pod, "preflight")
    # The kubelet starts the next init container only once a sidecar's startupProbe has passed.
    assert sidecar["restartPolicy"] == "Always" and "startupProbe" in sidecar
    assert "restartPolicy" not in preflight, "a regular init container: it must finish before the processor"
    processor = container(pod, "processor")
    assert preflight["image"] == processor["image"] and preflight["image"].startswith("registry.example.com/")
    assert preflight["envFrom"] == processor["envFrom"]
    secret_env = [e for e in processor["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert secret_env and all(e in preflight["env"] for e in secret_env), "doctor connects as the service does"
    config = one(docs, "ConfigMap", "models-processor-config")["data"]
    assert config["OLLAMA_HOST"].startswith("http://localhost:"), "the sidecar, reachable from the same pod"
    sc = preflight["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert preflight["resources"]["requests"] and preflight["resources"]["limits"]
    assert any(m["mountPath"] == "/tmp" for m in preflight["volumeMounts"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_preflight_arguments_are_a_full_doctor_run_that_waits(rendered, overlay):
    preflight = container(pod_spec(rendered[overlay]), "preflight")
    args = build_parser().parse_args(argv(preflight))
    assert args.command == "doctor"
    assert parts(args) == (True, True), "Kafka and the model: both"
    # It waits out a broker or topic still being set up, within the processor's own start-up allowance.
    assert 60 <= args.wait <= 600 and 0 < args.interval < args.wait


def _build_with_component(kustomize, root, init_containers: str) -> subprocess.CompletedProcess[str]:
    shutil.copytree(K8S / "components" / "preflight", root / "preflight")
    app = root / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\ncomponents:\n  - ../preflight\n")
    (app / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: models-processor\nspec:\n  selector:\n"
        "    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n"
        f"      initContainers:\n{init_containers}"
        "      containers:\n        - {name: processor, image: reg/p:1}\n")
    return kustomize_build(kustomize, app)


def test_component_refuses_to_build_when_the_sidecar_is_not_where_it_expects(kustomize, tmp_path):
    # The JSON patch's `test` guards the order: with the sidecar moved, the build fails instead of running
    # doctor before Ollama is up. The same files in the expected order build, with the processor's image.
    pull = "        - {name: ollama-pull, image: ollama/ollama}\n"
    sidecar = "        - {name: ollama, image: ollama/ollama, restartPolicy: Always}\n"
    good = _build_with_component(kustomize, tmp_path / "good", pull + sidecar)
    assert good.returncode == 0, good.stderr
    [deployment] = [d for d in yaml.safe_load_all(good.stdout) if d]
    init = deployment["spec"]["template"]["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["ollama-pull", "ollama", "preflight"] and init[2]["image"] == "reg/p:1"
    moved = _build_with_component(kustomize, tmp_path / "moved", sidecar + pull)
    assert moved.returncode != 0 and "test" in moved.stderr.lower()
