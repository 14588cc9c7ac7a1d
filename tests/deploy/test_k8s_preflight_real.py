"""The pre-flight init container's own command (argv from the rendered gpu overlay) and environment (its
ConfigMap), run for real against the local Kafka broker and the Ollama stand-in in place of the cluster's:
it passes when the topics and the model are there, and holds the pod back, naming the fix, when a topic is
missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .conftest import argv, container, one, pod_spec

SIXTEEN_MIB = str(16 * 1024 * 1024)
TOPIC_KEYS = ("LOCAL_MODEL_KAFKA_TOPIC", "PHOTO_RESPONSE_TOPIC", "TEXT_RESPONSE_TOPIC", "DLQ_TOPIC")


def _run(command: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    # The image's ENTRYPOINT is `python -m models_processor` (Dockerfile); args come from the manifest.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "ORT_DISABLE_TELEMETRY": "1"}
    return subprocess.run([sys.executable, "-m", "models_processor", *command], env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


def _environment(rendered, kafka_bootstrap, kafka_topic_factory, standin) -> dict[str, str]:
    docs = rendered["gpu"]
    preflight = container(pod_spec(docs), "preflight")
    [source] = preflight["envFrom"]
    env = dict(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    # The cluster's addresses and topics, swapped for the local ones; everything else as rendered.
    env.update({key: kafka_topic_factory(prefix="preflight", config={"max.message.bytes": SIXTEEN_MIB})
                for key in TOPIC_KEYS})
    env.update({"BOOTSTRAP_SERVER": kafka_bootstrap, "OLLAMA_HOST": standin.url,
                "CONSUMER_GROUP": f"preflight-{time.monotonic_ns()}"})
    return env


def test_preflight_passes_when_kafka_and_the_model_are_ready(rendered, kafka_bootstrap, kafka_topic_factory,
                                                             standin):
    env = _environment(rendered, kafka_bootstrap, kafka_topic_factory, standin)
    command = argv(container(pod_spec(rendered["gpu"]), "preflight"))
    proc = _run(command, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("all checks passed")
    assert "[OK  ] kafka.connection" in proc.stdout and "[OK  ] model.vision" in proc.stdout
    assert f"kafka.topic.{env['DLQ_TOPIC']}" in proc.stdout


def test_preflight_holds_the_pod_when_a_topic_is_missing(rendered, kafka_bootstrap, kafka_topic_factory,
                                                         standin):
    env = _environment(rendered, kafka_bootstrap, kafka_topic_factory, standin)
    env["DLQ_TOPIC"] = f"preflight-missing-{time.monotonic_ns()}"
    command = argv(container(pod_spec(rendered["gpu"]), "preflight"))
    # The manifest waits 300 s before giving up; the same command with a 3 s wait shows the outcome.
    wait = command.index("--wait")
    command[wait + 1], command[command.index("--interval") + 1] = "3", "1"
    started = time.monotonic()
    proc = _run(command, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert time.monotonic() - started >= 2.0  # it checked again before giving up
    assert proc.stderr.count("checking again in") >= 2
    assert f"DLQ topic '{env['DLQ_TOPIC']}' does not exist" in proc.stdout
    assert "fix: create it with max.message.bytes" in proc.stdout
