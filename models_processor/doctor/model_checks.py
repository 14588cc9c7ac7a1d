"""Doctor checks of the model servers: each reachable (and its version), the configured models present,
the vision model able to see images (the readiness code of llm/readiness.py), and the context length the
model is loaded with (/api/ps) against OLLAMA_NUM_CTX (docs/ollama.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import LlmBackend, Settings
from ..llm.base import ModelCallError
from ..llm.client import OllamaClient
from ..llm.factory import TEXT_VARIABLE, VISION_VARIABLE
from ..llm.names import resolve_model
from ..llm.readiness import ModelCapabilities, ModelRole, OllamaReadiness
from ..metrics import Metrics
from .report import Finding, Status


@dataclass(frozen=True)
class ModelTarget:
    """One (server, model, role) the service calls."""

    host: str
    model: str
    need: ModelRole
    host_variable: str


def model_targets(settings: Settings) -> tuple[list[ModelTarget], list[Finding]]:
    """The configured (server, model) pairs; a role without a server is a failure of its own."""
    targets, missing = [], []
    for host, model, need, variable in (
            (settings.vision_host, settings.vision_model, ModelRole("vision", VISION_VARIABLE, needs_vision=True),
             "OLLAMA_VISION_HOST or OLLAMA_HOST"),
            (settings.text_host, settings.text_model, ModelRole("text", TEXT_VARIABLE), "OLLAMA_TEXT_HOST or OLLAMA_HOST")):
        if host:
            targets.append(ModelTarget(host, model, need, variable))
        else:
            missing.append(Finding(check=f"model.{need.role}", status=Status.FAIL,
                                   message=f"no {need.role} model server configured: every call of this role "
                                           "answers model_unavailable",
                                   fix=f"set {variable} (e.g. http://ollama:11434)"))
    return targets, missing


def make_client(settings: Settings, host: str, metrics: Metrics) -> OllamaClient:
    return OllamaClient(host, connect_timeout=settings.ollama_health_timeout,
                        read_timeout=settings.ollama_request_timeout, metrics=metrics, role="doctor",
                        max_attempts=1)


def check_models(settings: Settings, metrics: Metrics | None = None) -> list[Finding]:
    metrics = metrics or Metrics()
    targets, findings = model_targets(settings)
    clients: dict[str, OllamaClient] = {}
    openai = {role for role, backend in (("vision", settings.llm_vision_backend), ("text", settings.llm_text_backend))
              if backend is LlmBackend.OPENAI}
    try:
        for target in targets:
            if target.need.role in openai:
                findings.append(check_openai_model(settings, target, metrics))
                continue
            if target.host not in clients:
                clients[target.host] = make_client(settings, target.host, metrics)
                server = check_server(clients[target.host], target.host_variable)
                findings.append(server)
                if server.status is Status.FAIL:
                    continue
            elif not _reachable(findings, target.host):
                continue
            findings += check_model(settings, clients[target.host], target, metrics)
    finally:
        for client in clients.values():
            client.close()
    return findings


def _reachable(findings: list[Finding], host: str) -> bool:
    return any(f.check == f"model_server.{host}" and f.status is Status.OK for f in findings)


def check_server(client: OllamaClient, variable: str) -> Finding:
    check = f"model_server.{client.base_url}"
    try:
        version = client.version(timeout=client.connect_timeout)
        names = client.tags(timeout=client.connect_timeout)
    except ModelCallError as exc:
        return Finding(check=check, status=Status.FAIL, message=f"not reachable: {exc.message}",
                       fix=f"check {variable} and that the server is up (OLLAMA_HEALTH_TIMEOUT bounds the wait)")
    return Finding(check=check, status=Status.OK, details={"version": version, "models": names},
                   message=f"Ollama {version or '(version unknown)'}, models: {', '.join(names) or 'none'}")


def check_model(settings: Settings, client: OllamaClient, target: ModelTarget, metrics: Metrics) -> list[Finding]:
    check = f"model.{target.need.role}"
    capabilities = ModelCapabilities(client, timeout=settings.ollama_health_timeout)
    probe = OllamaReadiness(client, target.model, target.need, metrics, capabilities,
                            health_timeout=settings.ollama_health_timeout, cache_seconds=0.0)
    reasons = probe.not_ready_reasons()
    if reasons:
        return [Finding(check=check, status=Status.FAIL, message="; ".join(reasons), fix=_fix(reasons[0], target))]
    local = resolve_model(target.model, client.tags(), client.aliases().aliases or [])
    seen = capabilities.lookup(local or target.model) or []
    found = [Finding(check=check, status=Status.OK, details={"local_name": local, "capabilities": seen},
                     message=f"{target.need.role} model '{target.model}' present as '{local}' "
                             f"(capabilities: {', '.join(seen) or 'none'})")]
    return [*found, check_context(settings, client, target, local or target.model)]


def _fix(reason: str, target: ModelTarget) -> str:
    if "not present" in reason:
        return (f"pull it: `python -m models_processor models pull {target.model}` (or OLLAMA_PULL_ON_START=true), "
                f"or set {target.need.variable} to a model the server has")
    if "cannot read images" in reason:
        return f"set {target.need.variable} to a model with the vision capability (e.g. llava, gemma3:4b)"
    return f"check {target.host_variable} and the server's logs"


def check_context(settings: Settings, client: OllamaClient, target: ModelTarget, local: str) -> Finding:
    check = f"model.{target.need.role}.context"
    wanted = settings.ollama_num_ctx
    try:
        loaded = [m for m in client.ps(timeout=settings.ollama_health_timeout).models
                  if resolve_model(local, [m.shown_name], []) is not None]
    except ModelCallError as exc:
        return Finding(check=check, status=Status.WARN, message=f"/api/ps did not answer: {exc.message}")
    if not loaded:
        return Finding(check=check, status=Status.OK, details={"num_ctx": wanted},
                       message=f"'{local}' is not loaded now; the service's warm-up loads it with "
                               f"OLLAMA_NUM_CTX={wanted}")
    context = loaded[0].context_length
    details: dict[str, object] = {"num_ctx": wanted, "loaded_context_length": context}
    if context is not None and context != wanted:
        return Finding(check=check, status=Status.WARN, details=details,
                       message=f"'{local}' is loaded with a context of {context} tokens but the service asks for "
                               f"OLLAMA_NUM_CTX={wanted}: its first call reloads the model (seconds to minutes), "
                               "and so does every call of another client that asks for the other size",
                       fix=f"set OLLAMA_NUM_CTX={context}, or make the server's other clients (and "
                           f"OLLAMA_CONTEXT_LENGTH) use {wanted}")
    return Finding(check=check, status=Status.OK, details=details,
                   message=f"'{local}' is loaded with a context of {context} tokens (OLLAMA_NUM_CTX={wanted})")


def check_openai_model(settings: Settings, target: ModelTarget, metrics: Metrics) -> Finding:
    """An OpenAI-compatible server (LLM_*_BACKEND=openai): /v1/models lists the model. It publishes no
    capabilities or context length, so those checks are Ollama's only."""
    from ..llm.openai_compat import OpenAICompatClient, OpenAICompatReadiness

    client = OpenAICompatClient(target.host, api_key=settings.openai_api_key.get_secret_value(),
                                connect_timeout=settings.ollama_health_timeout,
                                read_timeout=settings.ollama_request_timeout, metrics=metrics, role=target.need.role)
    try:
        reasons = OpenAICompatReadiness(client, target.model, target.need.role, target.need.variable).not_ready_reasons()
    finally:
        client.close()
    check = f"model.{target.need.role}"
    if reasons:
        return Finding(check=check, status=Status.FAIL, message="; ".join(reasons),
                       fix=f"check {target.host_variable}, OPENAI_API_KEY and {target.need.variable} against the "
                           "server's /v1/models")
    return Finding(check=check, status=Status.OK, details={"server_kind": client.server_kind},
                   message=f"{target.need.role} model '{target.model}' served by {target.host} ({client.server_kind}, "
                           "OpenAI-compatible API; capabilities and context length are not published there)")
