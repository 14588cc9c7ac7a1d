"""deploy/docker-compose.yml: services, profiles, start order, healthchecks, volumes and topic set-up."""

from __future__ import annotations

import re

import pytest

from models_processor.kafka.topics import TOPIC_MAX_MESSAGE_BYTES

from .conftest import EXPECTED_PARTITIONS, ROOT

PROFILES = ("gpu", "cpu")
TOPICS = {"eater-send-photo", "photo-analysis-response", "gemini-response", "models-processor-dlq"}
SIXTEEN_MIB = TOPIC_MAX_MESSAGE_BYTES  # what the service's own topic set-up gives every topic


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _enabled(compose: dict, profile: str) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items()
            if not svc.get("profiles") or profile in svc["profiles"]}


def test_images_pinned(compose):
    for name, svc in compose["services"].items():
        if "build" in svc:
            assert svc["build"]["dockerfile"] == "Dockerfile" and (ROOT / "deploy" / svc["build"]["context"]
                                                                    / "Dockerfile").exists()
            continue
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:4.")
    assert compose["services"]["ollama-gpu"]["image"].startswith("ollama/ollama:")


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_is_a_complete_stack(compose, profile):
    services = _enabled(compose, profile)
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{profile}: {name} depends on {dep}, which this profile does not enable"
    processors = [n for n, s in services.items() if "build" in s]
    assert processors == [f"processor-{profile}"]
    deps = services[processors[0]]["depends_on"]
    assert deps["kafka"]["condition"] == "service_healthy"
    assert deps["kafka-init"]["condition"] == "service_completed_successfully"
    assert deps[f"ollama-{profile}"]["condition"] == "service_healthy"
    assert deps[f"ollama-pull-{profile}"]["condition"] == "service_completed_successfully"
    assert services[f"ollama-pull-{profile}"]["depends_on"][f"ollama-{profile}"]["condition"] == "service_healthy"
    # One model server per profile, reachable as `ollama`.
    ollama = services[f"ollama-{profile}"]
    assert "ollama" in ollama["networks"]["default"]["aliases"]
    assert _env(services[processors[0]])["OLLAMA_HOST"] == "http://ollama:11434"


def test_gpu_reservation(compose):
    devices = compose["services"]["ollama-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in compose["services"]["ollama-cpu"]


def test_healthchecks(compose):
    for name in ("kafka", "ollama-gpu", "ollama-cpu", "processor-gpu", "processor-cpu"):
        hc = compose["services"][name]["healthcheck"]
        assert hc["test"] and hc["test"][0] in ("CMD", "CMD-SHELL")
    assert "/health" in " ".join(compose["services"]["processor-gpu"]["healthcheck"]["test"])


def test_volumes(compose):
    declared = set(compose["volumes"])
    assert {"kafka-data", "ollama-models"} <= declared
    for name in ("ollama-gpu", "ollama-cpu"):
        assert "ollama-models:/root/.ollama" in compose["services"][name]["volumes"]
    for svc in compose["services"].values():
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / "deploy" / source).exists(), vol
            else:
                assert source in declared, vol


def test_pull_script_wired(compose):
    for profile in PROFILES:
        pull = compose["services"][f"ollama-pull-{profile}"]
        assert pull["entrypoint"][-1] == "/scripts/pull-models.sh" and "./ollama:/scripts:ro" in pull["volumes"]
        proc_env = _env(compose["services"][f"processor-{profile}"])
        assert proc_env["OLLAMA_MODEL"] in re.split(r"[ ,]+", _env(pull)["PULL_MODELS"])
        assert _env(compose["services"][f"ollama-{profile}"])["OLLAMA_CONTEXT_LENGTH"] == proc_env["OLLAMA_NUM_CTX"]
    assert (ROOT / "deploy" / "ollama" / "pull-models.sh").stat().st_mode & 0o111


def test_topics_and_message_size(compose):
    kafka_env = _env(compose["services"]["kafka"])
    assert int(kafka_env["KAFKA_MESSAGE_MAX_BYTES"]) >= SIXTEEN_MIB
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topic-init owns the partition count"
    init = compose["services"]["kafka-init"]
    init_env = _env(init)
    assert int(init_env["TOPIC_PARTITIONS"]) == EXPECTED_PARTITIONS
    assert int(init_env["TOPIC_MAX_MESSAGE_BYTES"]) >= SIXTEEN_MIB
    assert set(init_env["TOPICS"].split()) == TOPICS
    script = " ".join(init["command"])
    assert "--partitions \"$$TOPIC_PARTITIONS\"" in script and "max.message.bytes" in script
    for profile in PROFILES:
        env = _env(compose["services"][f"processor-{profile}"])
        topics = {env["LOCAL_MODEL_KAFKA_TOPIC"], env["PHOTO_RESPONSE_TOPIC"], env["TEXT_RESPONSE_TOPIC"],
                  env["DLQ_TOPIC"]}
        assert topics == TOPICS
        assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= int(env["MAX_MESSAGE_BYTES"])
        assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) <= int(init_env["TOPIC_MAX_MESSAGE_BYTES"])
        assert float(compose["services"][f"processor-{profile}"]["stop_grace_period"].rstrip("s")) > float(
            env["SHUTDOWN_GRACE_SECONDS"])
