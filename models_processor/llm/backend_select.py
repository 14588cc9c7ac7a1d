"""LLM_VISION_BACKEND / LLM_TEXT_BACKEND = openai: the role's server is OpenAI-compatible. The role keeps the
structured and text models of structured.py (validation retries, result cache, metrics) on an
OpenAICompatClient, and its readiness lists /v1/models. Ollama stays the default (README.md). The clients of
one server share its in-flight limit (OPENAI_MAX_IN_FLIGHT, llm/limiter.py; docs/openai-compat.md)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from ..concurrency import openai_starting_limit, worker_count
from ..config import LlmBackend, Settings
from ..metrics import Metrics
from .base import ModelServerProbe
from .cache import ResultCache
from .limiter import ConcurrencyLimit, FixedLimit, VegasLimit, limit_gauges, server_label
from .readiness import ModelCapabilities, OllamaReadiness
from .structured import OllamaTextModel, OllamaVisionModel

if TYPE_CHECKING:
    from .factory import ModelSet

log = logging.getLogger(__name__)

_VISION_VARIABLE = "OLLAMA_VISION_MODEL (or OLLAMA_MODEL)"
_TEXT_VARIABLE = "OLLAMA_TEXT_MODEL (or OLLAMA_MODEL)"


def in_flight_limit(settings: Settings, host: str, metrics: Metrics) -> ConcurrencyLimit:
    """OPENAI_MAX_IN_FLIGHT for one server: no cap (0), N, or auto, starting from the slots the settings
    suggest (OLLAMA_NUM_PARALLEL, as concurrency.model_slots counts them) and bounded by the workers, who
    cannot have more calls in flight. Its size and calls in flight go to the server's gauges (no size with no
    cap)."""
    label = server_label(host)
    gauges = limit_gauges(metrics, host, capped=settings.openai_max_in_flight != 0)
    if settings.openai_max_in_flight != "auto":
        return FixedLimit(int(settings.openai_max_in_flight), gauges)

    def changed(limit: int, why: str) -> None:
        log.info("in-flight limit of %s now %d (%s)", label, limit, why)

    workers = worker_count(settings)
    return VegasLimit(min(workers, openai_starting_limit(settings)), max_limit=workers, on_change=changed,
                      gauges=gauges)


def with_openai_backends(settings: Settings, metrics: Metrics, models: ModelSet) -> ModelSet:
    """`models` with its openai roles rebuilt on OpenAICompatClient."""
    roles = {role for role, backend in (("vision", settings.llm_vision_backend), ("text", settings.llm_text_backend))
             if backend is LlmBackend.OPENAI}
    if not roles:
        return models
    from .factory import call_defaults
    from .openai_compat import OpenAICompatClient, OpenAICompatReadiness

    defaults = call_defaults(settings)
    cache = ResultCache(settings.result_cache_size, settings.result_cache_ttl_seconds, metrics=metrics)
    probes: list[ModelServerProbe] = [p for p in models.probes
                                      if not (isinstance(p, OllamaReadiness) and p.role in roles)]
    models.servers = [s for s in models.servers if s.role not in roles]

    limits: dict[str, ConcurrencyLimit] = {}

    def client(host: str, role: str) -> Any:
        # structured.py calls chat/generate/base_url (and show through ModelCapabilities): the same surface.
        if host not in limits:  # one limit, and one set of gauges, per server
            limits[host] = in_flight_limit(settings, host, metrics)
        limit = limits[host]
        return cast(Any, OpenAICompatClient(host, api_key=settings.openai_api_key.get_secret_value(),
                                            connect_timeout=settings.ollama_health_timeout,
                                            read_timeout=settings.ollama_request_timeout, metrics=metrics, role=role,
                                            limit=limit, pool_size=worker_count(settings)))

    if "vision" in roles and settings.vision_host:
        vision = client(settings.vision_host, "vision")
        models.vision = OllamaVisionModel(vision, settings.vision_model, defaults, settings.llm_validation_retries,
                                          cache, metrics, ModelCapabilities(vision, timeout=settings.ollama_health_timeout),
                                          variable=_VISION_VARIABLE)
        probes.append(OpenAICompatReadiness(vision, settings.vision_model, "vision", _VISION_VARIABLE))
    if "text" in roles and settings.text_host:
        text = client(settings.text_host, "text")
        models.text = OllamaTextModel(text, settings.text_model, defaults, cache, metrics,
                                      validation_retries=settings.llm_validation_retries)
        models.structured_text = OllamaVisionModel(
            text, settings.text_model, defaults, settings.llm_validation_retries, cache, metrics,
            ModelCapabilities(text, timeout=settings.ollama_health_timeout), variable=_TEXT_VARIABLE, role="text")
        probes.append(OpenAICompatReadiness(text, settings.text_model, "text", _TEXT_VARIABLE))
    models.probes = probes
    return models
