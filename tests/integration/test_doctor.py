"""`python -m models_processor doctor` against the real broker, the real local Ollama 0.17.4 (text-only
tiny model) and, for the all-green exit status, the stand-in serving a vision model."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from models_processor.cli import main
from models_processor.config import load_settings
from models_processor.doctor.command import diagnose
from models_processor.doctor.kafka_checks import required_topic_bytes
from models_processor.doctor.model_checks import check_models
from models_processor.doctor.report import Status
from models_processor.llm.api import Options
from models_processor.llm.client import OllamaClient
from models_processor.metrics import Metrics


def _by_check(report_findings):
    return {f.check: f for f in report_findings}


def test_kafka_checks_name_missing_topic_small_topic_and_lag(kafka_bootstrap, kafka_topic_factory):
    request = kafka_topic_factory(partitions=2, prefix="doc-req")
    photo = kafka_topic_factory(prefix="doc-photo")
    text = kafka_topic_factory(prefix="doc-text")
    dlq = kafka_topic_factory(prefix="doc-dlq", config={"max.message.bytes": str(1024 * 1024)})
    missing = f"doc-missing-{uuid.uuid4().hex[:8]}"
    group = f"doc-group-{uuid.uuid4().hex[:8]}"
    settings = load_settings({"BOOTSTRAP_SERVER": kafka_bootstrap, "LOCAL_MODEL_KAFKA_TOPIC": request,
                              "PHOTO_RESPONSE_TOPIC": photo, "TEXT_RESPONSE_TOPIC": text, "DLQ_TOPIC": dlq,
                              "ERROR_RESPONSE_TOPIC": missing, "CONSUMER_GROUP": group})
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for _ in range(3):
        producer.produce(request, value=b"{}", partition=0)
    producer.produce(request, value=b"{}", partition=1)
    assert producer.flush(10) == 0

    report = diagnose(settings, models=False)
    found = _by_check(report.findings)
    assert not report.ok
    assert found["kafka.connection"].status is Status.OK
    assert found[f"kafka.topic.{request}"].status is Status.OK
    assert found[f"kafka.topic.{photo}"].status is Status.OK
    small = found[f"kafka.topic.{dlq}"]
    assert small.status is Status.FAIL
    assert small.details == {"max_message_bytes": 1024 * 1024, "required_bytes": required_topic_bytes(settings)}
    assert "DLQ topic" in small.message and f"max.message.bytes={required_topic_bytes(settings)}" in small.fix
    absent = found[f"kafka.topic.{missing}"]
    assert absent.status is Status.FAIL and "does not exist" in absent.message
    lag = found["kafka.consumer_group"]
    assert lag.status is Status.WARN and lag.details["lag"] == 4 and "committed nothing" in lag.message

    # The group commits past two of partition 0's three requests: lag 1 + 1.
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(request, 0, 2)], asynchronous=False)
    consumer.close()
    lag = _by_check(diagnose(settings, models=False).findings)["kafka.consumer_group"]
    assert lag.status is Status.OK
    assert lag.details["lag"] == 2 and lag.details["partitions"] == {"0": 1, "1": 1}


def test_unreachable_kafka_fails_with_what_to_fix():
    settings = load_settings({"BOOTSTRAP_SERVER": "127.0.0.1:1"})
    report = diagnose(settings, timeout_s=2.0, models=False)
    assert not report.ok
    [finding] = report.findings
    assert finding.check == "kafka.connection" and finding.status is Status.FAIL
    assert "127.0.0.1:1" in finding.message and "KAFKA_SECURITY_PROTOCOL" in finding.fix


def test_real_ollama_text_only_model_cannot_be_the_vision_model(ollama_real, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", ollama_real.base_url)
    monkeypatch.setenv("OLLAMA_MODEL", ollama_real.model)
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    status = main(["doctor", "--json", "--skip-kafka"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["ok"] is False
    found = {f["check"]: f for f in report["findings"]}
    server = found[f"model_server.{ollama_real.base_url}"]
    assert server["status"] == "ok" and server["details"]["version"] == "0.17.4"
    assert any(name.startswith(ollama_real.model) for name in server["details"]["models"])
    vision = found["model.vision"]
    assert vision["status"] == "fail" and "cannot read images" in vision["message"]
    assert "OLLAMA_VISION_MODEL" in vision["fix"]
    assert found["model.text"]["status"] == "ok" and found["model.text"]["details"]["capabilities"] == ["completion"]


def test_real_ollama_loaded_context_against_num_ctx(ollama_real):
    client = OllamaClient(ollama_real.base_url, connect_timeout=5, read_timeout=120, metrics=Metrics())
    client.warm_up(ollama_real.model, options=Options(num_ctx=2048), keep_alive=-1)
    client.close()
    base = {"OLLAMA_TEXT_HOST": ollama_real.base_url, "OLLAMA_MODEL": ollama_real.model}

    same = _by_check(check_models(load_settings({**base, "OLLAMA_NUM_CTX": "2048"})))
    assert same["model.text.context"].status is Status.OK
    assert same["model.text.context"].details == {"num_ctx": 2048, "loaded_context_length": 2048}
    # No vision server configured is a failure of its own, in words.
    assert same["model.vision"].status is Status.FAIL and "OLLAMA_VISION_HOST" in same["model.vision"].fix

    other = _by_check(check_models(load_settings({**base, "OLLAMA_NUM_CTX": "4096"})))
    context = other["model.text.context"]
    assert context.status is Status.WARN and "reloads the model" in context.message
    assert context.fix.startswith("set OLLAMA_NUM_CTX=2048")


def test_missing_model_is_named_with_the_pull_command(ollama_real):
    settings = load_settings({"OLLAMA_TEXT_HOST": ollama_real.base_url, "OLLAMA_TEXT_MODEL": "no-such-model:1b"})
    text = _by_check(check_models(settings))["model.text"]
    assert text.status is Status.FAIL and "not present" in text.message
    assert "models pull no-such-model:1b" in text.fix


def test_all_green_exits_zero(standin, kafka_bootstrap, kafka_topic_factory, capsys, monkeypatch):
    topics = {var: kafka_topic_factory(prefix="doc-ok") for var in
              ("LOCAL_MODEL_KAFKA_TOPIC", "PHOTO_RESPONSE_TOPIC", "TEXT_RESPONSE_TOPIC", "DLQ_TOPIC")}
    for var, topic in {**topics, "BOOTSTRAP_SERVER": kafka_bootstrap, "OLLAMA_HOST": standin.url,
                       "CONSUMER_GROUP": f"doc-ok-{uuid.uuid4().hex[:8]}", "LOG_LEVEL": "ERROR"}.items():
        monkeypatch.setenv(var, topic)
    status = main(["doctor"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.strip().endswith("all checks passed")
    assert "[OK  ] model.vision: vision model 'llava:7b' present" in out


def test_openai_backend_roles_are_checked_through_v1_models(ollama_real):
    base = {"OLLAMA_HOST": ollama_real.base_url, "LLM_TEXT_BACKEND": "openai", "LLM_VISION_BACKEND": "openai"}
    found = _by_check(check_models(load_settings({**base, "OLLAMA_MODEL": ollama_real.model})))
    assert found["model.text"].status is Status.OK and "OpenAI-compatible" in found["model.text"].message
    assert found["model.vision"].status is Status.OK
    assert not any(check.startswith("model_server.") for check in found)  # no Ollama API calls for these roles
    missing = _by_check(check_models(load_settings({**base, "OLLAMA_MODEL": ollama_real.model,
                                                    "OLLAMA_TEXT_MODEL": "no-such-model:1b"})))
    assert missing["model.text"].status is Status.FAIL and "not served by" in missing["model.text"].message
    assert "OPENAI_API_KEY" in missing["model.text"].fix
