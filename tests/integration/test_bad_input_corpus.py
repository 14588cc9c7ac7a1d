"""The bad-input corpus (tests/badinput/corpus.py) through the real broker, in one service run.

One InProcessService (real dispatcher, real RequestProcessor, real PhotoPipeline with RapidOCR; the text
model is ScriptedTextModel) reads, in order:
  1. a warm-up (one good photo, one good text: loads the OCR engine and fills its cache),
  2. phase A: N good text requests alone,
  3. phase B: every corpus case, interleaved with N more good text requests.
Then it checks, for every case: the exact answer (status, error code, request id) on the right topic,
a DLQ copy with the original bytes exactly for the codes in errors.DLQ_CODES, no answer at all for
skipped requests, every offset committed; all good requests answered, none of them held behind another
for STALL_GAP_S (a bad input that blocked the loop or the partition until a deadline would hold them for
minutes); and log hygiene: no photo
base64, no secret prompt, no SASL password in any log line, and a request id on every line logged by a
worker while processing.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest

from models_processor.errors import DLQ_CODES, ErrorCode
from models_processor.llm.factory import build_models
from models_processor.logs import JsonFormatter
from models_processor.metrics import Metrics
from models_processor.pipeline.photo import PhotoPipeline
from testkit.fakes.models import ScriptedTextModel
from testkit.harness import (
    InProcessService,
    ResponseReader,
    committed,
    create_output_topics,
    make_settings,
    produce,
    text_request,
    wait_for,
)
from tests.badinput.corpus import (
    CORPUS,
    EMAIL,
    REPLY_TOPIC,
    SASL_CANARY,
    SECRET_CANARY,
    SETTINGS,
    Case,
    b64,
    photo_value,
    sample_bytes,
)
from tests.unit.photo_support import CachingOcr, shared_rapid_engine

pytestmark = [pytest.mark.broker, pytest.mark.ocr]

GOOD_PER_PHASE = 100
MODEL_LATENCY_S = 0.15
# The longest a good answer may follow the one before it in phase B. Printed beside it: the good requests'
# rate in phase B against phase A's, a figure, not a target (usually 0.6-0.8; what phase B pays for is broker
# I/O: ~14 MB of input and a 10 MB DLQ copy that holds the in-flight window until acknowledged; one run on a
# shared machine measured 0.09, about 4 s lost). The corpus takes under 0.1 s of worker time.
STALL_GAP_S = 15.0
SASL_ENV = {"KAFKA_SASL_USERNAME": "svc-user", "KAFKA_SASL_PASSWORD": SASL_CANARY}
DLQ_CODE_VALUES = {c.value for c in DLQ_CODES}


class SaslCanaryService(InProcessService):
    """InProcessService whose Kafka clients also carry a SASL password (librdkafka ignores SASL settings
    on a PLAINTEXT listener), so the password is in the process's client config during the run."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, kafka_env=SASL_ENV, **kwargs)


class LogCapture(logging.Handler):
    """Every record, formatted by the service's JsonFormatter, with the thread that logged it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append((record.threadName, self.format(record)))
        except Exception as exc:  # a line the formatter cannot write is itself a finding
            self.lines.append((record.threadName, json.dumps({"unformattable": repr(exc), "msg": str(record.msg)})))


@pytest.fixture
def log_capture():
    root = logging.getLogger()
    handler = LogCapture()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def good(phase: str, i: int) -> tuple[bytes, bytes]:
    return f"good-{phase}-{i}".encode(), text_request(f"good request {phase} {i}", email=EMAIL)


def answer_stamps(messages, keys: set[str]) -> list[int]:
    """The answers' timestamps (ms, set by the service's producer) of the requests `keys`, in order."""
    stamps = sorted(m.timestamp()[1] for m in messages if (m.key() or b"").decode() in keys)
    assert len(stamps) == len(keys)
    return stamps


def throughput(messages, keys: set[str]) -> float:
    """Answers/s of the requests `keys`, from the first answer's to the last answer's timestamp: the time to
    produce the phase's input is not counted."""
    stamps = answer_stamps(messages, keys)
    return (len(keys) - 1) / max(0.001, (stamps[-1] - stamps[0]) / 1000)


def longest_gap(messages, keys: set[str]) -> float:
    """The longest time between two consecutive answers of `keys`, by their producer timestamps."""
    return max((b - a for a, b in itertools.pairwise(answer_stamps(messages, keys))), default=0) / 1000


def test_bad_input_corpus_through_the_broker(kafka_bootstrap, kafka_topic_factory, monkeypatch, log_capture):
    assert len(CORPUS) >= 40
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SASL_CANARY)
    topic = kafka_topic_factory(partitions=1, prefix="badin")
    error_topic = kafka_topic_factory(partitions=1, prefix="badin-err")
    reply_topic = kafka_topic_factory(partitions=1, prefix="badin-reply")
    settings = make_settings(kafka_bootstrap, topic, ERROR_RESPONSE_TOPIC=error_topic,
                             REPLY_TOPIC_ALLOWLIST=reply_topic, **SETTINGS)
    create_output_topics(kafka_bootstrap, settings)
    route_topic = {"text": settings.text_response_topic, "photo": settings.photo_response_topic,
                   "error": error_topic, "reply": reply_topic}
    assert len(set(route_topic.values())) == 4

    values: dict[str, bytes | None] = {}
    for case in CORPUS:
        value = case.build()
        values[case.name] = value.replace(REPLY_TOPIC.encode(), reply_topic.encode()) if value else value

    metrics = Metrics()
    photo = PhotoPipeline(settings, CachingOcr(shared_rapid_engine()), build_models(settings, metrics).vision,
                          metrics)
    model = ScriptedTextModel(latency_s=MODEL_LATENCY_S)
    answers = ResponseReader(kafka_bootstrap, list(route_topic.values()))
    dlq = ResponseReader(kafka_bootstrap, [settings.dlq_topic])
    offset = 0
    try:
        with SaslCanaryService(settings, model, photo=photo) as service:
            service.wait_joined()
            # -- warm-up
            warm = [(b"warm-photo", photo_value(b64(sample_bytes()))), (b"warm-text", text_request("warm", email=EMAIL))]
            produce(kafka_bootstrap, topic, warm)
            offset += len(warm)
            answers.read_until(lambda ms: len(ms) >= 2, timeout=120)
            assert {(m.key() or b"").decode() for m in answers.messages} == {"warm-photo", "warm-text"}

            # -- phase A: good requests alone
            phase_a = [good("A", i) for i in range(GOOD_PER_PHASE)]
            produce(kafka_bootstrap, topic, phase_a)
            offset += len(phase_a)
            answers.read_until(lambda ms: len(ms) >= 2 + GOOD_PER_PHASE, timeout=60)
            rate_a = throughput(answers.messages, {k.decode() for k, _ in phase_a})

            # -- phase B: the corpus, interleaved with as many good requests
            phase_b: list[tuple[bytes | None, bytes | None]] = []
            expected: dict[str, tuple[Case, str]] = {}  # answer key -> (case, key expected)
            skipped_keys: list[bytes | None] = []
            positions: dict[str, int] = {}
            goods_b = [good("B", i) for i in range(GOOD_PER_PHASE)]
            per_slot = max(1, len(CORPUS) // GOOD_PER_PHASE + 1)
            g = iter(goods_b)
            for i, case in enumerate(CORPUS):
                if i % per_slot == 0:
                    item = next(g, None)
                    if item:
                        phase_b.append(item)
                positions[case.name] = offset + len(phase_b)
                phase_b.append((case.key, values[case.name]))
            phase_b.extend(g)
            assert sum(1 for k, _ in phase_b if k and k.startswith(b"good-B-")) == GOOD_PER_PHASE
            for case in CORPUS:
                key = case.expected_key(topic, 0, positions[case.name])
                if case.expect == "skipped":
                    skipped_keys.append(case.key)
                else:
                    assert key not in expected, f"two cases answer under {key!r}"
                    expected[key] = (case, key)
            produce(kafka_bootstrap, topic, phase_b)
            offset += len(phase_b)
            total_answers = 2 + 2 * GOOD_PER_PHASE + len(expected)
            answers.read_until(lambda ms: len(ms) >= total_answers, timeout=180)
            answers.drain(quiet_s=3.0)  # anything extra (a skipped request answered, a duplicate) shows here
            dlq_expected = sum(1 for c, _ in expected.values() if c.expect in DLQ_CODE_VALUES)
            dlq.read_until(lambda ms: len(ms) >= dlq_expected, timeout=60)
            dlq.drain(quiet_s=2.0)
            wait_for(lambda: committed(kafka_bootstrap, settings.consumer_group, topic, 1)[0] == offset, 60,
                     f"offsets not committed up to {offset}")
            assert service.error is None, service.error
            assert service.metric("models_processor_messages_skipped_total", reason="user_email") == len(skipped_keys)
    finally:
        answers.close()
        dlq.close()

    # ------------------------------------------------------------------ every answer, on its topic
    by_key: dict[str, list] = {}
    for message in answers.messages:
        by_key.setdefault((message.key() or b"").decode("utf-8", "replace"), []).append(message)
    failures = []
    for key, (case, _) in expected.items():
        got = by_key.get(key, [])
        if len(got) != 1:
            failures.append(f"{case.name}: {len(got)} answers under key {key!r}")
            continue
        message = got[0]
        if message.topic() != route_topic[case.route]:
            failures.append(f"{case.name}: answered on {message.topic()}, expected {case.route}")
        headers = dict(message.headers() or [])
        if headers.get("request_id") != key.encode() or headers.get("content-type") != b"application/json":
            failures.append(f"{case.name}: headers {headers}")
        body = json.loads(message.value())
        if body["request_id"] != key:
            failures.append(f"{case.name}: request_id {body['request_id']!r} != {key!r}")
        if case.expect == "ok":
            if body["status"] != "ok" or "error" in body:
                failures.append(f"{case.name}: expected ok, got {body.get('error')}")
        else:
            code = body.get("error", {}).get("code")
            if body["status"] != "error" or code != case.expect or "result" in body:
                failures.append(f"{case.name}: expected {case.expect}, got {body['status']} {code}: "
                                f"{body.get('error', {}).get('message')}")
            elif body["error"]["retryable"] is not False or ErrorCode(code) is None:
                failures.append(f"{case.name}: retryable {body['error']['retryable']}")
    assert not failures, "\n".join(failures)

    ok = {c.name: json.loads(by_key[k][0].value()) for k, (c, _) in expected.items() if c.expect == "ok"}
    assert ok["unicode-emoji"]["response"] == "echo: Dinner ideas \U0001F355\U0001F957\U0001F1EE\U0001F1F9"
    assert ok["unicode-nul-in-prompt"]["response"] == "echo: before\u0000after\u0000"
    assert ok["unicode-lone-surrogate-prompt"]["response"] == "echo: lone \ufffd surrogate \ufffd"
    assert ok["json-utf16"]["response"] == "echo: utf-16" and ok["json-bom-utf8"]["response"] == "echo: BOM-prefixed"
    assert ok["message-alias-ok"]["response"] == "echo: alias of prompt"
    assert ok["model-allowed"]["model"] == "allowed-text-model"
    assert ok["huge-prompt-at-limit"]["response"] == "echo: " + "y" * 20_000
    for name in ("good-photo", "img-jpeg-with-zip-appended", "huge-photo-message-over-1mib-accepted",
                 "b64-mime-wrapped-ok"):
        assert ok[name]["kind"] == "nutrition_label" and ok[name]["result"]["calories"] is not None, ok[name]
    assert len(values["huge-photo-message-over-1mib-accepted"]) > 1024 * 1024

    # ------------------------------------------------------------------ skipped: no answer, no DLQ copy
    all_keys = [m.key() for m in answers.messages] + [m.key() for m in dlq.messages]
    for key in skipped_keys:
        assert key not in all_keys, f"skipped request {key!r} was answered"

    # ------------------------------------------------------------------ good requests all answered, once
    for phase in ("A", "B"):
        for i in range(GOOD_PER_PHASE):
            got = by_key.get(f"good-{phase}-{i}", [])
            assert len(got) == 1, f"good-{phase}-{i}: {len(got)} answers"
            body = json.loads(got[0].value())
            assert body["status"] == "ok" and body["response"] == f"echo: good request {phase} {i}"
            assert got[0].topic() == settings.text_response_topic
    assert len(answers.messages) == total_answers  # nothing else: no duplicates, nothing for skipped ones

    # ------------------------------------------------------------------ DLQ: exactly the DLQ codes, original bytes
    copies: dict[str, list] = {}
    for message in dlq.messages:
        copies.setdefault(dict(message.headers())["request_id"].decode(), []).append(message)
    want = {k for k, (c, _) in expected.items() if c.expect in DLQ_CODE_VALUES}
    assert set(copies) == want, (sorted(set(copies) - want), sorted(want - set(copies)))
    for key in want:
        case = expected[key][0]
        (copy,) = copies[key]
        headers = dict(copy.headers())
        assert copy.value() == values[case.name], case.name
        assert (copy.key() or None) == (case.key or None), case.name
        assert headers["x-error-code"] == case.expect.encode(), case.name
        assert headers["x-original-topic"] == topic.encode()
        assert int(headers["x-original-offset"]) == positions[case.name]

    # ------------------------------------------------------------------ throughput kept
    goods_b_keys = {f"good-B-{i}" for i in range(GOOD_PER_PHASE)}
    rate_b = throughput(answers.messages, goods_b_keys)
    gap_s = longest_gap(answers.messages, goods_b_keys)
    print(f"\ngood answers/s: alone {rate_a:.1f}, interleaved with {len(CORPUS)} bad {rate_b:.1f}, "
          f"ratio {rate_b / rate_a:.2f}; longest wait between good answers {gap_s:.2f} s")
    assert gap_s < STALL_GAP_S, f"a good answer waited {gap_s:.1f} s behind the one before it"

    # ------------------------------------------------------------------ log hygiene
    lines = log_capture.lines
    assert lines, "no log output captured"
    text = "\n".join(line for _, line in lines)
    assert SECRET_CANARY not in text
    assert SASL_CANARY not in text
    for case in CORPUS:
        if not case.photo_b64 or not values[case.name]:
            continue
        photo_field = json.loads(values[case.name])["photo"]
        for start in (0, 100, len(photo_field) // 2):
            fragment = photo_field[start:start + 64].strip()
            if len(fragment) < 32:
                continue
            assert fragment not in text, f"{case.name}: photo base64 at {start} in the logs"
    known_ids = set(expected) | {(k or b"").decode("utf-8", "replace") for k in skipped_keys} | \
        {f"good-{p}-{i}" for p in "AB" for i in range(GOOD_PER_PHASE)} | {"warm-photo", "warm-text"}
    worker_lines = [json.loads(line) for thread, line in lines if thread.startswith("worker")]
    assert worker_lines, "nothing logged by the workers"
    unmarked = [entry for entry in worker_lines if entry.get("request_id") in (None, "", "-")]
    assert not unmarked, unmarked[:5]
    assert all(entry["request_id"] in known_ids for entry in worker_lines), \
        [e for e in worker_lines if e["request_id"] not in known_ids][:5]
    rejected = [e for e in worker_lines if e["msg"] == "request rejected"]
    assert len(rejected) >= sum(1 for c in CORPUS if c.expect in ("invalid_json",))
