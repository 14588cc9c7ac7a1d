"""Readiness of one Ollama server for /ready, and the start-up preparation (pull, warm-up).

Ready means: /api/tags answers within the health timeout; our model is there by the server's name rules
(names.py: `LLaVA` finds `llava:latest`, a server-side alias finds its target); and a model that must
read images has the `vision` capability in /api/show (a text-only model answers every image with a 500).
The answer is cached ~2 s so frequent probes do not hammer Ollama. See docs/OLLAMA.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from .api import KeepAlive, Options
from .base import ModelCallError
from .client import OllamaClient
from .names import resolve_model

log = logging.getLogger(__name__)

VISION = "vision"


@dataclass(frozen=True)
class ModelRole:
    """What the service needs from one (server, model): the role, the variable that names the model, and
    whether it must read images."""

    role: str
    variable: str
    needs_vision: bool = False


class ModelCapabilities:
    """/api/show capabilities of the models on one server, remembered once known (they change only when
    the model is replaced, which is followed by a restart or a new readiness check)."""

    def __init__(self, client: OllamaClient, *, timeout: float) -> None:
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()
        self._known: dict[str, list[str]] = {}

    def lookup(self, model: str) -> list[str] | None:
        """The capabilities, or None when the server cannot tell us now (unreachable, model missing)."""
        with self._lock:
            if model in self._known:
                return self._known[model]
        try:
            capabilities = self._client.show(model, timeout=self._timeout).capabilities
        except ModelCallError:
            return None
        with self._lock:
            self._known[model] = capabilities
        return capabilities

    def forget(self) -> None:
        with self._lock:
            self._known.clear()


def cannot_see_error(model: str, base_url: str, capabilities: list[str], variable: str) -> ModelCallError:
    """The answer for a photo that needs a model which cannot read images (never `invalid_image`)."""
    return ModelCallError(
        ErrorCode.MODEL_UNAVAILABLE,
        f"vision model '{model}' on {base_url} cannot read images (capabilities: {', '.join(capabilities) or 'none'});"
        f" set {variable} to a model with the vision capability",
        transient=False,
    )


class OllamaReadiness:
    """ModelServerProbe of one (server, model) pair."""

    def __init__(self, client: OllamaClient, model: str, need: ModelRole, metrics: Metrics,
                 capabilities: ModelCapabilities, *, health_timeout: float | None = None,
                 options: Options | None = None, keep_alive: KeepAlive | None = None,
                 cache_seconds: float = 2.0, warm_up_seconds: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.model = model
        self.need = need
        self.metrics = metrics
        self.capabilities = capabilities
        self.health_timeout = health_timeout if health_timeout is not None else client.connect_timeout
        # The warm-up sends what every real call sends, so the model is loaded once with these options.
        self.options = options
        self.keep_alive = keep_alive
        self.cache_seconds = cache_seconds
        # A cold load takes seconds to minutes; a client that gives up aborts it, so the warm-up gets
        # its own generous budget.
        self.warm_up_seconds = warm_up_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[str]] | None = None  # (checked_at, reasons)

    @property
    def role(self) -> str:
        return self.need.role

    def not_ready_reasons(self) -> list[str]:
        with self._lock:
            if self._cached is not None and self._clock() - self._cached[0] < self.cache_seconds:
                return list(self._cached[1])
        reasons = self._check()
        with self._lock:
            self._cached = (self._clock(), reasons)
        self.metrics.model_server_up.labels(role=self.role).set(0 if reasons else 1)
        return list(reasons)

    def _resolve(self) -> tuple[str | None, list[str]]:
        """(the local model our name runs, reasons it is not ready)."""
        try:
            names = self.client.tags(timeout=self.health_timeout)
            local = resolve_model(self.model, names, [])
            if local is None:
                local = resolve_model(self.model, names, self.client.aliases(timeout=self.health_timeout).aliases
                                      or [])
        except ModelCallError as exc:
            return None, [f"{self.role} model server {self.client.base_url} not reachable: {exc.message}"]
        if local is None:
            listed = ", ".join(names[:10]) or "none"
            return None, [f"{self.role} model '{self.model}' ({self.need.variable}) not present on "
                          f"{self.client.base_url} (models: {listed})"]
        return local, []

    def _check(self) -> list[str]:
        local, reasons = self._resolve()
        if local is None or not self.need.needs_vision:
            return reasons
        self.capabilities.forget()  # each probe looks again: the model may have been replaced under its name
        capabilities = self.capabilities.lookup(local)
        if capabilities is None:
            return [f"{self.role} model server {self.client.base_url} did not answer /api/show for '{local}'"]
        if VISION not in capabilities:
            return [cannot_see_error(self.model, self.client.base_url, capabilities, self.need.variable).message]
        return []

    def prepare(self, pull_on_start: bool, warm_up: bool) -> bool:
        """At service start: pull the model if missing (when asked), check what it can do, warm it up.
        Failures are logged, not raised: /ready keeps reporting the reason. Returns True when ready."""
        local, reasons = self._resolve()
        if local is None and reasons and "not present" in reasons[0] and pull_on_start:
            log.info("%s model %s missing on %s: pulling", self.role, self.model, self.client.base_url)
            try:
                self.client.pull(self.model)
                local, reasons = self._resolve()
            except ModelCallError as exc:
                log.error("pulling %s failed: %s", self.model, exc.message)
        for reason in reasons:
            log.warning("%s", reason if pull_on_start or "not present" not in reason
                        else reason + "; OLLAMA_PULL_ON_START is off")
        if local is not None and warm_up:
            self._warm_up()
        with self._lock:
            self._cached = None  # the next probe looks again
        self.capabilities.forget()
        if local is None:
            return False
        problems = self._check()
        if problems:
            log.error("%s", "; ".join(problems))
        return not problems

    def _warm_up(self) -> None:
        try:
            outcome = self.client.warm_up(self.model, options=self.options, keep_alive=self.keep_alive,
                                          deadline=Deadline.after(self.warm_up_seconds))
            log.info("%s model %s warmed up (load %.2fs)", self.role, self.model,
                     (outcome.load_duration_ns or 0) / 1e9)
        except ModelCallError as exc:
            log.warning("warm-up of %s failed: %s", self.model, exc.message)
