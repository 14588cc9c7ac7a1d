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

from .config import Settings

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


def models_by_server(settings: Settings) -> dict[str, set[str]]:
    """Each configured model server and the models it runs (vision and text may share one)."""
    servers: dict[str, set[str]] = {}
    for host, model in ((settings.vision_host, settings.vision_model), (settings.text_host, settings.text_model)):
        if host:
            servers.setdefault(host, set()).add(model)
    return servers


def model_slots(settings: Settings) -> int:
    """Calls the configured model servers run at once, summed over the servers (0: no server)."""
    return sum(in_flight_cap(settings, len(models)) for models in models_by_server(settings).values())


def worker_count(settings: Settings) -> int:
    """CONCURRENT_REQUESTS as set, or for auto: two workers per model slot, at least 4."""
    if settings.concurrent_requests != AUTO:
        return int(settings.concurrent_requests)
    return min(MAX_WORKERS, max(MIN_AUTO_WORKERS, WORKERS_PER_SLOT * model_slots(settings)))
