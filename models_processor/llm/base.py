"""The interfaces the pipeline uses to reach a model, and the errors a model call raises.

The pipeline depends on these protocols only; the Ollama client implements them, tests pass doubles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import BaseModel

from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError

ResultT = TypeVar("ResultT", bound=BaseModel)


@dataclass(frozen=True)
class Generation:
    """One finished model answer with Ollama's own accounting (durations in nanoseconds).

    `thinking` is what a thinking model wrote before its answer (empty unless thinking was asked for);
    `attempts` counts the HTTP attempts the client made; `cached` marks an answer from the result cache.
    """

    text: str
    model: str
    done_reason: str = "stop"
    thinking: str = ""
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    load_duration_ns: int | None = None
    total_duration_ns: int | None = None
    eval_duration_ns: int | None = None
    prompt_eval_duration_ns: int | None = None
    attempts: int = 1
    cached: bool = False

    @property
    def slot_wait_ns(self) -> int | None:
        """How long the call waited inside the server for a parallel slot: Ollama's total_duration counts
        that wait, its load, prompt and generation durations do not (docs/ollama.md, "Concurrency")."""
        parts = (self.total_duration_ns, self.load_duration_ns, self.prompt_eval_duration_ns, self.eval_duration_ns)
        if any(p is None for p in parts):
            return None
        total, load, prompt, generation = (p or 0 for p in parts)
        return max(0, total - load - prompt - generation)


class ModelCallError(ProcessingError):
    """A failed model call. `transient` errors (refused, timeout, 503, 5xx) are retried inside the deadline."""

    def __init__(self, code: ErrorCode, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(code, message, retryable=transient)
        self.transient = transient
        self.status = status


class TextModel(Protocol):
    model_name: str

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation: ...


class VisionModel(Protocol):
    model_name: str

    def extract(self, *, image_jpeg: bytes | None, result_model: type[ResultT], instruction: str,
                deadline: Deadline) -> tuple[ResultT, Generation]:
        """Ask the model for `result_model` as JSON (schema in `format`), validated, with retries.
        `image_jpeg` None: a text-only call (the photo pipeline's text pass over the OCR lines)."""
        ...


class ModelServerProbe(Protocol):
    """Readiness of one model server: an empty list means ready, otherwise the reasons it is not."""

    def not_ready_reasons(self) -> list[str]: ...


class UnconfiguredModel:
    """Stands where no model server is configured: every call answers model_unavailable, never a made-up
    answer."""

    def __init__(self, role: str, variable: str, model_name: str) -> None:
        self.role = role
        self.variable = variable
        self.model_name = model_name

    def _error(self) -> ModelCallError:
        return ModelCallError(
            ErrorCode.MODEL_UNAVAILABLE,
            f"no {self.role} model server configured: set {self.variable} (e.g. http://localhost:11434)",
            transient=False,
        )

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation:
        raise self._error()

    def extract(self, *, image_jpeg: bytes | None, result_model: type[ResultT], instruction: str,
                deadline: Deadline) -> tuple[ResultT, Generation]:
        raise self._error()

    def not_ready_reasons(self) -> list[str]:
        return [self._error().message]
