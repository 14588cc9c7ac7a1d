"""DLQ records read back: the request's own headers separated from the dispatcher's, replay headers, pacing."""

from __future__ import annotations

import pytest

from models_processor.cli import main
from models_processor.config import load_settings
from models_processor.dlq.entries import split_headers
from models_processor.dlq.replay import Pacer
from models_processor.errors import ErrorCode, ProcessingError
from models_processor.kafka.routing import SourceInfo, outputs_for
from models_processor.messages import Response
from models_processor.pipeline.requests import Processed


def _dlq_record(request_headers: list[tuple[str, bytes]]):
    settings = load_settings({})
    error = ProcessingError(ErrorCode.MODEL_UNAVAILABLE, "down")
    processed = Processed("r-1", "text", Response.failure(user_email="u@x", request_id="r-1", error=error), None,
                          dlq_error=error)
    source = SourceInfo(topic="requests", partition=3, offset=41, timestamp_ms=1_700_000_000_000, key=b"r-1",
                        value=b"{}", headers=request_headers)
    return next(r for r in outputs_for(settings, processed, source) if r.topic == settings.dlq_topic)


def test_the_request_headers_are_recovered_from_what_the_dispatcher_writes():
    own = [("traceparent", b"00-1-2-01"), ("request_id", b"r-1"), ("x-replay-count", b"2")]
    record = _dlq_record(own)
    request_headers, added = split_headers(record.headers)
    assert request_headers == own  # the request's own request_id header survives; the DLQ's does not
    assert added["x-error-code"] == b"model_unavailable" and added["x-original-offset"] == b"41"
    assert added["request_id"] == b"r-1"


def test_pacer_spaces_sends_at_the_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert now[0] == pytest.approx(1.0)  # 5 sends at 4/s: the first at once, then every 0.25 s
    assert slept == pytest.approx([0.25] * 4)


def test_the_cli_has_dlq_stats_and_replay(capsys):
    for action in ("stats", "replay"):
        with pytest.raises(SystemExit) as info:
            main(["dlq", action, "--help"])
        assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--dry-run" in out and "--rate" in out and "--request-id" in out and "--since" in out
