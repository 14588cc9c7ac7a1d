"""OllamaReadiness and build_models against stand-in servers."""


import pytest
from prometheus_client import CollectorRegistry

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import Options
from models_processor.llm.base import ModelCallError, UnconfiguredModel
from models_processor.llm.client import OllamaClient
from models_processor.llm.factory import build_models
from models_processor.llm.readiness import ModelCapabilities, ModelRole, OllamaReadiness
from models_processor.metrics import Metrics
from models_processor.schemas import FoodResult
from testkit.fakes.ollama_server import OllamaStandIn

pytestmark = pytest.mark.ollama

JPEG = b"\xff\xd8\xff\xe0" + b"\x03" * 64


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def probe(url, model, metrics=None, clock=None, *, needs_vision=True):
    metrics = metrics if metrics is not None else Metrics(CollectorRegistry())
    client = OllamaClient(url, connect_timeout=0.5, read_timeout=2, metrics=metrics)
    need = ModelRole("vision", "OLLAMA_VISION_MODEL", needs_vision=needs_vision)
    return OllamaReadiness(client, model, need, metrics, ModelCapabilities(client, timeout=0.5), health_timeout=0.5,
                           options=Options(num_ctx=4096), keep_alive="30m", **({"clock": clock} if clock else {}))


def test_missing_model_is_not_ready_with_a_reason_naming_it():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        metrics = Metrics(CollectorRegistry())
        reasons = probe(srv.url, "llava:13b", metrics).not_ready_reasons()
    assert len(reasons) == 1 and "llava:13b" in reasons[0] and "llava:7b" in reasons[0]
    assert metrics.registry.get_sample_value("models_processor_model_server_up", {"role": "vision"}) == 0


@pytest.mark.parametrize("wanted", ["LLaVA:7B", "library/llava:7b", "registry.ollama.ai/library/LLAVA:7b"])
def test_model_present_under_another_form_is_ready(wanted):
    with OllamaStandIn(models=("llava:7b",)) as srv:
        assert probe(srv.url, wanted).not_ready_reasons() == []


def test_bare_name_matches_latest_tag():
    with OllamaStandIn(models=("llava",)) as srv:
        assert probe(srv.url, "LLaVA").not_ready_reasons() == []
        assert probe(srv.url, "llava:7b").not_ready_reasons() != []


def test_unreachable_server_and_answer_cached_for_two_seconds():
    clock = Clock()
    with OllamaStandIn(models=("llava:7b",)) as srv:
        p = probe(srv.url, "llava:7b", clock=clock)
        assert p.not_ready_reasons() == []
        srv.set_down(True)
        assert p.not_ready_reasons() == []  # cached
        assert srv.stats.per_path.get("/api/tags") == 1
        clock.now += 2.5
        reasons = p.not_ready_reasons()
        srv.set_down(False)
    assert reasons and "not reachable" in reasons[0]


def test_prepare_pulls_a_missing_model_then_warms_it_up():
    with OllamaStandIn(models=()) as srv:
        p = probe(srv.url, "llava:7b")
        assert p.not_ready_reasons()
        assert p.prepare(pull_on_start=True, warm_up=True) is True
        assert p.not_ready_reasons() == []
        paths = [r.path for r in srv.requests]
        assert "/api/pull" in paths
        warm = [r for r in srv.requests if r.path == "/api/generate"]
        assert warm and warm[0].body.get("prompt") is None and warm[0].body["keep_alive"] == "30m"


def test_prepare_without_pull_leaves_the_model_missing():
    with OllamaStandIn(models=()) as srv:
        p = probe(srv.url, "llava:7b")
        assert p.prepare(pull_on_start=False, warm_up=True) is False
        assert {r.path for r in srv.requests} <= {"/api/tags", "/api/experimental/aliases"}  # no pull, no load


def test_prepare_with_an_unpullable_model_does_not_raise():
    with OllamaStandIn(models=()) as srv:
        assert probe(srv.url, "missing-model:1b").prepare(pull_on_start=True, warm_up=True) is False


def settings(**env):
    return load_settings({"OLLAMA_REQUEST_TIMEOUT": "5", "OLLAMA_HEALTH_TIMEOUT": "1", **env})


def test_build_models_uses_separate_vision_and_text_servers():
    with OllamaStandIn(models=("llava:7b",)) as vis, OllamaStandIn(models=("llama3.2:3b",)) as txt:
        models = build_models(settings(OLLAMA_VISION_HOST=vis.url, OLLAMA_VISION_MODEL="llava:7b",
                                       OLLAMA_TEXT_HOST=txt.url, OLLAMA_TEXT_MODEL="llama3.2:3b"),
                              Metrics(CollectorRegistry()))
        result, _ = models.vision.extract(image_jpeg=JPEG, result_model=FoodResult, instruction="x",
                                          deadline=Deadline.after(2))
        gen = models.text.generate_text("hello", deadline=Deadline.after(2))
        assert isinstance(result, FoodResult) and gen.text and gen.model == "llama3.2:3b"
        assert vis.stats.total_generations == 1 and txt.stats.total_generations == 1
        assert [p.not_ready_reasons() for p in models.probes] == [[], []]
        body = next(r for r in vis.requests if r.path == "/api/chat").body
        assert body["options"] == {"temperature": 0.0, "num_predict": 1024, "seed": 42, "num_ctx": 4096}


def test_build_models_falls_back_to_ollama_host_and_shares_one_client():
    with OllamaStandIn(models=("llava:7b",)) as srv:
        models = build_models(settings(OLLAMA_HOST=srv.url), Metrics(CollectorRegistry()))
        assert models.vision.client is models.text.client
        assert len(models.probes) == 1 and models.probes[0].not_ready_reasons() == []
        models.text.generate_text("hi", deadline=Deadline.after(2))
        assert srv.stats.total_generations == 1


def test_build_models_without_a_host_never_pretends_a_model_answered():
    models = build_models(settings(), Metrics(CollectorRegistry()))
    assert isinstance(models.vision, UnconfiguredModel) and isinstance(models.text, UnconfiguredModel)
    with pytest.raises(ModelCallError) as info:
        models.text.generate_text("hi", deadline=Deadline.after(1))
    assert info.value.code == ErrorCode.MODEL_UNAVAILABLE and "OLLAMA" in info.value.message
    assert all(p.not_ready_reasons() for p in models.probes)
