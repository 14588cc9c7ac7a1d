"""The VisionModel and TextModel implementations on Ollama.

Vision: /api/chat with the image, `format` = the result model's JSON Schema (repeated in the prompt), the
server's CallDefaults; the answer is sanitized (sanitize.extract_json) and validated by pydantic. An answer
that fails, or that Ollama's repeat guard cut off, is fed back as a new chat turn (previous answer + what
was wrong) up to `validation_retries` times while the turn fits in num_ctx, then model_output_invalid. A
model without the vision capability is refused before the call. Text: /api/generate, streamed. Both use
the shared ResultCache and record Ollama's accounting. Prompts and images are never logged at INFO.
See docs/OLLAMA.md.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from ..deadline import Deadline
from ..errors import ErrorCode
from ..metrics import Metrics
from .api import CallDefaults, ChatRequest, GenerateRequest, Message, encode_image
from .base import Generation, ModelCallError, ResultT
from .cache import ResultCache
from .client import OllamaClient
from .failures import FailureReason, OllamaCallError, RepeatGuardCut
from .names import is_valid_model_name
from .prompts import (
    JSON_SYSTEM,
    describe_validation_error,
    feedback_prompt,
    repeat_feedback_prompt,
    schema_of,
    structured_prompt,
    text_prompt,
    text_retry_prompt,
)
from .readiness import VISION, ModelCapabilities, cannot_see_error
from .sanitize import NoJSONFound, extract_json

log = logging.getLogger(__name__)

# An answer fed back to the model is cut to this size: "{}" plus a whitespace flood (ollama #7603) or a
# runaway answer must not blow the context (num_ctx is fixed).
_MAX_FEEDBACK_ANSWER_CHARS = 4000
# A rough token count for text we have not sent yet (the server's tokenizer is not ours): 3 chars a token
# errs on the side of "does not fit".
_CHARS_PER_TOKEN = 3


class _EmptyAnswer(ValueError):
    """`{}` for a schema with fields: the known "{}" + whitespace failure (ollama #7603), not an answer."""


def record_outcome(metrics: Metrics, role: str, model: str, outcome: Generation, seconds: float) -> None:
    """Ollama's counts and durations (nanoseconds) into the metrics."""
    metrics.child(metrics.model_seconds, role).observe(seconds)
    if outcome.prompt_eval_count:
        metrics.child(metrics.model_tokens, role, model, "prompt").inc(outcome.prompt_eval_count)
    if outcome.eval_count:
        metrics.child(metrics.model_tokens, role, model, "eval").inc(outcome.eval_count)
    if outcome.load_duration_ns is not None:
        metrics.child(metrics.model_load_seconds, role).observe(outcome.load_duration_ns / 1e9)
    slot_wait = outcome.slot_wait_ns
    if slot_wait is not None:
        metrics.child(metrics.model_slot_wait_seconds, role).observe(slot_wait / 1e9)


def _count_request(metrics: Metrics, role: str, model: str, outcome: str, code: ErrorCode | None = None) -> None:
    metrics.child(metrics.model_requests, role, model, outcome).inc()
    if code is not None:
        metrics.child(metrics.model_errors, role, code.value).inc()


def _timed(call: Callable[[], Generation]) -> tuple[Generation, float]:
    started = time.monotonic()
    outcome = call()
    return outcome, time.monotonic() - started


def fits_context(defaults: CallDefaults, used_tokens: int, added_chars: int) -> bool:
    """Whether a prompt of `used_tokens` (the last call's prompt_eval_count + eval_count) plus
    `added_chars` of new text, and room for num_predict, fits in num_ctx."""
    num_ctx = defaults.options.num_ctx
    if num_ctx is None:
        return True
    room = defaults.options.num_predict or 0
    return used_tokens + added_chars // _CHARS_PER_TOKEN + room <= num_ctx


class OllamaVisionModel:
    """VisionModel: structured extraction from one image with validation feedback."""

    def __init__(self, client: OllamaClient, model: str, defaults: CallDefaults, validation_retries: int,
                 cache: ResultCache | None, metrics: Metrics, capabilities: ModelCapabilities, *,
                 variable: str = "OLLAMA_VISION_MODEL", role: str = "vision") -> None:
        self.client = client
        self.model_name = model
        # Kept constant per server: a different num_ctx (a runner option) makes Ollama reload the model.
        self.defaults = defaults
        self.validation_retries = max(0, validation_retries)
        self.cache = cache
        self.metrics = metrics
        self.capabilities = capabilities
        self.variable = variable
        self.role = role

    def extract(self, *, image_jpeg: bytes | None, result_model: type[ResultT], instruction: str,
                deadline: Deadline) -> tuple[ResultT, Generation]:
        schema = schema_of(result_model)
        try:
            if image_jpeg is not None:  # None: a text-only structured call (the photo text pass)
                self._check_can_see()
            if self.cache is None or not self.cache.enabled:  # no key hashing when caching is off
                (data, generation), cached = self._extract_uncached(image_jpeg, result_model, instruction,
                                                                    schema, deadline), False
            else:
                key = self.cache.key(self.model_name, {"api": "chat", "instruction": instruction, "schema": schema},
                                     self.defaults.model_dump(mode="json"), image_jpeg)
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

    def _check_can_see(self) -> None:
        capabilities = self.capabilities.lookup(self.model_name)
        if capabilities is not None and VISION not in capabilities:
            raise cannot_see_error(self.model_name, self.client.base_url, capabilities, self.variable)

    def _call(self, messages: list[Message], schema: dict[str, Any], deadline: Deadline) -> Generation:
        request = ChatRequest(model=self.model_name, messages=messages, format=schema, stream=True,
                              options=self.defaults.options, keep_alive=self.defaults.keep_alive,
                              think=self.defaults.think, truncate=self.defaults.truncate)
        try:
            outcome, seconds = _timed(lambda: self.client.chat(request, deadline=deadline))
        except OllamaCallError as exc:
            if exc.reason is FailureReason.NO_VISION:
                raise cannot_see_error(self.model_name, self.client.base_url, [], self.variable) from None
            if exc.reason is FailureReason.CONTEXT_EXCEEDED:
                # Our instruction and the photo do not fit: an operator setting, not the requester's photo.
                raise ModelCallError(ErrorCode.MODEL_UNAVAILABLE, f"{exc.message}; raise OLLAMA_NUM_CTX or lower "
                                     "LLM_IMAGE_MAX_SIDE", transient=False) from None
            raise
        record_outcome(self.metrics, self.role, self.model_name, outcome, seconds)
        return outcome

    def _extract_uncached(self, image_jpeg: bytes | None, result_model: type[BaseModel], instruction: str,
                          schema: dict[str, Any], deadline: Deadline) -> tuple[dict[str, Any], Generation]:
        messages = [Message(role="system", content=JSON_SYSTEM),
                    Message(role="user", content=structured_prompt(instruction, result_model),
                            images=None if image_jpeg is None else [encode_image(image_jpeg)])]
        attempts = self.validation_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                outcome = self._call(messages, schema, deadline)
                result = self._validate(outcome, result_model)
            except RepeatGuardCut as cut:
                answer, errors, used = cut.partial_text, "", 0
                feedback = repeat_feedback_prompt()
            except (NoJSONFound, ValidationError, _EmptyAnswer) as exc:
                answer, errors = outcome.text, describe_validation_error(exc)
                if outcome.done_reason == "length":
                    errors = ("the answer was cut off at the token limit before the JSON ended; answer "
                              "shorter. " + errors)
                used = (outcome.prompt_eval_count or 0) + (outcome.eval_count or 0)
                feedback = feedback_prompt(errors)
            else:
                _count_request(self.metrics, self.role, self.model_name, "ok")
                log.info("vision %s: %s valid after %d attempt(s); prompt_tokens=%s eval_tokens=%s load=%.2fs "
                         "total=%.2fs done_reason=%s", self.model_name, result_model.__name__, attempt,
                         outcome.prompt_eval_count, outcome.eval_count, (outcome.load_duration_ns or 0) / 1e9,
                         (outcome.total_duration_ns or 0) / 1e9, outcome.done_reason)
                return result.model_dump(mode="json"), outcome
            answer = answer.strip()[:_MAX_FEEDBACK_ANSWER_CHARS]
            why = errors or "the answer repeated one token until the server cut it off"
            log.info("vision %s: answer %d/%d invalid: %s", self.model_name, attempt, attempts, why)
            if attempt == attempts or not fits_context(self.defaults, used, len(answer) + len(feedback)):
                budget = "" if attempt == attempts else "; asking again would not fit in num_ctx"
                raise ModelCallError(ErrorCode.MODEL_OUTPUT_INVALID,
                                     f"model '{self.model_name}' gave no valid {result_model.__name__} after "
                                     f"{attempt} attempt(s){budget}: {why}", transient=False) from None
            self.metrics.validation_retries.labels(role=self.role).inc()
            messages = [*messages, Message(role="assistant", content=answer), Message(role="user", content=feedback)]
        raise AssertionError("unreachable")  # the loop returns or raises

    @staticmethod
    def _validate(outcome: Generation, result_model: type[BaseModel]) -> BaseModel:
        """Sanitize then validate. A truncated answer (done_reason "length") goes through the same repair
        and is accepted only if the repaired JSON validates."""
        value = extract_json(outcome.text)
        if value == {} and result_model.model_fields:
            raise _EmptyAnswer("the answer was an empty JSON object; fill in the fields of the schema")
        return result_model.model_validate(value)


class OllamaTextModel:
    """TextModel: free text from /api/generate (streamed), with the shared result cache. An answer the
    repeat guard cut off is asked again with a note (up to `validation_retries` times)."""

    def __init__(self, client: OllamaClient, model: str, defaults: CallDefaults, cache: ResultCache | None,
                 metrics: Metrics, *, validation_retries: int = 2, role: str = "text") -> None:
        self.client = client
        self.model_name = model
        self.defaults = defaults
        self.cache = cache
        self.metrics = metrics
        self.validation_retries = max(0, validation_retries)
        self.role = role
        self._name_valid = is_valid_model_name(model)  # once, not per request
        self._defaults_key = defaults.model_dump(mode="json")  # the cache key's options (defaults are frozen)

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation:
        model_name = model or self.model_name
        valid = self._name_valid if model_name == self.model_name else is_valid_model_name(model_name)
        if not valid:
            raise ModelCallError(ErrorCode.INVALID_REQUEST, f"invalid model name {model_name!r}", transient=False)
        system, text = text_prompt(prompt)
        try:
            if self.cache is None or not self.cache.enabled:  # no key hashing when caching is off
                generation, cached = self._generate_uncached(model_name, system, text, deadline), False
            else:
                key = self.cache.key(model_name, {"api": "generate", "system": system, "prompt": text},
                                     self._defaults_key, None)
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

    def _call(self, model_name: str, system: str, prompt: str, deadline: Deadline) -> Generation:
        request = GenerateRequest(model=model_name, prompt=prompt, system=system, stream=True,
                                  options=self.defaults.options, keep_alive=self.defaults.keep_alive,
                                  think=self.defaults.think, truncate=self.defaults.truncate)
        outcome, seconds = _timed(lambda: self.client.generate(request, deadline=deadline))
        record_outcome(self.metrics, self.role, model_name, outcome, seconds)
        return outcome

    def _generate_uncached(self, model_name: str, system: str, prompt: str, deadline: Deadline) -> Generation:
        asked = prompt
        for attempt in range(1, self.validation_retries + 2):
            try:
                outcome = self._call(model_name, system, asked, deadline)
                break
            except RepeatGuardCut as cut:
                log.info("text %s: answer %d cut off by the repeat guard (%d chars)", model_name, attempt,
                         len(cut.partial_text))
                if attempt > self.validation_retries:
                    raise ModelCallError(ErrorCode.MODEL_OUTPUT_INVALID, f"{cut.message} on each of {attempt} "
                                         "attempt(s)", transient=False) from None
                self.metrics.validation_retries.labels(role=self.role).inc()
                asked = text_retry_prompt(prompt, cut.partial_text)
        if not outcome.text.strip():
            why = " (it only thought)" if outcome.thinking.strip() else ""
            raise ModelCallError(ErrorCode.MODEL_OUTPUT_INVALID, f"model '{model_name}' returned no text{why}",
                                 transient=False)
        if outcome.done_reason == "length":
            # Free text cut at num_predict is still an answer; say so in the logs, not as an error.
            log.info("text %s: answer cut at the token limit (done_reason=length)", model_name)
        _count_request(self.metrics, self.role, model_name, "ok")
        # DEBUG: the request's own "request answered" line is its INFO line; the counts are in the metrics.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("text %s: %d chars; prompt_tokens=%s eval_tokens=%s load=%.2fs total=%.2fs", model_name,
                      len(outcome.text), outcome.prompt_eval_count, outcome.eval_count,
                      (outcome.load_duration_ns or 0) / 1e9, (outcome.total_duration_ns or 0) / 1e9)
        return outcome
