"""doctor's --only and --wait (doctor/command.py), as the k8s pre-flight init container uses them: the model
checks against the OpenAI-compatible stand-in, Kafka pointed at a closed port, so a part that should not run
would show up as a failed finding."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from models_processor.cli import main
from models_processor.doctor.command import diagnose_until_ok
from models_processor.doctor.report import DoctorReport, Finding, Status
from testkit.fakes.openai_server import Flavor, OpenAIStandIn

MODEL = "served-model"


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> Iterator[OpenAIStandIn]:
    server = OpenAIStandIn(**getattr(request, "param", {"flavor": Flavor.VLLM})).start()
    yield server
    server.stop()


@pytest.fixture
def env(standin: OpenAIStandIn, monkeypatch: pytest.MonkeyPatch) -> OpenAIStandIn:
    for name, value in {"BOOTSTRAP_SERVER": "127.0.0.1:1", "OLLAMA_HOST": standin.base_url, "OLLAMA_MODEL": MODEL,
                        "LLM_VISION_BACKEND": "openai", "LLM_TEXT_BACKEND": "openai", "LOG_LEVEL": "ERROR"}.items():
        monkeypatch.setenv(name, value)
    return standin


def _report(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    return {f["check"]: f for f in json.loads(capsys.readouterr().out)["findings"]}


def test_only_models_checks_no_kafka(env: OpenAIStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json", "--only", "models"]) == 0
    found = _report(capsys)
    assert set(found) == {"model.vision", "model.text"} and all(f["status"] == "ok" for f in found.values())
    assert [path for path, _ in env.requests] == ["/v1/models", "/v1/models"]
    assert "(vLLM, OpenAI-compatible API" in found["model.text"]["message"]  # /v1/models owned_by "vllm"


def test_only_kafka_checks_no_model_server(env: OpenAIStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json", "--only", "kafka", "--timeout", "1"]) == 1
    found = _report(capsys)
    assert set(found) == {"kafka.connection"} and found["kafka.connection"]["status"] == "fail"
    assert env.requests == []  # the model server was never asked


def test_only_and_skip_cannot_be_combined(env: OpenAIStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--only", "kafka", "--skip-models"])
    assert exited.value.code == 2 and "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize("standin", [{"flavor": Flavor.LLAMACPP, "loading_s": 60}], indirect=True)
def test_wait_checks_again_until_the_model_server_has_loaded(env: OpenAIStandIn,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Loaded once the first check was refused: a fixed loading time raced the first check's arrival.
    loader = env.finish_loading_once_refused()
    assert main(["doctor", "--json", "--only", "models", "--wait", "20", "--interval", "0.3"]) == 0
    loader.join(10)
    assert all(f["status"] == "ok" for f in _report(capsys).values())
    assert env.statuses[0] == 503 and env.statuses[-1] == 200  # "Loading model" first, then served
    assert len(env.requests) > 2  # more than one round


def test_wait_gives_up_with_the_last_report_once_the_time_has_passed() -> None:
    now = [0.0]
    failing = DoctorReport.of([Finding(check="kafka.connection", status=Status.FAIL, message="down")])
    rounds: list[float] = []

    def check() -> DoctorReport:
        rounds.append(now[0])
        return failing

    def sleep(seconds: float) -> None:
        now[0] += seconds

    report, count = diagnose_until_ok(check, wait_s=10, interval_s=3, clock=lambda: now[0], sleep=sleep)
    assert not report.ok and count == 4 and rounds == [0.0, 3.0, 6.0, 9.0]
    _, once = diagnose_until_ok(check, wait_s=0, interval_s=3, clock=lambda: now[0], sleep=sleep)
    assert once == 1  # without --wait: one round, as before
