"""How many requests run at once: the worker count and the model servers' parallel slots behind it.

The model call is the slow, scarce part: each server runs OLLAMA_NUM_PARALLEL generations per loaded model,
and the client caps its calls per server there (llm/client.py). A worker also spends time outside the call
(decode, validation, OCR, parsing; the dispatcher produces the answer), and with exactly one worker per slot
every such millisecond leaves a slot idle. CONCURRENT_REQUESTS=auto (the default) therefore runs twice as
many workers as the servers have slots: while half of them are in a model call, the other half do their
CPU phases or wait for the next free slot. Never fewer than the earlier service's 4, so a deployment with
one slot keeps the workers it had.

Where the next call waits matters for short calls: at the client's cap, a slot idles from the end of one
call until the next call's request has crossed this process and the network (the hand-over); waiting inside
the server, the next call takes the slot at once. So by default one call per slot may wait inside the
server (CALLS_PER_SLOT), but only when the first-byte timeout cannot cut that wait short: every call ends
by its request's deadline, so with OLLAMA_FIRST_BYTE_TIMEOUT at least REQUEST_DEADLINE_SECONDS (the
defaults: 300 and 240 s) a call waiting behind another is bounded by its own deadline alone, as it is at the
client's cap. docs/ollama.md "Concurrency" and docs/BENCHMARKS.md give the measured figures.
"""

from __future__ import annotations

from .config import LlmBackend, Settings

AUTO = "auto"
# The earlier service's CONCURRENT_REQUESTS default: the floor of the automatic count.
MIN_AUTO_WORKERS = 4
# Workers per model slot: one in the call, one ahead of it (CPU phases, or waiting for the slot).
WORKERS_PER_SLOT = 2
MAX_WORKERS = 256


# Calls sent per slot of an Ollama server by default: one generating, one waiting inside the server.
CALLS_PER_SLOT = 2


def ollama_slots(settings: Settings, models_on_server: int) -> int:
    """An Ollama server's capacity: OLLAMA_MAX_IN_FLIGHT, or its slots (OLLAMA_NUM_PARALLEL per model)."""
    if settings.ollama_max_in_flight > 0:
        return settings.ollama_max_in_flight
    return settings.ollama_num_parallel * max(1, models_on_server)


def calls_may_wait_in_server(settings: Settings) -> bool:
    """A call waiting inside the server for a slot is bounded by its deadline alone (module docstring)."""
    return settings.ollama_first_byte_timeout >= settings.request_deadline_seconds


def in_flight_cap(settings: Settings, models_on_server: int) -> int:
    """Calls sent to an Ollama server at once: OLLAMA_MAX_IN_FLIGHT as set, or by default CALLS_PER_SLOT per
    slot when calls may wait inside the server, else one per slot."""
    if settings.ollama_max_in_flight > 0:
        return settings.ollama_max_in_flight
    per_slot = CALLS_PER_SLOT if calls_may_wait_in_server(settings) else 1
    return per_slot * ollama_slots(settings, models_on_server)


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
    server's slots (ollama_slots), an OpenAI-compatible server's OPENAI_MAX_IN_FLIGHT (openai_slots)."""
    return sum(openai_slots(settings, len(models)) if backend is LlmBackend.OPENAI
               else ollama_slots(settings, len(models))
               for (_, backend), models in models_by_backend_server(settings).items())


def worker_count(settings: Settings) -> int:
    """CONCURRENT_REQUESTS as set, or for auto: two workers per model slot, at least 4."""
    if settings.concurrent_requests != AUTO:
        return int(settings.concurrent_requests)
    return min(MAX_WORKERS, max(MIN_AUTO_WORKERS, WORKERS_PER_SLOT * model_slots(settings)))
