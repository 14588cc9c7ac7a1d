"""The Kafka pre-flight Job (k8s/components/kafka-preflight-job), built into each overlay the way a pipeline
would build it: `doctor --only kafka --wait 300` once (restartPolicy Never, no retried pod), with the
processor's image, ConfigMap and Kafka Secret keys; its pod gets the processor's Kafka and DNS egress but no
Service or PodDisruptionBudget; `-l models-processor/preflight=kafka` picks exactly what it needs; and the
rendered result passes kubeconform and checkov. Then its command, with the rendered ConfigMap, against the
local Kafka broker: it passes with the topics there and fails, naming the topic, without one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from models_processor.cli import build_parser
from models_processor.doctor.command import parts

from .conftest import K8S, OVERLAYS, ROOT, argv, container, installed_tool, kustomize_build, one, pod_spec, render
from .test_checkov import run_checkov
from .test_kubeconform import SCRIPT, run_kubeconform

COMPONENT = K8S / "components" / "kafka-preflight-job"
JOB = "models-processor-kafka-preflight"
SELECTOR = ("models-processor/preflight", "kafka")


def _pipeline(root: Path, overlay: Path, component: Path) -> Path:
    """The kustomization a pipeline keeps beside the repo: an overlay plus the component."""
    root.mkdir(parents=True)
    (root / "kustomization.yaml").write_text(
        f"resources:\n  - {os.path.relpath(overlay, root)}\ncomponents:\n  - {os.path.relpath(component, root)}\n")
    return root


@pytest.fixture(scope="module")
def with_job(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("kafka-preflight")
    return {name: render(kustomize, _pipeline(out / name, K8S / "overlays" / name, COMPONENT)) for name in OVERLAYS}


def _job(docs: list[dict]) -> dict:
    return one(docs, "Job", JOB)


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels, matchExpressions) against a pod's labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if {"In": not (present and labels[key] in values), "NotIn": present and labels[key] in values,
                "Exists": not present, "DoesNotExist": present}[operator]:
            return False
    return True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_job_runs_doctor_on_kafka_once_with_the_processors_image_config_and_secret(with_job, overlay):
    docs = with_job[overlay]
    job = _job(docs)
    pod = job["spec"]["template"]["spec"]
    [doctor] = pod["containers"]
    assert argv(doctor) == ["doctor", "--only", "kafka", "--wait", "300", "--interval", "10"]
    args = build_parser().parse_args(argv(doctor))  # arguments the real CLI takes
    assert args.command == "doctor" and parts(args) == (True, False), "Kafka only: no model server to reach"
    processor = container(pod_spec(docs), "processor")
    assert doctor["image"] == processor["image"] and doctor["image"].startswith("registry.example.com/")
    assert doctor["envFrom"] == processor["envFrom"] == [{"configMapRef": {"name": "models-processor-config"}}]
    secret_env = [e for e in processor["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert len(secret_env) == 4 and all(e in doctor["env"] for e in secret_env), "connects as the service does"
    # One run: a failure is the answer (doctor already checked again for 5 min), not a pod started again.
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] > args.wait
    sc = doctor["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert any(m["mountPath"] == "/tmp" for m in doctor["volumeMounts"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_job_pod_gets_the_processors_kafka_and_dns_egress_and_nothing_meant_for_the_processor(
        with_job, rendered, overlay):
    docs = with_job[overlay]
    job_pod = _job(docs)["spec"]["template"]["metadata"]["labels"]
    processor_pod = one(docs, "Deployment", "models-processor")["spec"]["template"]["metadata"]["labels"]
    policies = {d["metadata"]["name"]: d["spec"]["podSelector"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert {n for n, s in policies.items() if _selects(s, job_pod)} == {
        "models-processor", "models-processor-kafka", "models-processor-dns"}  # not the model download
    assert all(_selects(s, processor_pod) for s in policies.values())  # the processor keeps all of them
    assert not _selects(one(docs, "PodDisruptionBudget")["spec"]["selector"], job_pod)
    assert not _selects({"matchLabels": one(docs, "Service")["spec"]["selector"]}, job_pod)
    # The overlay's own objects are otherwise as they were without the component.
    alone = {(d["kind"], d["metadata"]["name"]): d for d in rendered[overlay]}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Service", "PodDisruptionBudget", "ScaledObject"):
            assert doc == alone[(doc["kind"], doc["metadata"]["name"])]
    kafka = one(docs, "NetworkPolicy", "models-processor-kafka")
    assert kafka["spec"]["egress"] == one(rendered[overlay], "NetworkPolicy", "models-processor-kafka")["spec"]["egress"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_preflight_label_picks_what_the_job_needs(with_job, overlay):
    """`kubectl apply -f release.yaml -l models-processor/preflight=kafka` before the rollout."""
    docs = with_job[overlay]
    key, value = SELECTOR
    picked = {(d["kind"], d["metadata"]["name"]) for d in docs if d["metadata"].get("labels", {}).get(key) == value}
    assert picked == {("Job", JOB), ("ConfigMap", "models-processor-config"),
                      ("NetworkPolicy", "models-processor"), ("NetworkPolicy", "models-processor-kafka"),
                      ("NetworkPolicy", "models-processor-dns")}


def test_component_refuses_to_build_when_a_policy_selects_other_pods(kustomize, tmp_path):
    """The JSON patch's `test`: a base whose policy selects something else fails the build rather than
    silently widening that policy to the Job's pods."""
    def app(root: Path, selector: str) -> Path:
        shutil.copytree(COMPONENT, root / "component")
        base = root / "base"
        base.mkdir()
        (base / "kustomization.yaml").write_text("resources:\n  - objects.yaml\n")
        (base / "objects.yaml").write_text(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: models-processor\nspec:\n  selector:\n"
            "    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n"
            "      containers:\n        - {name: processor, image: reg/p:1}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: models-processor-config\n  labels: {a: b}\n---\n"
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: models-processor-kafka\n"
            f"  labels: {{a: b}}\nspec:\n  podSelector: {selector}\n  policyTypes: [Egress]\n")
        return _pipeline(root / "pipeline", base, root / "component")

    good = kustomize_build(kustomize, app(tmp_path / "good", "{matchLabels: {app.kubernetes.io/name: models-processor}}"))
    assert good.returncode == 0, good.stderr
    built = [d for d in yaml.safe_load_all(good.stdout) if d]
    assert _job(built)["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/p:1"
    moved = kustomize_build(kustomize, app(tmp_path / "other", "{}"))
    assert moved.returncode != 0 and "test" in moved.stderr.lower()


@pytest.fixture(scope="module")
def rendered_with_job(kustomize: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kafka-preflight-files")
    files = {}
    for name in OVERLAYS:
        proc = kustomize_build(kustomize, _pipeline(out / "src" / name, K8S / "overlays" / name, COMPONENT))
        assert proc.returncode == 0, proc.stderr
        (out / name).mkdir()
        files[name] = out / name / f"{name}.yaml"
        files[name].write_text(proc.stdout)
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_with_the_job_passes_kubeconform_and_checkov(rendered_with_job, tmp_path, overlay):
    schemas = tmp_path / "schemas"
    for args in (["builtin", str(schemas), "1.33.0"], ["crd", str(schemas),
                                                       *map(str, sorted((ROOT / "tests/deploy/crds").glob("*.yaml")))]):
        proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    code, resources = run_kubeconform(installed_tool("kubeconform"), schemas, "1.33.0", rendered_with_job[overlay])
    assert code == 0 and [r for r in resources if r["status"] != "statusValid"] == []
    assert ("Job", JOB) in {(r["kind"], r["name"]) for r in resources}
    code, report = run_checkov(installed_tool("checkov"), rendered_with_job[overlay].parent)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == [] and code == 0


def test_checkov_looks_at_the_job(rendered_with_job, tmp_path):
    """The run above checked the Job too: the same file with the Job's root filesystem writable fails."""
    docs = [d for d in yaml.safe_load_all(rendered_with_job["gpu"].read_text()) if d]
    _job(docs)["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    (tmp_path / "weakened.yaml").write_text(yaml.safe_dump_all(docs))
    code, report = run_checkov(installed_tool("checkov"), tmp_path)
    failed = {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}
    assert code != 0 and failed == {("CKV_K8S_22", f"Job.default.{JOB}")}


TOPIC_KEYS = ("LOCAL_MODEL_KAFKA_TOPIC", "PHOTO_RESPONSE_TOPIC", "TEXT_RESPONSE_TOPIC", "DLQ_TOPIC")


def _run_job_command(with_job, kafka_bootstrap, kafka_topic_factory, *, short_wait: bool = False,
                     **overrides: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """The rendered Job's argv and ConfigMap, run as the image runs them (ENTRYPOINT python -m
    models_processor); short_wait: --wait 2 --interval 1 in place of the manifest's 300 s and 10 s."""
    docs = with_job["gpu"]
    [doctor] = _job(docs)["spec"]["template"]["spec"]["containers"]
    [source] = doctor["envFrom"]
    env = dict(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    # The cluster's broker and topics swapped for the local ones; the model server left as rendered
    # (localhost:11434, where nothing listens here): --only kafka must not try it.
    env.update({key: kafka_topic_factory(prefix="kafkajob", config={"max.message.bytes": str(16 * 1024 * 1024)})
                for key in TOPIC_KEYS})
    env.update({"BOOTSTRAP_SERVER": kafka_bootstrap, "CONSUMER_GROUP": f"kafkajob-{time.monotonic_ns()}",
                **overrides})
    command = argv(doctor)
    if short_wait:
        command[command.index("--wait") + 1], command[command.index("--interval") + 1] = "2", "1"
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "ORT_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run([sys.executable, "-m", "models_processor", *command], env={**base, **env},
                          capture_output=True, text=True, timeout=240)
    return proc, env


def test_job_command_passes_against_a_ready_broker(with_job, kafka_bootstrap, kafka_topic_factory):
    proc, env = _run_job_command(with_job, kafka_bootstrap, kafka_topic_factory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[OK  ] kafka.connection" in proc.stdout and f"kafka.topic.{env['DLQ_TOPIC']}" in proc.stdout
    assert "model." not in proc.stdout, "Kafka only"


def test_job_command_fails_naming_a_missing_topic(with_job, kafka_bootstrap, kafka_topic_factory):
    missing = f"kafkajob-missing-{time.monotonic_ns()}"
    proc, _ = _run_job_command(with_job, kafka_bootstrap, kafka_topic_factory, short_wait=True, DLQ_TOPIC=missing)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("checking again in") >= 1  # it waited for the topic before failing
    assert f"DLQ topic '{missing}' does not exist" in proc.stdout
