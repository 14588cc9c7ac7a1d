"""The recent panel of a running service lists the answers of Kafka requests: run_service wraps the processor
the dispatcher calls. A real broker, the service's own wiring, the page's HTTP route."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import requests

from models_processor import service
from models_processor.http import HttpServer
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import (
    InProcessService,
    ResponseReader,
    create_output_topics,
    make_settings,
    produce,
    text_request,
    wait_for,
)

pytestmark = pytest.mark.broker


class _SeenServers(HttpServer):
    """The service's own HTTP server, remembered so the test learns the free port it picked."""

    started: ClassVar[list[HttpServer]] = []

    def start(self) -> None:
        super().start()
        self.started.append(self)


def test_kafka_answers_reach_the_recent_panel_without_their_prompts(kafka_bootstrap, kafka_topic_factory,
                                                                    monkeypatch):
    topic = kafka_topic_factory(partitions=1, prefix="req")
    settings = make_settings(kafka_bootstrap, topic, INSPECTOR_ENABLED="true")
    create_output_topics(kafka_bootstrap, settings)
    monkeypatch.setattr(service, "HttpServer", _SeenServers)
    with InProcessService(settings, ScriptedTextModel()):
        wait_for(lambda: bool(_SeenServers.started), 30, "the service never started its HTTP server")
        port = _SeenServers.started[-1].port
        produce(kafka_bootstrap, topic, [(b"k-1", text_request("a private question")), (b"k-2", b"{broken")])
        reader = ResponseReader(kafka_bootstrap, [settings.text_response_topic])
        reader.read_until(lambda ms: len(ms) >= 2)
        reader.close()
        url = f"http://127.0.0.1:{port}/inspect/api/recent"
        wait_for(lambda: len(requests.get(url, timeout=5).json()) >= 2, 10, "the recent panel never listed both answers")
        recent = requests.get(url, timeout=5).json()
        assert requests.get(f"http://127.0.0.1:{port}/inspect", timeout=5).status_code == 200
    by_id = {r["request_id"]: r for r in recent}
    assert by_id["k-1"]["origin"] == "kafka" and by_id["k-1"]["status"] == "ok" and by_id["k-1"]["kind"] == "text"
    assert by_id["k-2"]["status"] == "error" and by_id["k-2"]["error_code"] == "invalid_json"
    assert "private" not in json.dumps(recent)
