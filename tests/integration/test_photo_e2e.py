"""Photo requests through the real broker: the real dispatcher and RequestProcessor with a real PhotoPipeline
(RapidOCR on the sample photos, the Ollama client against the stand-in server over HTTP)."""

from __future__ import annotations

import base64
import json
import os

import pytest

from models_processor.llm.factory import build_models
from models_processor.metrics import Metrics
from models_processor.pipeline.photo import PhotoPipeline
from testkit.fakes.models import ScriptedTextModel
from testkit.fakes.ollama_server import Reply
from testkit.harness import InProcessService, ResponseReader, create_output_topics, make_settings, produce
from tests.unit.photo_support import SAMPLES, CachingOcr, ground_truth, shared_rapid_engine

pytestmark = [pytest.mark.broker, pytest.mark.ocr, pytest.mark.ollama]

SNACK = "nutrition_snack_label.jpg"


@pytest.fixture
def service(kafka_bootstrap, kafka_topic_factory, standin):
    """(request topic, settings, running InProcessService) with a real photo pipeline."""
    topic = kafka_topic_factory(partitions=1, prefix="photo")
    settings = make_settings(kafka_bootstrap, topic, OLLAMA_HOST=standin.url, RESULT_CACHE_SIZE="0")
    create_output_topics(kafka_bootstrap, settings)
    metrics = Metrics()
    photo = PhotoPipeline(settings, CachingOcr(shared_rapid_engine()), build_models(settings, metrics).vision,
                          metrics)
    readers: list[ResponseReader] = []
    with InProcessService(settings, ScriptedTextModel(), photo=photo) as svc:
        svc.wait_joined()
        yield topic, settings, svc, readers
    for reader in readers:
        reader.close()


def photo_request(photo: str, **extra) -> bytes:
    return json.dumps({"user_email": "user@example.com", "prompt": "Analyze this food image", "photo": photo,
                       **extra}).encode()


def read_answers(bootstrap: str, settings, readers: list, count: int, timeout: float = 90.0) -> dict[str, dict]:
    reader = ResponseReader(bootstrap, [settings.photo_response_topic])
    readers.append(reader)
    reader.read_until(lambda ms: len(ms) >= count, timeout=timeout)
    return {key: values[0] for key, values in reader.by_key().items()}


def assert_ground_truth(answer: dict) -> None:
    assert answer["status"] == "ok", answer
    assert answer["kind"] == "nutrition_label"
    expected = ground_truth()[SNACK]["expected"]
    assert {k: answer["result"][k] for k in expected} == expected
    assert all(answer["sources"][k] == "ocr" for k in expected)
    assert set(answer["sources"]) == set(answer["result"])
    assert json.loads(answer["analysis"]) == answer["result"]
    assert {"decode", "ocr", "parse", "total"} <= set(answer["timings_ms"])


def test_photo_and_bad_photo_through_the_broker(kafka_bootstrap, service, standin):
    topic, settings, _svc, readers = service
    photo = base64.b64encode((SAMPLES / SNACK).read_bytes()).decode()
    produce(kafka_bootstrap, topic, [(b"p-ok", photo_request(photo)),
                                     (b"p-bad", photo_request(base64.b64encode(b"not an image" * 20).decode()))])
    answers = read_answers(kafka_bootstrap, settings, readers, 2)
    assert set(answers) == {"p-ok", "p-bad"}
    ok = answers["p-ok"]
    assert_ground_truth(ok)
    assert ok["request_id"] == "p-ok" and ok["user_email"] == "user@example.com"
    assert standin.stats.total_generations == 0  # the label was complete: no fallback
    bad = answers["p-bad"]
    assert bad["status"] == "error" and bad["error"]["code"] == "invalid_image"
    assert bad["request_id"] == "p-bad" and "result" not in bad


def test_vision_fallback_through_the_broker(kafka_bootstrap, service, standin):
    """A label photo whose calories the model supplies: a photo the parser cannot finish (the food photo
    sent as a nutrition label) makes exactly one call, and the answer carries the model's values."""
    topic, settings, _svc, readers = service
    standin.enqueue(Reply(text=json.dumps({"calories": 250, "total_fat_g": 10, "total_carbohydrate_g": 30,
                                           "protein_g": 8})))
    photo = base64.b64encode((SAMPLES / "food_zucchine_dish.jpg").read_bytes()).decode()
    produce(kafka_bootstrap, topic, [(b"p-fb", photo_request(photo, kind="nutrition_label"))])
    answer = read_answers(kafka_bootstrap, settings, readers, 1)["p-fb"]
    assert answer["status"] == "ok" and answer["kind"] == "nutrition_label"
    assert answer["result"]["calories"] == 250 and answer["sources"]["calories"] == "llm-vision"
    assert answer["model"] == "llava:7b" and "llm" in answer["timings_ms"]
    assert standin.stats.total_generations == 1


def test_six_megabyte_photo_message_goes_through(kafka_bootstrap, service):
    topic, settings, _svc, readers = service
    assert settings.max_message_bytes == 10 * 1024 * 1024  # the default
    # The sample JPEG followed by 4.4 MB of incompressible bytes after its end-of-image marker: a valid
    # JPEG (decoders stop at EOI) whose base64 makes a ~6 MB message, above Kafka's 1 MB default.
    jpeg = (SAMPLES / SNACK).read_bytes() + os.urandom(4_400_000)
    value = photo_request(base64.b64encode(jpeg).decode())
    assert 5_800_000 < len(value) < settings.max_message_bytes
    produce(kafka_bootstrap, topic, [(b"p-big", value)])
    answer = read_answers(kafka_bootstrap, settings, readers, 1)["p-big"]
    assert_ground_truth(answer)
