"""`python -m models_processor models list|pull`: the models on the configured servers, and pulling them
with progress (README.md, commands). The servers are the service's own: OLLAMA_VISION_HOST/OLLAMA_TEXT_HOST,
falling back to OLLAMA_HOST."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from pydantic import BaseModel, Field

from .config import ConfigError, LlmBackend, Settings
from .llm.api import ProgressResponse
from .llm.base import ModelCallError
from .llm.client import OllamaClient
from .llm.names import resolve_model
from .metrics import Metrics


class ServerModel(BaseModel):
    name: str
    roles: list[str] = Field(default_factory=list, description="roles configured to use this model here")
    loaded_context_length: int | None = Field(None, description="/api/ps context_length, when loaded")


class ServerListing(BaseModel):
    server: str
    version: str = ""
    models: list[ServerModel] = Field(default_factory=list)
    error: str = ""
    missing: list[str] = Field(default_factory=list, description="configured models the server does not have")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="models_action", required=True)
    listing = actions.add_parser("list", help="models on each configured server, with the roles using them")
    listing.add_argument("--json", action="store_true", help="print JSON")
    pull = actions.add_parser("pull", help="pull models onto the configured servers, with progress")
    pull.add_argument("model", nargs="*", help="model names (default: the configured vision and text models)")
    pull.add_argument("--host", default="", help="server to pull onto (default: each configured model's server)")
    pull.add_argument("--force", action="store_true", help="pull even when the server already has the model")


def configured(settings: Settings) -> dict[str, dict[str, str]]:
    """Ollama server URL -> {role: model}. Roles on an OpenAI-compatible backend are left out: such servers
    have no pull, and `doctor` checks their /v1/models."""
    servers: dict[str, dict[str, str]] = {}
    for role, host, model, backend in (
            ("vision", settings.vision_host, settings.vision_model, settings.llm_vision_backend),
            ("text", settings.text_host, settings.text_model, settings.llm_text_backend)):
        if host and backend is LlmBackend.OLLAMA:
            servers.setdefault(host, {})[role] = model
    if not servers:
        raise ConfigError("no Ollama model server configured: set OLLAMA_HOST (or OLLAMA_VISION_HOST / "
                          "OLLAMA_TEXT_HOST) with LLM_*_BACKEND=ollama")
    return servers


def _client(settings: Settings, host: str) -> OllamaClient:
    return OllamaClient(host, connect_timeout=settings.ollama_health_timeout,
                        read_timeout=settings.ollama_request_timeout, metrics=Metrics(), role="models",
                        max_attempts=1)


def list_server(client: OllamaClient, roles: dict[str, str]) -> ServerListing:
    try:
        version = client.version()
        names = client.tags()
        loaded = client.ps().models
        aliases = client.aliases().aliases or []
    except ModelCallError as exc:
        return ServerListing(server=client.base_url, error=exc.message)
    models = {name: ServerModel(name=name) for name in names}
    missing = []
    for role, wanted in roles.items():
        local = resolve_model(wanted, names, aliases)
        if local is None:
            missing.append(wanted)
        else:
            models[local].roles.append(role)
    for process in loaded:
        if process.shown_name in models:
            models[process.shown_name].loaded_context_length = process.context_length
    return ServerListing(server=client.base_url, version=version, models=list(models.values()),
                         missing=sorted(set(missing)))


def _print_listing(listing: ServerListing, out: TextIO) -> None:
    if listing.error:
        print(f"{listing.server}: not reachable: {listing.error}", file=out)
        return
    print(f"{listing.server} (Ollama {listing.version}):", file=out)
    for model in listing.models:
        loaded = f"  loaded, context {model.loaded_context_length}" if model.loaded_context_length else ""
        roles = f"  [{', '.join(model.roles)}]" if model.roles else ""
        print(f"  {model.name}{roles}{loaded}", file=out)
    for name in listing.missing:
        print(f"  {name}  MISSING (configured; `python -m models_processor models pull` fetches it)", file=out)


class ProgressPrinter:
    """One line per status, and per 10 % of a layer's download: readable in a log, not thousands of lines."""

    def __init__(self, model: str, out: TextIO) -> None:
        self.model = model
        self.out = out
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, progress: ProgressResponse) -> None:
        percent = -1
        if progress.total:
            percent = int((progress.completed or 0) * 100 / progress.total) // 10 * 10
        if (progress.status, percent) == self._last:
            return
        self._last = (progress.status, percent)
        size = f" {percent}% of {progress.total / 1e6:.0f} MB" if progress.total and percent >= 0 else ""
        print(f"{self.model}: {progress.status}{size}", file=self.out, flush=True)


def pull_one(client: OllamaClient, model: str, *, force: bool, out: TextIO,
             progress: Callable[[ProgressResponse], None] | None = None) -> bool:
    """True when the server has the model afterwards. A model already there is not pulled again (a pull
    always asks the registry first, which fails on an offline server) unless force."""
    try:
        if not force and resolve_model(model, client.tags(), client.aliases().aliases or []) is not None:
            print(f"{model}: already present on {client.base_url}; nothing to pull (--force pulls anyway)",
                  file=out)
            return True
        client.pull(model, progress or ProgressPrinter(model, out))
    except ModelCallError as exc:
        print(f"{model}: {exc.message}", file=out)
        return False
    print(f"{model}: pulled onto {client.base_url}", file=out)
    return True


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    servers = configured(settings) if not (args.models_action == "pull" and args.host) else {}
    if args.models_action == "list":
        listings = []
        for host, roles in servers.items():
            client = _client(settings, host)
            try:
                listings.append(list_server(client, roles))
            finally:
                client.close()
        if args.json:
            print("[" + ",".join(item.model_dump_json() for item in listings) + "]", file=out)
        else:
            for listing in listings:
                _print_listing(listing, out)
        return 0 if all(not item.error and not item.missing for item in listings) else 1
    wanted = _pull_plan(settings, args, servers)
    ok = True
    for host, models in wanted.items():
        client = _client(settings, host)
        try:
            for model in models:
                ok = pull_one(client, model, force=args.force, out=out) and ok
        finally:
            client.close()
    return 0 if ok else 1


def _pull_plan(settings: Settings, args: argparse.Namespace, servers: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    if args.host:
        host = settings.model_validate({"ollama_host": args.host}).ollama_host  # the same URL rules
        return {host: list(dict.fromkeys(args.model)) or [settings.vision_model, settings.text_model]}
    if args.model:  # each named model onto every configured server
        return {host: list(dict.fromkeys(args.model)) for host in servers}
    return {host: list(dict.fromkeys(roles.values())) for host, roles in servers.items()}
