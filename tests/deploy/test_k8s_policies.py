"""Scaling, storage, disruption and network rules of the rendered overlays (issue 15, items 3, 4, 5, 7, 8)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from models_processor.config import load_settings
from models_processor.kafka.client_config import consumer_config

from .conftest import K8S, OVERLAYS, ROOT, container, one, pod_spec, render

NODELOCAL_DNS = ipaddress.ip_network("169.254.20.10/32")
STORAGE_CHOICES = {"shared-rwx", "per-pod-rwo"}


def _config(docs: list[dict]) -> dict[str, str]:
    return one(docs, "ConfigMap", "models-processor-config")["data"]


# --- 3. KEDA's offset reset policy is the consumer's auto.offset.reset ----------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_offset_reset_policy_matches_the_consumer(rendered, overlay):
    docs = rendered[overlay]
    config = _config(docs)
    # The consumer's real configuration for this ConfigMap (a KAFKA_AUTO_OFFSET_RESET would show here).
    consumer = consumer_config(load_settings(config), environ=config)
    trigger = one(docs, "ScaledObject", "models-processor")["spec"]["triggers"][0]["metadata"]
    # KEDA's default is "latest" (pkg/scalers/kafka_scaler.go), so an absent key is "latest".
    assert trigger.get("offsetResetPolicy", "latest") == consumer["auto.offset.reset"]


# --- 4. KEDA owns the replica count ----------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_replicas_in_a_deployment_keda_scales(rendered, overlay):
    docs = rendered[overlay]
    target = one(docs, "ScaledObject", "models-processor")["spec"]["scaleTargetRef"]["name"]
    assert "replicas" not in one(docs, "Deployment", target)["spec"]


# --- 5. An explicit storage choice per overlay -------------------------------------------------------------

def _models_volume(docs: list[dict]) -> dict:
    pod = pod_spec(docs)
    path = next(e["value"] for e in container(pod, "ollama")["env"] if e["name"] == "OLLAMA_MODELS")
    name = next(m["name"] for m in container(pod, "ollama")["volumeMounts"] if m["mountPath"] == path)
    return next(v for v in pod["volumes"] if v["name"] == name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_models_storage_is_an_explicit_choice(rendered, overlay):
    docs = rendered[overlay]
    choice = one(docs, "Deployment", "models-processor")["metadata"].get("annotations", {}).get(
        "models-processor/models-storage")
    assert choice in STORAGE_CHOICES, "the overlay must pick a storage component (k8s/components/)"
    volume = _models_volume(docs)
    if choice == "shared-rwx":
        claim = one(docs, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])["spec"]
        assert claim["accessModes"] == ["ReadWriteMany"]
        # Without a class the claim lands on the cluster default, usually RWO-only: Pending for ever.
        assert claim.get("storageClassName"), "an RWX claim must name its RWX storage class"
    else:
        template = volume["ephemeral"]["volumeClaimTemplate"]["spec"]
        assert template["accessModes"] == ["ReadWriteOnce"]
        # Each pod's own volume is filled by the pod's own pre-pull before Ollama starts.
        names = [c["name"] for c in pod_spec(docs)["initContainers"]]
        assert names.index("ollama-pull") < names.index("ollama")
        assert not any(d["kind"] == "PersistentVolumeClaim" for d in docs), "no shared claim left behind"


def test_both_storage_choices_are_used_and_documented(rendered):
    choices = {one(rendered[o], "Deployment", "models-processor")["metadata"]["annotations"][
        "models-processor/models-storage"] for o in OVERLAYS}
    assert choices == STORAGE_CHOICES
    doc = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    for choice in STORAGE_CHOICES:
        assert f"models-{choice}" in doc, f"docs/DEPLOYMENT.md must describe k8s/components/models-{choice}"
    assert "fsGroup" in doc


# --- 7. Drains do not block on unready pods -----------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pdb_lets_unready_pods_be_evicted(rendered, overlay):
    pdb = one(rendered[overlay], "PodDisruptionBudget")["spec"]
    assert pdb.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"


# --- 8. NetworkPolicy: Kafka and DNS per overlay, the rest narrow -----------------------------------------

def _policies(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}


def _egress_ports(spec: dict) -> set[tuple[str, object]]:
    return {(p.get("protocol", "TCP"), p["port"]) for rule in spec.get("egress", []) for p in rule.get("ports", [])}


def _bootstrap_ports(config: dict[str, str]) -> set[int]:
    return {int(hostport.rsplit(":", 1)[1]) for hostport in config["BOOTSTRAP_SERVER"].split(",")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_and_dns_rules_come_from_the_overlay(rendered, overlay):
    docs = rendered[overlay]
    policies = _policies(docs)
    overlay_dir = K8S / "overlays" / overlay
    for name, path in (("models-processor-kafka", "networkpolicy-kafka.yaml"),
                       ("models-processor-dns", "networkpolicy-dns.yaml")):
        assert (overlay_dir / path).exists(), f"{overlay} must configure {name} itself"
        assert policies[name]["policyTypes"] == ["Egress"]
    kafka_ports = {port for proto, port in _egress_ports(policies["models-processor-kafka"]) if proto == "TCP"}
    assert _bootstrap_ports(_config(docs)) <= kafka_ports, "every bootstrap port must be reachable"
    dns = policies["models-processor-dns"]
    assert {("UDP", 53), ("TCP", 53)} <= _egress_ports(dns)
    blocks = [ipaddress.ip_network(peer["ipBlock"]["cidr"]) for rule in dns["egress"] for peer in rule["to"]
              if "ipBlock" in peer]
    assert any(NODELOCAL_DNS.subnet_of(b) for b in blocks), "NodeLocal DNSCache (169.254.20.10) is reachable"


def test_an_overlay_can_point_kafka_elsewhere(kustomize, tmp_path: Path):
    # A managed cluster on public addresses and SASL port 9096: one patch file in an overlay does it.
    (tmp_path / "kafka.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: models-processor-kafka\n"
        "spec:\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 203.0.113.0/24\n"
        "      ports:\n        - port: 9096\n          protocol: TCP\n")
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n  - {os.path.relpath(K8S / 'overlays' / 'gpu', tmp_path)}\npatches:\n  - path: kafka.yaml\n")
    kafka = _policies(render(kustomize, tmp_path))["models-processor-kafka"]
    assert kafka["egress"] == [{"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
                                "ports": [{"port": 9096, "protocol": "TCP"}]}]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_only_from_monitoring_to_the_http_port(rendered, overlay):
    docs = rendered[overlay]
    policies = _policies(docs)
    ingress_rules = [r for spec in policies.values() for r in spec.get("ingress", [])]
    assert ingress_rules, "a policy must isolate ingress"
    assert any("Ingress" in spec["policyTypes"] for spec in policies.values())
    http = {p["name"]: p["containerPort"] for p in container(pod_spec(docs), "processor")["ports"]}
    for rule in ingress_rules:
        assert rule.get("from"), "no ingress from anywhere"
        for peer in rule["from"]:
            assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
            assert "ipBlock" not in peer
        assert {p["port"] for p in rule["ports"]} <= set(http) | set(http.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_egress_is_never_open_to_everything(rendered, overlay):
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")]
    policies = _policies(rendered[overlay])
    assert any("Egress" in spec["policyTypes"] for spec in policies.values())
    for name, spec in policies.items():
        for rule in spec.get("egress", []):
            assert rule.get("to"), f"{name}: an egress rule without `to` allows every destination"
            assert rule.get("ports"), f"{name}: an egress rule without ports allows every port"
            for peer in rule["to"]:
                if "ipBlock" in peer and ipaddress.ip_network(peer["ipBlock"]["cidr"]).prefixlen == 0:
                    excepted = [ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", [])]
                    for net in private:  # the cluster's own ranges and the cloud metadata endpoint
                        assert any(net.subnet_of(e) for e in excepted), f"{name}: {net} reachable"
