"""The /inspect routes on the service's own Flask app: off by default, the processor the Kafka workers call,
its own byte and concurrency limits, and the recent panel (metadata only, fed from the Kafka path too)."""

from __future__ import annotations

import json
import threading
import time

import requests
from PIL import Image

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.health_state import HealthState
from models_processor.http import create_app
from models_processor.inspector import Inspector, TracingOcrEngine
from models_processor.inspector.overlay import fields_of_lines
from models_processor.inspector.trace import tracing_ocr
from models_processor.metrics import Metrics
from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.pipeline.requests import Inbound, RequestProcessor
from models_processor.pipeline.text import TextPipeline
from testkit.fakes.models import NoPhotoPipeline, ScriptedTextModel

SETTINGS = load_settings({"INSPECTOR_ENABLED": "true", "INSPECTOR_MAX_BYTES": "2048"})


def _app(settings=SETTINGS, model=None, enabled=True):
    metrics = Metrics()
    model = model or ScriptedTextModel()
    processor = RequestProcessor(settings, TextPipeline(model, max_prompt_chars=settings.max_prompt_chars),
                                 NoPhotoPipeline(), metrics)
    inspector = Inspector(settings, processor) if enabled else None
    app = create_app(HealthState(stall_seconds=30), metrics, model_name="m", topic="t", inspector=inspector)
    return app.test_client(), inspector, processor


def test_inspect_is_404_when_not_enabled():
    client, _, _ = _app(enabled=False)
    for path in ("/inspect", "/inspect/api/recent", "/inspect/static/inspector.js"):
        assert client.get(path).status_code == 404
    assert client.post("/inspect/api/run", data=b"x").status_code == 404
    assert client.get("/health").status_code == 200  # the rest of the app is there
    assert load_settings({}).inspector_enabled is False


def test_page_and_assets_are_served_from_the_package_without_other_origins():
    client, _, _ = _app()
    page = client.get("/inspect")
    assert page.status_code == 200 and b"<svg id=\"overlay\"" in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for name in ("inspector.js", "inspector.css"):
        asset = client.get(f"/inspect/static/{name}")
        assert asset.status_code == 200 and b"http" not in asset.data.replace(b"http://www.w3.org/2000/svg", b"")
    assert client.get("/inspect/static/../__init__.py").status_code == 404
    assert client.get("/inspect/static/trace.py").status_code == 404


def test_a_prompt_runs_through_the_request_processor_and_is_recorded_without_the_prompt():
    model = ScriptedTextModel()
    client, _, _ = _app(model=model)
    answer = client.post("/inspect/api/run", data="what is in a scone", content_type="text/plain")
    assert answer.status_code == 200
    body = answer.get_json()["answer"]
    assert body["status"] == "ok" and body["response"] == "echo: what is in a scone"
    assert model.calls == ["what is in a scone"]  # the model the processor holds answered it
    recent = client.get("/inspect/api/recent").get_json()
    assert [r["request_id"] for r in recent] == [body["request_id"]]
    assert recent[0]["origin"] == "inspector" and recent[0]["kind"] == "text"
    assert "scone" not in json.dumps(recent)  # metadata only, never the prompt or the answer


def test_the_same_limits_as_kafka_requests_apply():
    settings = load_settings({"INSPECTOR_ENABLED": "true", "MAX_PROMPT_CHARS": "10"})
    client, _, _ = _app(settings)
    body = client.post("/inspect/api/run", data="x" * 11, content_type="text/plain").get_json()["answer"]
    assert body["status"] == "error" and body["error"]["code"] == "invalid_request"
    assert body["error"]["message"] == "prompt is 11 characters, above MAX_PROMPT_CHARS=10"


def test_an_upload_above_the_inspector_byte_limit_is_refused_in_words():
    client, inspector, _ = _app()
    answer = client.post("/inspect/api/run", data=b"\xff" * 2049, content_type="application/octet-stream")
    assert answer.status_code == 413
    assert "INSPECTOR_MAX_BYTES" in answer.get_json()["problem"]
    assert inspector.recent.newest_first() == []  # never reached the processor


def test_a_second_request_while_the_slot_is_taken_gets_429_in_words():
    model = ScriptedTextModel()
    client, _, _ = _app(model=model)
    first: dict[str, int] = {}
    worker = threading.Thread(target=lambda: first.update(status=client.post(
        "/inspect/api/run", data="block: hold the slot", content_type="text/plain").status_code))
    worker.start()
    until = time.monotonic() + 10
    while not model.calls and time.monotonic() < until:
        time.sleep(0.01)
    assert model.calls == ["block: hold the slot"]
    busy = client.post("/inspect/api/run", data="second", content_type="text/plain")
    assert busy.status_code == 429 and "already running 1 request" in busy.get_json()["problem"]
    model.release.set()
    worker.join(10)
    assert not worker.is_alive() and first["status"] == 200
    assert client.post("/inspect/api/run", data="third", content_type="text/plain").status_code == 200


def test_kafka_answers_reach_the_recent_panel_through_the_observed_processor():
    client, inspector, processor = _app()
    observed = inspector.observe(processor)
    value = json.dumps({"user_email": "u@example.com", "prompt": "secret recipe"}).encode()
    processed = observed.process(Inbound(b"rid-1", value, "requests", 0, 7), Deadline.after(5))
    assert processed.response is not None and processed.response.response == "echo: secret recipe"
    bad = observed.process(Inbound(b"rid-2", b"{not json", "requests", 0, 8), Deadline.after(5))
    assert bad.response is not None and bad.response.status == "error"
    recent = client.get("/inspect/api/recent").get_json()
    assert [(r["request_id"], r["origin"], r["status"], r["error_code"]) for r in recent] == [
        ("rid-2", "kafka", "error", "invalid_json"), ("rid-1", "kafka", "ok", None)]
    assert "secret" not in json.dumps(recent)


def test_recent_keeps_only_the_last_n():
    settings = load_settings({"INSPECTOR_ENABLED": "true", "INSPECTOR_RECENT": "2"})
    client, inspector, processor = _app(settings)
    observed = inspector.observe(processor)
    for i in range(3):
        value = json.dumps({"prompt": f"p{i}"}).encode()
        observed.process(Inbound(f"r{i}".encode(), value, "requests", 0, i), Deadline.after(5))
    assert [r["request_id"] for r in client.get("/inspect/api/recent").get_json()] == ["r2", "r1"]


def _line(text: str, y: float, x: float = 0.0, w: float = 200.0) -> OcrLine:
    return OcrLine(text=text, score=0.9, box=((x, y), (x + w, y), (x + w, y + 10), (x, y + 10)))


def test_ocr_lines_are_linked_to_the_fields_they_fed():
    lines = [_line("Nutrition Facts", 0), _line("Total Fat", 20), _line("11g", 20, x=300, w=30),
             _line("Saturated Fat 3g", 40), _line("Protein 2g", 60), _line("Vitamin A", 80)]
    result = {"total_fat_g": 11.0, "saturated_fat_g": 3.0, "protein_g": 2.0, "calories": None}
    assert fields_of_lines(lines, result) == [None, "total_fat_g", "total_fat_g", "saturated_fat_g", "protein_g", None]
    recipe = [_line("ZUCCHINE ALLA SCAPECE", 0), _line("4 tbsp white wine vinegar or", 20),
              _line("sherry vinegar", 30), _line("Heat the oil in a pan", 50), _line("ANTIPASTI", 70)]
    result = {"title": "Zucchine Alla Scapece",
              "ingredients": [{"original_text": "4 tbsp white wine vinegar or sherry vinegar"}],
              "instructions": ["Heat the oil in a pan until hot."]}
    assert fields_of_lines(recipe, result) == ["title", "ingredients", "ingredients", "instructions", None]


class _OneLineOcr:
    """An OCR engine that reads one fixed line: what the trace wrapper passes on is the point here."""

    name = "one-line"

    def recognize(self, image):
        return OcrResult(lines=[_line("Protein 2g", 0)], width=image.width, height=image.height)


def test_the_ocr_trace_records_only_inside_an_inspector_request():
    engine = TracingOcrEngine(_OneLineOcr())
    image = Image.new("RGB", (40, 20))
    outside = engine.recognize(image)  # a Kafka request: passed through, nothing kept
    with tracing_ocr() as trace:
        inside = engine.recognize(image)
    engine.recognize(image)
    assert outside.lines[0].text == "Protein 2g" and engine.name == "one-line"
    assert trace.reads == [(image, inside)]


def test_over_http_a_body_above_the_limit_is_refused_before_the_processor():
    from models_processor.http import HttpServer

    _, inspector, _ = _app()
    app = create_app(HealthState(stall_seconds=30), Metrics(), model_name="m", topic="t", inspector=inspector)
    server = HttpServer(app, host="127.0.0.1", port=0, max_body_bytes=SETTINGS.inspector_max_bytes + 1024)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/inspect/api/run"
        just_over = requests.post(url, data=b"\xff" * 2049, headers={"Content-Type": "application/octet-stream"},
                                  timeout=10)
        assert just_over.status_code == 413 and "INSPECTOR_MAX_BYTES" in just_over.json()["problem"]
        far_over = requests.post(url, data=b"\xff" * 100_000, headers={"Content-Type": "application/octet-stream"},
                                 timeout=10)
        # waitress refuses it itself (its own plain-text page), without buffering it for the app
        assert far_over.status_code == 413 and "Request Entity Too Large" in far_over.text
        assert requests.get(f"http://127.0.0.1:{server.port}/health", timeout=10).status_code == 200
    finally:
        server.close()
    assert inspector.recent.newest_first() == []
