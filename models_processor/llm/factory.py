"""Build the vision and text models and their readiness probes from Settings.

Vision and text may live on separate Ollama servers (OLLAMA_VISION_HOST/MODEL, OLLAMA_TEXT_HOST/MODEL,
falling back to OLLAMA_HOST/MODEL). A role with no host gets UnconfiguredModel, which answers
model_unavailable: the product never pretends a model answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import requests

from ..config import Settings
from ..metrics import Metrics
from .base import ModelServerProbe, TextModel, UnconfiguredModel, VisionModel
from .cache import ResultCache
from .client import OllamaClient
from .readiness import OllamaReadiness
from .structured import OllamaTextModel, OllamaVisionModel


@dataclass
class ModelSet:
    vision: VisionModel
    text: TextModel
    probes: list[ModelServerProbe]
    # The Ollama readiness probes again, for the start-up prepare() (pull, warm-up).
    servers: list[OllamaReadiness] = field(default_factory=list)
    cache: Optional[ResultCache] = None


def model_options(settings: Settings) -> dict[str, Any]:
    """Options sent with every call; constant so Ollama never reloads the model (num_ctx is a runner option)."""
    return {"temperature": settings.llm_temperature, "num_predict": settings.llm_num_predict,
            "seed": settings.llm_seed, "num_ctx": settings.ollama_num_ctx}


def _client(settings: Settings, host: str, role: str, metrics: Metrics,
            session: Optional[requests.Session]) -> OllamaClient:
    return OllamaClient(host, connect_timeout=settings.ollama_health_timeout,
                        read_timeout=settings.ollama_request_timeout, session=session, metrics=metrics, role=role,
                        max_in_flight=settings.ollama_max_in_flight,
                        pool_size=max(settings.concurrent_requests, settings.ollama_max_in_flight))


def build_models(settings: Settings, metrics: Metrics, session: Optional[requests.Session] = None) -> ModelSet:
    cache = ResultCache(settings.result_cache_size, settings.result_cache_ttl_seconds, metrics=metrics)
    options = model_options(settings)
    probes: list[ModelServerProbe] = []
    servers: list[OllamaReadiness] = []

    # One server for both roles: one client, so the in-flight cap (P slots + a small queue) covers both.
    shared = bool(settings.vision_host) and settings.vision_host == settings.text_host

    vision: VisionModel
    if settings.vision_host:
        client = _client(settings, settings.vision_host, "vision+text" if shared else "vision", metrics, session)
        vision = OllamaVisionModel(client, settings.vision_model, options, settings.ollama_keep_alive,
                                   settings.llm_validation_retries, cache, metrics)
        servers.append(OllamaReadiness(client, settings.vision_model, "vision", metrics,
                                       health_timeout=settings.ollama_health_timeout,
                                       keep_alive=settings.ollama_keep_alive))
    else:
        vision = UnconfiguredModel("vision", "OLLAMA_VISION_HOST or OLLAMA_HOST", settings.vision_model)
        probes.append(vision)

    text: TextModel
    if settings.text_host:
        if shared and isinstance(vision, OllamaVisionModel):
            client = vision.client
        else:
            client = _client(settings, settings.text_host, "text", metrics, session)
        text = OllamaTextModel(client, settings.text_model, options, settings.ollama_keep_alive, cache, metrics)
        if not (shared and settings.text_model == settings.vision_model):  # one probe per (server, model)
            servers.append(OllamaReadiness(client, settings.text_model, "text", metrics,
                                           health_timeout=settings.ollama_health_timeout,
                                           keep_alive=settings.ollama_keep_alive))
    else:
        text = UnconfiguredModel("text", "OLLAMA_TEXT_HOST or OLLAMA_HOST", settings.text_model)
        probes.append(text)

    probes.extend(servers)
    return ModelSet(vision=vision, text=text, probes=probes, servers=servers, cache=cache)
