"""Kubernetes manifests: both overlays render, built-in kinds validate against the 1.37 schemas, and the
CRD kinds (KEDA ScaledObject, ServiceMonitor) and the pod spec have what the design relies on."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from .conftest import EXPECTED_PARTITIONS, K8S, OVERLAYS, one

K8S_VERSION = "1.37.0"
CRD_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication"),
             ("monitoring.coreos.com/v1", "ServiceMonitor")}
# The models PersistentVolumeClaim exists only with the shared-RWX storage choice (test_k8s_policies.py).
EXPECTED_KINDS = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                  "NetworkPolicy", "ScaledObject", "ServiceMonitor"}


def _pod(docs):
    return one(docs, "Deployment", "models-processor")["spec"]["template"]["spec"]


def _container(pod, name):
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        if c["name"] == name:
            return c
    raise AssertionError(f"no container {name}")


def _config(docs):
    return one(docs, "ConfigMap", "models-processor-config")["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_expected_kinds(rendered, overlay):
    kinds = {d["kind"] for d in rendered[overlay]}
    assert kinds >= EXPECTED_KINDS, EXPECTED_KINDS - kinds
    assert "Secret" not in kinds, "the SASL Secret is created per cluster, never rendered from the repo"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_kinds_validate_strict(rendered, overlay):
    checked = 0
    for doc in rendered[overlay]:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= 6


def test_example_files_validate_and_stay_out_of_base():
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in base["resources"]
    assert "keda-triggerauth.example.yaml" not in base["resources"]
    secret = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
    auth = yaml.safe_load((K8S / "base" / "keda-triggerauth.example.yaml").read_text())
    assert auth["apiVersion"] == "keda.sh/v1alpha1" and auth["kind"] == "TriggerAuthentication"
    params = {r["parameter"] for r in auth["spec"]["secretTargetRef"]}
    assert {"sasl", "username", "password"} <= params
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaledobject(rendered, overlay):
    docs = rendered[overlay]
    so = one(docs, "ScaledObject", "models-processor")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    spec = so["spec"]
    target = spec["scaleTargetRef"]
    assert target["name"] == one(docs, "Deployment")["metadata"]["name"]
    assert target.get("kind", "Deployment") == "Deployment"
    partitions = int(so["metadata"]["annotations"]["models-processor/topic-partitions"])
    assert partitions == EXPECTED_PARTITIONS
    assert spec["minReplicaCount"] >= 1, "the group may never have committed: keep one replica"
    assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= partitions
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    triggers = spec["triggers"]
    assert len(triggers) == 1 and triggers[0]["type"] == "kafka"
    meta = triggers[0]["metadata"]
    for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
        assert meta.get(key), f"kafka trigger needs {key}"
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata values are strings"
    assert meta.get("allowIdleConsumers", "false") == "false"
    config = _config(docs)
    assert meta["consumerGroup"] == config["CONSUMER_GROUP"]
    assert meta["topic"] == config["LOCAL_MODEL_KAFKA_TOPIC"]
    assert meta["bootstrapServers"] == config["BOOTSTRAP_SERVER"]
    # Documented formula: lagThreshold = CONCURRENT_REQUESTS x queue factor.
    factor = int(so["metadata"]["annotations"]["models-processor/queue-factor"])
    assert int(meta["lagThreshold"]) == int(config["CONCURRENT_REQUESTS"]) * factor


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor(rendered, overlay):
    docs = rendered[overlay]
    sm = one(docs, "ServiceMonitor", "models-processor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    svc = one(docs, "Service", "models-processor")
    labels = svc["metadata"]["labels"]
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        assert labels.get(k) == v, "ServiceMonitor selector must match the Service's labels"
    ports = {p["name"] for p in svc["spec"]["ports"]}
    assert sm["spec"]["endpoints"], "at least one endpoint"
    for ep in sm["spec"]["endpoints"]:
        assert ep["port"] in ports and ep.get("path", "/metrics") == "/metrics"
    # The Service reaches the processor's HTTP port.
    pod = _pod(docs)
    http = {p["name"]: p["containerPort"] for p in _container(pod, "processor")["ports"]}
    assert svc["spec"]["ports"][0]["targetPort"] in http or svc["spec"]["ports"][0]["targetPort"] in http.values()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_spec(rendered, overlay):
    docs = rendered[overlay]
    pod = _pod(docs)
    config = _config(docs)
    assert pod["terminationGracePeriodSeconds"] > float(config["SHUTDOWN_GRACE_SECONDS"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    proc = _container(pod, "processor")
    sidecar = _container(pod, "ollama")
    assert sidecar in pod["initContainers"] and sidecar["restartPolicy"] == "Always", "native sidecar"
    for c in (proc, sidecar):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["requests"] and c["resources"]["limits"]
        assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])
    # Probes: liveness /health, readiness /ready, a startup probe.
    assert proc["livenessProbe"]["httpGet"]["path"] == "/health"
    assert proc["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert "startupProbe" in proc
    # A first model pull (~4.7 GB) happens in the ollama-pull init step, before the sidecar: its time
    # limit per attempt allows >= 30 min (init containers have no probes to kill it earlier).
    pull_env = {e["name"]: e.get("value") for e in _container(pod, "ollama-pull")["env"]}
    assert int(pull_env["PULL_TIMEOUT_SECONDS"]) >= 30 * 60
    # Dynamic membership, so a stopping pod leaves the group (a static member would not: docs/DEPLOYMENT.md);
    # the pod name is the replica's identity for the default TRANSACTIONAL_ID.
    env = {e["name"]: e for e in proc.get("env", [])}
    assert "KAFKA_GROUP_INSTANCE_ID" not in env and "KAFKA_GROUP_INSTANCE_ID" not in config
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert config["OLLAMA_HOST"] == "http://localhost:11434"
    # The models volume (a claim or a per-pod ephemeral one) mounted in the sidecar where OLLAMA_MODELS points.
    sidecar_env = {e["name"]: e.get("value") for e in sidecar["env"]}
    model_vols = {v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v or "ephemeral" in v}
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"] if m["name"] in model_vols}
    assert sidecar_env.get("OLLAMA_MODELS") in mounts
    for v in pod["volumes"]:
        if "persistentVolumeClaim" in v:
            one(docs, "PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"])
    assert "nvidia.com/gpu" not in proc["resources"].get("limits", {}), "only the sidecar gets the GPU"


def test_gpu_only_in_gpu_overlay(rendered):
    gpu = _container(_pod(rendered["gpu"]), "ollama")["resources"]["limits"]
    cpu = _container(_pod(rendered["cpu"]), "ollama")["resources"]["limits"]
    assert str(gpu.get("nvidia.com/gpu")) == "1"
    assert "nvidia.com/gpu" not in cpu
    assert _pod(rendered["gpu"]).get("tolerations"), "GPU nodes are usually tainted"


def _cpu_cores(value: str) -> float:
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def test_cpu_overlay_gives_sidecar_more_cpu(rendered):
    gpu = _container(_pod(rendered["gpu"]), "ollama")["resources"]["requests"]
    cpu = _container(_pod(rendered["cpu"]), "ollama")["resources"]["requests"]
    assert _cpu_cores(cpu["cpu"]) > _cpu_cores(gpu["cpu"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdb_does_not_block_single_replica_drain(rendered, overlay):
    pdb = one(rendered[overlay], "PodDisruptionBudget")["spec"]
    assert "maxUnavailable" in pdb and "minAvailable" not in pdb


def _env_value(container, config, name):
    """What `name` resolves to in a container: its own env (literal or ConfigMap key), else its envFrom."""
    for entry in container.get("env", []):
        if entry["name"] == name:
            if "value" in entry:
                return entry["value"]
            return config.get(entry["valueFrom"]["configMapKeyRef"]["key"])
    if any("configMapRef" in ref for ref in container.get("envFrom", [])):
        return config.get(name)
    return None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_processor_knows_the_sidecars_parallel_slots(rendered, overlay):
    # The client caps its calls per server at OLLAMA_NUM_PARALLEL (default 1, Ollama's own default): a
    # processor that does not see the sidecar's value sends one call at a time to a server with more slots.
    pod, config = _pod(rendered[overlay]), _config(rendered[overlay])
    sidecar = _env_value(_container(pod, "ollama"), config, "OLLAMA_NUM_PARALLEL")
    processor = _env_value(_container(pod, "processor"), config, "OLLAMA_NUM_PARALLEL")
    assert sidecar is not None and int(sidecar) >= 1
    assert processor == sidecar
