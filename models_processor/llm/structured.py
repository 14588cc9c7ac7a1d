"""The VisionModel and TextModel implementations on Ollama.

Vision: /api/chat with the image, `format` = the result model's JSON Schema (repeated in the prompt),
constant options; the answer is sanitized (sanitize.extract_json) and validated by pydantic. An answer
that fails is fed back as a new chat turn (previous answer + the validation errors) up to
`validation_retries` times, then model_output_invalid. Text: /api/generate, streamed so a long answer is
not held to one read timeout. Both use the shared ResultCache and record Ollama's own accounting.
Prompts and images are never logged at INFO.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Optional

from pydantic import BaseModel, ValidationError

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from .base import Generation, ModelCallError, ResultT
from .cache import ResultCache
from .client import GenerateOutcome, OllamaClient
from .names import is_valid_model_name
from .prompts import JSON_SYSTEM, describe_validation_error, feedback_prompt, schema_of, structured_prompt
from .prompts import text_prompt
from .sanitize import NoJSONFound, extract_json

log = logging.getLogger(__name__)

# An answer fed back to the model is cut to this size: "{}" plus a whitespace flood (ollama #7603) or a
# runaway answer must not blow the context (num_ctx is fixed).
_MAX_FEEDBACK_ANSWER_CHARS = 4000


class _EmptyAnswer(ValueError):
    """`{}` for a schema with fields: the known "{}" + whitespace failure (ollama #7603), not an answer."""


def record_outcome(metrics: Optional[Metrics], role: str, model: str, outcome: GenerateOutcome,
                   seconds: float) -> None:
    """Ollama's counts and durations (nanoseconds) into the metrics."""
    if metrics is None:
        return
    metrics.model_seconds.labels(role=role).observe(seconds)
    if outcome.prompt_eval_count:
        metrics.model_tokens.labels(role=role, model=model, type="prompt").inc(outcome.prompt_eval_count)
    if outcome.eval_count:
        metrics.model_tokens.labels(role=role, model=model, type="eval").inc(outcome.eval_count)
    if outcome.load_duration_ns is not None:
        metrics.model_load_seconds.labels(role=role).observe(outcome.load_duration_ns / 1e9)


def _count_request(metrics: Optional[Metrics], role: str, model: str, outcome: str,
                   code: Optional[ErrorCode] = None) -> None:
    if metrics is None:
        return
    metrics.model_requests.labels(role=role, model=model, outcome=outcome).inc()
    if code is not None:
        metrics.model_errors.labels(role=role, code=code.value).inc()


def _timed(call: Callable[[], GenerateOutcome]) -> tuple[GenerateOutcome, float]:
    started = time.monotonic()
    outcome = call()
    return outcome, time.monotonic() - started


class OllamaVisionModel:
    """VisionModel: structured extraction from one image with validation feedback."""

    def __init__(self, client: OllamaClient, model: str, options: dict[str, Any], keep_alive: str | int,
                 validation_retries: int, cache: Optional[ResultCache], metrics: Optional[Metrics], *,
                 role: str = "vision") -> None:
        self.client = client
        self.model_name = model
        # Kept constant per server: a different num_ctx (a runner option) makes Ollama reload the model.
        self.options = dict(options)
        self.keep_alive = keep_alive
        self.validation_retries = max(0, validation_retries)
        self.cache = cache
        self.metrics = metrics
        self.role = role

    def extract(self, *, image_jpeg: bytes, result_model: type[ResultT], instruction: str,
                deadline: Deadline) -> tuple[ResultT, Generation]:
        schema = schema_of(result_model)
        try:
            if self.cache is None:
                (data, generation), cached = self._extract_uncached(image_jpeg, result_model, instruction,
                                                                    schema, deadline), False
            else:
                key = self.cache.key(self.model_name, {"api": "chat", "instruction": instruction, "schema": schema},
                                     self.options, image_jpeg)
                (data, generation), cached = self.cache.get_or_compute(
                    key, lambda: self._extract_uncached(image_jpeg, result_model, instruction, schema, deadline),
                    wait_seconds=deadline.remaining())
        except ModelCallError as exc:
            _count_request(self.metrics, self.role, self.model_name, "error", exc.code)
            raise
        if cached:
            _count_request(self.metrics, self.role, self.model_name, "cached")
            log.info("vision %s: served from the result cache (%s)", self.model_name, result_model.__name__)
            generation = dataclasses.replace(generation, cached=True)
        # The cache holds plain data; each caller gets its own validated instance.
        return result_model.model_validate(data), generation

    def _extract_uncached(self, image_jpeg: bytes, result_model: type[BaseModel], instruction: str,
                          schema: dict[str, Any], deadline: Deadline) -> tuple[dict[str, Any], Generation]:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": JSON_SYSTEM},
            {"role": "user", "content": structured_prompt(instruction, result_model), "images": [image_jpeg]},
        ]
        attempts = self.validation_retries + 1
        for attempt in range(1, attempts + 1):
            body = {"model": self.model_name, "messages": messages, "format": schema, "options": self.options,
                    "keep_alive": self.keep_alive}
            # Streamed: the read timeout then bounds silence between tokens, not the whole generation.
            outcome, seconds = _timed(lambda: self.client.chat(body, deadline=deadline, stream=True))
            record_outcome(self.metrics, self.role, self.model_name, outcome, seconds)
            try:
                result = self._validate(outcome, result_model)
            except (NoJSONFound, ValidationError, _EmptyAnswer) as exc:
                errors = describe_validation_error(exc)
                if outcome.done_reason == "length":
                    errors = ("the answer was cut off at the token limit before the JSON ended; answer "
                              "shorter. " + errors)
                log.info("vision %s: answer %d/%d failed validation (done_reason=%s, %d chars): %s",
                         self.model_name, attempt, attempts, outcome.done_reason, len(outcome.text), errors)
                if attempt == attempts:
                    raise ModelCallError(ErrorCode.MODEL_OUTPUT_INVALID,
                                         f"model '{self.model_name}' gave no valid {result_model.__name__} after "
                                         f"{attempts} attempt(s): {errors}", transient=False) from None
                if self.metrics is not None:
                    self.metrics.validation_retries.labels(role=self.role).inc()
                messages = messages + [
                    {"role": "assistant", "content": outcome.text.strip()[:_MAX_FEEDBACK_ANSWER_CHARS]},
                    {"role": "user", "content": feedback_prompt(errors)},
                ]
                continue
            _count_request(self.metrics, self.role, self.model_name, "ok")
            log.info("vision %s: %s valid after %d attempt(s); prompt_tokens=%s eval_tokens=%s load=%.2fs "
                     "total=%.2fs done_reason=%s", self.model_name, result_model.__name__, attempt,
                     outcome.prompt_eval_count, outcome.eval_count, (outcome.load_duration_ns or 0) / 1e9,
                     (outcome.total_duration_ns or 0) / 1e9, outcome.done_reason)
            return result.model_dump(mode="json"), outcome.generation()
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _validate(outcome: GenerateOutcome, result_model: type[BaseModel]) -> BaseModel:
        """Sanitize then validate. A truncated answer (done_reason "length") goes through the same repair
        and is accepted only if the repaired JSON validates."""
        value = extract_json(outcome.text)
        if value == {} and result_model.model_fields:
            raise _EmptyAnswer("the answer was an empty JSON object; fill in the fields of the schema")
        return result_model.model_validate(value)


class OllamaTextModel:
    """TextModel: free text from /api/generate (streamed), with the shared result cache."""

    def __init__(self, client: OllamaClient, model: str, options: dict[str, Any], keep_alive: str | int,
                 cache: Optional[ResultCache], metrics: Optional[Metrics], *, role: str = "text") -> None:
        self.client = client
        self.model_name = model
        self.options = dict(options)
        self.keep_alive = keep_alive
        self.cache = cache
        self.metrics = metrics
        self.role = role

    def generate_text(self, prompt: str, *, deadline: Deadline, model: Optional[str] = None) -> Generation:
        model_name = model or self.model_name
        if not is_valid_model_name(model_name):
            raise ModelCallError(ErrorCode.INVALID_REQUEST, f"invalid model name {model_name!r}", transient=False)
        system, text = text_prompt(prompt)
        try:
            if self.cache is None:
                generation, cached = self._generate_uncached(model_name, system, text, deadline), False
            else:
                key = self.cache.key(model_name, {"api": "generate", "system": system, "prompt": text},
                                     self.options, None)
                generation, cached = self.cache.get_or_compute(
                    key, lambda: self._generate_uncached(model_name, system, text, deadline),
                    wait_seconds=deadline.remaining())
        except ModelCallError as exc:
            _count_request(self.metrics, self.role, model_name, "error", exc.code)
            raise
        if cached:
            _count_request(self.metrics, self.role, model_name, "cached")
            log.info("text %s: served from the result cache", model_name)
            return dataclasses.replace(generation, cached=True)
        return generation

    def _generate_uncached(self, model_name: str, system: str, prompt: str, deadline: Deadline) -> Generation:
        body = {"model": model_name, "prompt": prompt, "system": system, "options": self.options,
                "keep_alive": self.keep_alive}
        outcome, seconds = _timed(lambda: self.client.generate(body, deadline=deadline, stream=True))
        record_outcome(self.metrics, self.role, model_name, outcome, seconds)
        if not outcome.text.strip():
            raise ModelCallError(ErrorCode.MODEL_OUTPUT_INVALID, f"model '{model_name}' returned no text",
                                 transient=False)
        if outcome.done_reason == "length":
            # Free text cut at num_predict is still an answer; say so in the logs, not as an error.
            log.info("text %s: answer cut at the token limit (done_reason=length)", model_name)
        _count_request(self.metrics, self.role, model_name, "ok")
        log.info("text %s: %d chars; prompt_tokens=%s eval_tokens=%s load=%.2fs total=%.2fs", model_name,
                 len(outcome.text), outcome.prompt_eval_count, outcome.eval_count,
                 (outcome.load_duration_ns or 0) / 1e9, (outcome.total_duration_ns or 0) / 1e9)
        return outcome.generation()
