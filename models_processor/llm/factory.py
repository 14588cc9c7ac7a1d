"""Build the vision and text models and their readiness probes from Settings.

Vision and text may live on separate Ollama servers (OLLAMA_VISION_HOST/MODEL, OLLAMA_TEXT_HOST/MODEL,
falling back to OLLAMA_HOST/MODEL). A role with no host gets UnconfiguredModel, which answers
model_unavailable: the product never pretends a model answered. One client per server: its in-flight cap
is the server's parallel slots (OLLAMA_NUM_PARALLEL per loaded model) unless OLLAMA_MAX_IN_FLIGHT says
otherwise (docs/ollama.md "Concurrency").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from ..concurrency import in_flight_cap, worker_count
from ..config import ConfigError, Settings
from ..metrics import Metrics
from .api import CallDefaults, Options, keep_alive_value
from .backend_select import with_openai_backends
from .base import ModelServerProbe, TextModel, UnconfiguredModel, VisionModel
from .cache import ResultCache
from .client import OllamaClient
from .limiter import limit_gauges
from .names import InvalidModelName, parse_model_name
from .readiness import ModelCapabilities, ModelRole, OllamaReadiness
from .structured import OllamaTextModel, OllamaVisionModel

VISION_VARIABLE = "OLLAMA_VISION_MODEL (or OLLAMA_MODEL)"
TEXT_VARIABLE = "OLLAMA_TEXT_MODEL (or OLLAMA_MODEL)"


@dataclass
class ModelSet:
    vision: VisionModel
    text: TextModel
    probes: list[ModelServerProbe]
    # The Ollama readiness probes again, for the start-up prepare() (pull, capability check, warm-up).
    servers: list[OllamaReadiness] = field(default_factory=list)
    # The text model asked for a result schema (no image): the photo pipeline's text pass over OCR lines.
    structured_text: VisionModel | None = None


def call_defaults(settings: Settings) -> CallDefaults:
    """What every call sends, the warm-up included: constant runner options (num_ctx) so Ollama never
    reloads the model, keep_alive as a number or a duration, think off unless LLM_THINK, truncate off."""
    options = Options(temperature=settings.llm_temperature, num_predict=settings.llm_num_predict,
                      seed=settings.llm_seed, num_ctx=settings.ollama_num_ctx)
    return CallDefaults(options=options, keep_alive=keep_alive_value(settings.ollama_keep_alive),
                        think=settings.llm_think, truncate=False)


def _check_names(settings: Settings) -> None:
    for variable, name, host in (("OLLAMA_VISION_MODEL", settings.vision_model, settings.vision_host),
                                 ("OLLAMA_TEXT_MODEL", settings.text_model, settings.text_host)):
        if not host:
            continue
        try:
            parse_model_name(name)
        except InvalidModelName as exc:
            raise ConfigError(f"invalid configuration: {variable} (or OLLAMA_MODEL): {exc}; Ollama would answer "
                              "404 for it (a digest such as @sha256:... is not part of a model name)") from None


def _client(settings: Settings, host: str, role: str, metrics: Metrics, models_on_server: int,
            session: requests.Session | None) -> OllamaClient:
    cap = in_flight_cap(settings, models_on_server)
    return OllamaClient(host, connect_timeout=settings.ollama_health_timeout,
                        read_timeout=settings.ollama_request_timeout,
                        first_byte_timeout=settings.ollama_first_byte_timeout, session=session, metrics=metrics,
                        role=role, max_in_flight=cap, pool_size=max(worker_count(settings), cap),
                        gauges=limit_gauges(metrics, host, capped=True))


def build_models(settings: Settings, metrics: Metrics, session: requests.Session | None = None) -> ModelSet:
    _check_names(settings)
    cache = ResultCache(settings.result_cache_size, settings.result_cache_ttl_seconds, metrics=metrics)
    defaults = call_defaults(settings)
    probes: list[ModelServerProbe] = []
    servers: list[OllamaReadiness] = []

    # One server for both roles: one client, so its in-flight cap covers both.
    shared = bool(settings.vision_host) and settings.vision_host == settings.text_host
    models_on_shared = 1 if settings.text_model == settings.vision_model else 2

    def probe(client: OllamaClient, capabilities: ModelCapabilities, model: str, need: ModelRole) -> None:
        servers.append(OllamaReadiness(client, model, need, metrics, capabilities,
                                       health_timeout=settings.ollama_health_timeout, options=defaults.options,
                                       keep_alive=defaults.keep_alive,
                                       warm_up_seconds=settings.ollama_first_byte_timeout))

    vision: VisionModel
    vision_client: OllamaClient | None = None
    vision_capabilities: ModelCapabilities | None = None
    if settings.vision_host:
        vision_client = _client(settings, settings.vision_host, "vision+text" if shared else "vision", metrics,
                                models_on_shared if shared else 1, session)
        vision_capabilities = ModelCapabilities(vision_client, timeout=settings.ollama_health_timeout)
        vision = OllamaVisionModel(vision_client, settings.vision_model, defaults, settings.llm_validation_retries,
                                   cache, metrics, vision_capabilities, variable=VISION_VARIABLE)
        probe(vision_client, vision_capabilities, settings.vision_model,
              ModelRole("vision", VISION_VARIABLE, needs_vision=True))
    else:
        vision = UnconfiguredModel("vision", "OLLAMA_VISION_HOST or OLLAMA_HOST", settings.vision_model)
        probes.append(vision)

    text: TextModel
    if settings.text_host:
        if shared and vision_client is not None and vision_capabilities is not None:
            client, capabilities = vision_client, vision_capabilities
        else:
            client = _client(settings, settings.text_host, "text", metrics, 1, session)
            capabilities = ModelCapabilities(client, timeout=settings.ollama_health_timeout)
        text = OllamaTextModel(client, settings.text_model, defaults, cache, metrics,
                               validation_retries=settings.llm_validation_retries)
        structured_text: VisionModel = OllamaVisionModel(client, settings.text_model, defaults,
                                                         settings.llm_validation_retries, cache, metrics,
                                                         capabilities, variable=TEXT_VARIABLE, role="text")
        if not (shared and settings.text_model == settings.vision_model):  # one probe per (server, model)
            probe(client, capabilities, settings.text_model, ModelRole("text", TEXT_VARIABLE))
    else:
        text = UnconfiguredModel("text", "OLLAMA_TEXT_HOST or OLLAMA_HOST", settings.text_model)
        structured_text = text
        probes.append(text)

    probes.extend(servers)
    models = ModelSet(vision=vision, text=text, probes=probes, servers=servers, structured_text=structured_text)
    return with_openai_backends(settings, metrics, models)  # roles with LLM_*_BACKEND=openai
