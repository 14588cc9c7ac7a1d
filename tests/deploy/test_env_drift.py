"""Drift: every environment variable the deployment files give the processor is a Settings field or a
KAFKA_* librdkafka passthrough, and the values load. Other containers (Ollama, its pull job, the broker)
are checked against their own allow-lists: their variables belong to them, not to models_processor."""

from __future__ import annotations

import re

import pytest
import yaml

from models_processor.config import Settings, load_settings

from .conftest import K8S, OVERLAYS, one
from .test_compose import PROFILES, _env

SETTINGS = {name.upper() for name in Settings.model_fields}
# Variables the processor container may carry that are not settings (none today).
PROCESSOR_EXTRA: set[str] = set()
# The Ollama server's own variables, plus what our start/pull scripts read.
OLLAMA_ALLOWED = re.compile(
    r"^(OLLAMA_[A-Z_]+|HOME|PULL_MODELS|PULL_WAIT_SECONDS|PULL_RETRIES|PULL_TIMEOUT_SECONDS|PULL_LOCK_WAIT_SECONDS)$")
# The Ollama containers of the pod: the one-shot model pull and the serving sidecar.
OLLAMA_CONTAINERS = {"ollama-pull", "ollama"}


def _processor_name_ok(name: str) -> bool:
    return name in SETTINGS or (name.startswith("KAFKA_") and len(name) > 6) or name in PROCESSOR_EXTRA


def _bad(names) -> list[str]:
    return sorted(n for n in names if not _processor_name_ok(n))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_processor_env_is_known(rendered, overlay):
    docs = rendered[overlay]
    pod = one(docs, "Deployment", "models-processor")["spec"]["template"]["spec"]
    config = one(docs, "ConfigMap", "models-processor-config")["data"]
    assert _bad(config) == [], "ConfigMap keys that Settings does not know"
    # The processor's image also runs doctor as the pre-flight init container (k8s/components/preflight).
    same_image = [c for c in pod.get("initContainers", []) if c["image"] == pod["containers"][0]["image"]]
    for c in pod["containers"] + same_image:
        names = {e["name"] for e in c.get("env", [])}
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                cm = one(docs, "ConfigMap", src["configMapRef"]["name"])
                names |= set(cm["data"])
            else:
                pytest.fail(f"{c['name']}: envFrom {src} cannot be checked for drift")
        assert _bad(names) == [], f"{overlay}/{c['name']}: not a setting nor KAFKA_*"
    # The values load: a typo'd number or a deadline that outlives max.poll.interval.ms fails here.
    load_settings(config)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_sidecar_env_belongs_to_ollama(rendered, overlay):
    pod = one(rendered[overlay], "Deployment", "models-processor")["spec"]["template"]["spec"]
    for c in pod.get("initContainers", []):
        if c["image"] == pod["containers"][0]["image"]:
            continue  # the pre-flight doctor: the processor's settings, checked above
        assert c["name"] in OLLAMA_CONTAINERS
        bad = [e["name"] for e in c.get("env", []) if not OLLAMA_ALLOWED.match(e["name"])]
        assert bad == []
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if ref:  # the sidecar reads the processor's settings by their real names
                assert ref["key"] in SETTINGS


def test_secret_example_maps_to_kafka_passthrough():
    secret = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    deployment = yaml.safe_load((K8S / "base" / "deployment.yaml").read_text())
    proc = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "processor")
    for e in proc["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert e["name"].startswith("KAFKA_") and ref["key"] in secret["stringData"]


@pytest.mark.parametrize("profile", PROFILES)
def test_compose_env_is_known(compose, profile):
    services = compose["services"]
    env = _env(services[f"processor-{profile}"])
    assert _bad(env) == []
    load_settings(env)
    for name in (f"ollama-{profile}", f"ollama-pull-{profile}"):
        bad = [k for k in _env(services[name]) if not OLLAMA_ALLOWED.match(k)]
        assert bad == [], f"{name}: {bad}"
    # The broker image reads KAFKA_* (server.properties) and CLUSTER_ID; the init job its own script vars.
    assert all(k.startswith("KAFKA_") or k == "CLUSTER_ID" for k in _env(services["kafka"]))
