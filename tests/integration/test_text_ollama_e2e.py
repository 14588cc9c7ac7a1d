"""Text requests through the real broker with the product's Ollama client and the stand-in server."""

from __future__ import annotations

import pytest

from models_processor.llm.factory import build_models
from models_processor.metrics import Metrics
from testkit.fakes.ollama_server import OllamaStandIn, Reply
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, produce, text_request

pytestmark = [pytest.mark.broker, pytest.mark.ollama]


@pytest.fixture
def ollama():
    server = OllamaStandIn(models=("llava:7b",), num_parallel=2)
    server.start()
    yield server
    server.stop()


def _service(kafka_bootstrap, kafka_topic_factory, ollama, **extra):
    topic = kafka_topic_factory(partitions=1, prefix="req")
    settings = make_settings(kafka_bootstrap, topic, OLLAMA_HOST=ollama.url, OLLAMA_MODEL="llava:7b",
                             OLLAMA_WARMUP="false", OLLAMA_NUM_PARALLEL=str(ollama.num_parallel), **extra)
    create_output_topics(kafka_bootstrap, settings)
    metrics = Metrics()
    models = build_models(settings, metrics)
    return topic, settings, InProcessService(settings, models.text, metrics=metrics)


def test_hung_model_call_ends_at_the_deadline_with_a_dlq_copy(kafka_bootstrap, kafka_topic_factory, ollama):
    topic, settings, service = _service(kafka_bootstrap, kafka_topic_factory, ollama,
                                        REQUEST_DEADLINE_SECONDS="3", CONCURRENT_REQUESTS="1")
    ollama.enqueue(Reply(fault="hang"))
    with service:
        produce(kafka_bootstrap, topic, [(b"hung", text_request("this call never answers"))])
        answers = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        answers.read_until(lambda ms: len(ms) >= 1, timeout=30)
        # The loop is free again: the next request is answered normally.
        produce(kafka_bootstrap, topic, [(b"after", text_request("the next one does"))])
        answers.read_until(lambda ms: len(ms) >= 2, timeout=30)
        dlq = ResponseReader(kafka_bootstrap, [settings.dlq_topic])
        dlq.read_until(lambda ms: len(ms) >= 1, timeout=10)
    by_key = answers.by_key()
    assert by_key["hung"][0]["error"]["code"] == "deadline_exceeded"
    assert by_key["after"][0]["status"] == "ok" and by_key["after"][0]["model"] == "llava:7b"
    copy = dlq.messages[0]
    assert copy.key() == b"hung" and dict(copy.headers())["x-error-code"] == b"deadline_exceeded"
    answers.close(), dlq.close()


def test_text_answer_and_a_repeat_served_from_the_cache(kafka_bootstrap, kafka_topic_factory, ollama):
    topic, settings, service = _service(kafka_bootstrap, kafka_topic_factory, ollama)
    ollama.enqueue(Reply(text="Lentil dal with rice."))
    with service:
        produce(kafka_bootstrap, topic, [(b"first", text_request("Suggest a dinner with lentils"))])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 1, timeout=30)
        produce(kafka_bootstrap, topic, [(b"second", text_request("Suggest a dinner with lentils"))])
        reader.read_until(lambda ms: len(ms) >= 2, timeout=30)
        hits = service.metric("models_processor_result_cache_total", result="hit")
    by_key = reader.by_key()
    assert by_key["first"][0]["response"] == by_key["second"][0]["response"] == "Lentil dal with rice."
    assert ollama.stats.total_generations == 1
    assert hits == 1
    reader.close()
