"""How many requests run at once: the worker count and the model servers' parallel slots behind it.

The model call is the slow, scarce part: each server runs OLLAMA_NUM_PARALLEL generations per loaded model,
and the client caps its calls per server there (llm/client.py). A worker also spends time outside the call
(decode, validation, OCR, parsing; the dispatcher produces the answer), and with exactly one worker per slot
every such millisecond leaves a slot idle. CONCURRENT_REQUESTS=auto (the default) therefore runs twice as
many workers as the servers have slots: while half of them are in a model call, the other half do their
CPU phases or wait at the client's cap, ready to take the next free slot. Never fewer than the earlier
service's 4, so a deployment with one slot keeps the workers it had. docs/ollama.md "Concurrency" and
docs/BENCHMARKS.md give the measured figures.
"""

from __future__ import annotations

from .config import LlmBackend, Settings

AUTO = "auto"
# The earlier service's CONCURRENT_REQUESTS default: the floor of the automatic count.
MIN_AUTO_WORKERS = 4
# Workers per model slot: one in the call, one ahead of it (CPU phases, waiting at the cap).
WORKERS_PER_SLOT = 2
MAX_WORKERS = 256


def in_flight_cap(settings: Settings, models_on_server: int) -> int:
    """OLLAMA_MAX_IN_FLIGHT, or by default the server's slots: OLLAMA_NUM_PARALLEL for each model it runs."""
    if settings.ollama_max_in_flight > 0:
        return settings.ollama_max_in_flight
    return settings.ollama_num_parallel * max(1, models_on_server)


def openai_starting_limit(settings: Settings) -> int:
    """OPENAI_MAX_IN_FLIGHT=auto's limit before it has seen the server: the slots the settings suggest
    (OLLAMA_NUM_PARALLEL), one limit per server whatever models it runs (llm/backend_select.py)."""
    return settings.ollama_num_parallel


def openai_slots(settings: Settings, models_on_server: int) -> int:
    """The slots an OpenAI-compatible server is counted with: OPENAI_MAX_IN_FLIGHT=N is N, auto its starting
    limit; with no cap (0) nothing says more than OLLAMA_NUM_PARALLEL per model it runs, as for an Ollama
    server. OLLAMA_MAX_IN_FLIGHT caps the Ollama client only and does not count here."""
    if settings.openai_max_in_flight == AUTO:
        return openai_starting_limit(settings)
    if int(settings.openai_max_in_flight) > 0:
        return int(settings.openai_max_in_flight)
    return settings.ollama_num_parallel * max(1, models_on_server)


def models_by_backend_server(settings: Settings) -> dict[tuple[str, LlmBackend], set[str]]:
    """Each configured (model server, API it is called through) and the models it runs: a role on an
    OpenAI-compatible backend goes through that server's OPENAI_MAX_IN_FLIGHT limit, not the Ollama client's
    cap (docs/openai-compat.md, "Worker count")."""
    servers: dict[tuple[str, LlmBackend], set[str]] = {}
    for host, model, backend in ((settings.vision_host, settings.vision_model, settings.llm_vision_backend),
                                 (settings.text_host, settings.text_model, settings.llm_text_backend)):
        if host:
            servers.setdefault((host, backend), set()).add(model)
    return servers


def model_slots(settings: Settings) -> int:
    """Calls the configured model servers run at once, summed over the servers (0: no server): an Ollama
    server's in-flight cap, an OpenAI-compatible server's OPENAI_MAX_IN_FLIGHT (openai_slots)."""
    return sum(openai_slots(settings, len(models)) if backend is LlmBackend.OPENAI
               else in_flight_cap(settings, len(models))
               for (_, backend), models in models_by_backend_server(settings).items())


def worker_count(settings: Settings) -> int:
    """CONCURRENT_REQUESTS as set, or for auto: two workers per model slot, at least 4."""
    if settings.concurrent_requests != AUTO:
        return int(settings.concurrent_requests)
    return min(MAX_WORKERS, max(MIN_AUTO_WORKERS, WORKERS_PER_SLOT * model_slots(settings)))
