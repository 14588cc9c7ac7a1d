"""Configuration from environment variables (pydantic-settings).

Every variable name of the earlier service keeps working. Any other `KAFKA_<PROPERTY>` variable is passed
through to librdkafka (KAFKA_SECURITY_PROTOCOL=SASL_SSL -> security.protocol=SASL_SSL) so SASL/TLS clusters
need no code change. A wrong value stops the service at start with a message naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .llm.api import keep_alive_value


class ProcessingGuarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class OcrEngineName(StrEnum):
    RAPIDOCR = "rapidocr"
    PADDLEOCR = "paddleocr"


class LlmBackend(StrEnum):
    """The API a role's model server speaks (llm/openai_compat.py for openai)."""

    OLLAMA = "ollama"
    OPENAI = "openai"


class ConfigError(Exception):
    """Raised at start-up; the message names each offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # --- Kafka (earlier service names) ---
    bootstrap_server: str = Field("localhost:9092", description="Kafka bootstrap servers (host:port,...)")
    local_model_kafka_topic: str = Field("eater-send-photo", min_length=1, description="request topic")
    consumer_group: str = Field("models-processor", min_length=1, description="Kafka consumer group (scale out by adding members)")
    photo_response_topic: str = Field("photo-analysis-response", min_length=1, description="photo results")
    text_response_topic: str = Field("gemini-response", min_length=1, description="text results (name kept for existing consumers)")
    dlq_topic: str = Field("models-processor-dlq", min_length=1, description="unprocessable requests, unchanged, with error headers")
    error_response_topic: str = Field("", description="answers to unparseable requests; default: text topic")
    expected_user_email: str = Field("", description="when set, requests from other users are skipped")
    processing_guarantee: ProcessingGuarantee = Field(ProcessingGuarantee.AT_LEAST_ONCE, description="at_least_once or exactly_once (Kafka transactions)")
    transactional_id: str = Field(
        "", description="exactly-once: stable per replica; default from POD_NAME (docs/DEPLOYMENT.md)"
    )
    pod_name: str = Field("", description="this replica's stable name (downward API metadata.name); default TRANSACTIONAL_ID")
    max_request_age_seconds: float = Field(
        3600.0, ge=0, description="older requests (by record timestamp) are answered expired; 0 = no limit"
    )
    batch_size: int = Field(100, ge=1, le=10_000, description="max messages taken from one consume() call")
    concurrent_requests: int | Literal["auto"] = Field(
        "auto", description="worker threads (requests processed at once); auto = 2 per model-server slot, at least 4 (docs/ollama.md)"
    )
    max_message_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest request value accepted")
    request_deadline_seconds: float = Field(240.0, gt=0, description="whole-request budget")
    shutdown_grace_seconds: float = Field(30.0, ge=0, description="SIGTERM: time to finish in-flight work")
    revoke_drain_seconds: float = Field(10.0, ge=0, description="rebalance: time to drain revoked partitions")
    max_in_flight_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024, description="bytes of requests in flight at once (backpressure; photos are large)")
    max_uncommitted_records: int = Field(1000, ge=1, description="requests read and not yet committed, finished ones behind a slow one included: bounds what a crash repeats and the answers exactly-once holds back; reading pauses at it (docs/guarantees.md)")
    progress_stall_seconds: float = Field(0.0, ge=0, description="/health fails when a partition's oldest unfinished request is older; 0 = 2 x REQUEST_DEADLINE_SECONDS")
    state_dir: str = Field("", description="where read attempts survive a crash (x-attempts); default $TMPDIR/models-processor")
    max_attempts: int = Field(3, ge=2, le=100, description="a request read this many times without finishing (it crashed the process) goes to the DLQ")
    max_poll_interval_ms: int = Field(300_000, ge=10_000, description="librdkafka max.poll.interval.ms")
    model_allowlist: str = Field("", description="comma-separated models a request may ask for")
    reply_topic_allowlist: str = Field("", description="comma-separated topics a request may reply to")

    # --- HTTP / logging ---
    port: int = Field(5000, ge=0, le=65535, description="HTTP port (5000: the earlier service's); 0 picks a free port")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    health_stall_seconds: float = Field(30.0, gt=0, description="/health fails when the poll loop is older")
    inspector_enabled: bool = Field(False, description="serve the /inspect page on PORT (operators only: docs/inspector.md)")
    inspector_max_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest photo the /inspect page accepts")
    inspector_concurrency: int = Field(1, ge=1, le=16, description="/inspect requests run at once; more get 429")
    inspector_recent: int = Field(50, ge=1, le=10_000, description="answers' metadata kept for the /inspect recent panel")

    # --- Ollama (earlier names, plus separate vision/text servers) ---
    ollama_host: str = Field("", description="default model server, e.g. http://localhost:11434")
    ollama_model: str = Field("llava:7b", min_length=1, description="default model (vision and text)")
    ollama_vision_host: str = Field("", description="vision model server; default OLLAMA_HOST")
    ollama_vision_model: str = Field("", description="vision model; default OLLAMA_MODEL")
    ollama_text_host: str = Field("", description="text model server; default OLLAMA_HOST")
    ollama_text_model: str = Field("", description="text model; default OLLAMA_MODEL")
    ollama_request_timeout: float = Field(120.0, gt=0, description="longest silence between streamed tokens, seconds")
    ollama_first_byte_timeout: float = Field(
        300.0, gt=0, description="time to the first byte of a model call (model load + wait for a slot), seconds"
    )
    ollama_health_timeout: float = Field(5.0, gt=0, description="connect timeout and health-check timeout")
    ollama_pull_on_start: bool = Field(False, description="pull missing models via /api/pull at start")
    ollama_warmup: bool = Field(True, description="load the models at start (empty-prompt generate)")
    ollama_keep_alive: str = Field("30m", description="how long Ollama keeps the model loaded: seconds (-1 = always) or a duration (30m)")
    ollama_num_ctx: int = Field(4096, ge=512, description="kept constant so the model is never reloaded")
    ollama_num_parallel: int = Field(1, ge=1, description="the model server's parallel slots per model (Ollama's own variable)")
    ollama_max_in_flight: int = Field(0, ge=0, description="cap on concurrent calls per model server (0 = two per parallel slot while OLLAMA_FIRST_BYTE_TIMEOUT >= REQUEST_DEADLINE_SECONDS, else one; docs/ollama.md)")
    llm_vision_backend: LlmBackend = Field(LlmBackend.OLLAMA, description="ollama, or openai: OLLAMA_VISION_HOST is an OpenAI-compatible server (vLLM, llama.cpp, Ollama's /v1)")
    llm_text_backend: LlmBackend = Field(LlmBackend.OLLAMA, description="ollama, or openai: OLLAMA_TEXT_HOST is an OpenAI-compatible server")
    openai_max_in_flight: int | Literal["auto"] = Field(0, description="calls at once per openai-backend server: 0 = no cap (the workers bound it), N, or auto = adapted from its time to first token and 429/503 answers (docs/openai-compat.md)")
    openai_api_key: SecretStr = Field(SecretStr(""), description="bearer token for the openai backend (from a Secret; never logged)")
    llm_think: bool = Field(False, description="let thinking models think (think: true); off spends num_predict on the answer")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="model option temperature")
    llm_num_predict: int = Field(1024, ge=16, description="model option num_predict (max output tokens)")
    llm_seed: int = Field(42, description="model option seed (repeatable answers)")
    llm_validation_retries: int = Field(2, ge=0, le=10, description="re-asks after invalid model JSON")
    llm_image_max_side: int = Field(1024, ge=64, le=8192, description="photos are downscaled to this for the model")
    result_cache_size: int = Field(512, ge=0, description="entries; 0 disables the result cache")
    result_cache_ttl_seconds: float = Field(3600.0, gt=0, description="result cache entry lifetime")
    max_prompt_chars: int = Field(20_000, ge=1, description="longer prompts get invalid_request")

    # --- photos / OCR ---
    ocr_engine: OcrEngineName = Field(OcrEngineName.RAPIDOCR, description="rapidocr (bundled) or paddleocr (optional extra)")
    ocr_model_dir: str = Field("", description="PaddleOCR model folder (OCR_ENGINE=paddleocr)")
    ocr_max_side: int = Field(1600, ge=320, le=8192, description="downscale before text detection")
    max_image_pixels: int = Field(40_000_000, ge=1_000_000, description="decompression-bomb limit")
    max_image_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest decoded photo; larger gets image_too_large")
    photo_fallback_order: str = Field("text,vision", description="models asked, in order, for what OCR could not read: text (OCR lines to the text model), vision (the photo to the vision model); e.g. vision or text or vision,text")

    @field_validator("concurrent_requests", mode="plain")
    @classmethod
    def _workers(cls, value: object) -> int | Literal["auto"]:
        # One message for both forms (a union would report each branch's error separately).
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            count = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
        except ValueError:
            count = 0
        if not 1 <= count <= 256:
            raise ValueError("must be auto or a whole number from 1 to 256")
        return count

    @field_validator("openai_max_in_flight", mode="plain")
    @classmethod
    def _openai_cap(cls, value: object) -> int | Literal["auto"]:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            count = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
        except ValueError:
            count = -1
        if not 0 <= count <= 256:
            raise ValueError("must be auto or a whole number from 0 (no cap) to 256")
        return count

    @field_validator("photo_fallback_order")
    @classmethod
    def _fallback_steps(cls, value: str) -> str:
        steps = [s.strip().lower() for s in value.split(",") if s.strip()]
        if any(s not in ("text", "vision") for s in steps) or len(set(steps)) != len(steps):
            raise ValueError("must list text and/or vision, comma-separated, each at most once")
        return ",".join(steps)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return upper

    @field_validator("ollama_host", "ollama_vision_host", "ollama_text_host")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and "://" not in value:
            value = "http://" + value  # Ollama's own OLLAMA_HOST accepts host:port
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("ollama_keep_alive")
    @classmethod
    def _keep_alive(cls, value: str) -> str:
        keep_alive_value(value)  # a number of seconds or a Go duration, as Ollama reads it
        return value.strip()

    @model_validator(mode="after")
    def _deadlines_nest(self) -> Settings:
        # The model call must end before the request deadline, which must end well before librdkafka
        # would evict the consumer (docs/guarantees.md: processing never outlives max.poll.interval.ms).
        if self.request_deadline_seconds * 1000 >= self.max_poll_interval_ms:
            raise ValueError(
                "REQUEST_DEADLINE_SECONDS must be below MAX_POLL_INTERVAL_MS "
                f"({self.request_deadline_seconds}s >= {self.max_poll_interval_ms}ms)"
            )
        return self

    # --- derived views ---
    @property
    def vision_host(self) -> str:
        return self.ollama_vision_host or self.ollama_host

    @property
    def vision_model(self) -> str:
        return self.ollama_vision_model or self.ollama_model

    @property
    def text_host(self) -> str:
        return self.ollama_text_host or self.ollama_host

    @property
    def text_model(self) -> str:
        return self.ollama_text_model or self.ollama_model

    @property
    def error_topic(self) -> str:
        return self.error_response_topic or self.text_response_topic

    @property
    def allowed_models(self) -> frozenset[str]:
        return frozenset(m.strip() for m in self.model_allowlist.split(",") if m.strip())

    @property
    def allowed_reply_topics(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.reply_topic_allowlist.split(",") if t.strip())


# The Kafka command-line tools' own variables (JVM options read by Kafka's bin/kafka-run-class.sh), common
# in images and compose files that also run those tools: not librdkafka properties, so ignored (with a
# warning) rather than stopping the service. KAFKA_DEBUG is the tools' switch unless its value is a list of
# librdkafka debug contexts, which makes it librdkafka's `debug` property.
KAFKA_TOOL_VARIABLES = frozenset({
    "KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_GC_LOG_OPTS",
    "KAFKA_JMX_OPTS", "KAFKA_DEBUG",
})
_LIBRDKAFKA_DEBUG_CONTEXTS = frozenset({
    "generic", "broker", "topic", "metadata", "feature", "queue", "msg", "protocol", "cgrp", "security",
    "fetch", "interceptor", "plugin", "consumer", "admin", "eos", "mock", "assignor", "conf", "telemetry", "all",
})


def is_kafka_tool_variable(name: str, value: str) -> bool:
    if name == "KAFKA_DEBUG":
        contexts = {c.strip().lower() for c in value.split(",") if c.strip()}
        return not contexts or not contexts <= _LIBRDKAFKA_DEBUG_CONTEXTS
    return name in KAFKA_TOOL_VARIABLES


def librdkafka_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Every KAFKA_<PROPERTY> variable as a librdkafka property (KAFKA_SASL_MECHANISM -> sasl.mechanism)."""
    props: dict[str, str] = {}
    for name, value in environ.items():
        # Kubernetes injects KAFKA_SERVICE_HOST, KAFKA_PORT_9092_TCP, ... for a Service named "kafka":
        # those are service links, not librdkafka properties.
        if name.startswith(("KAFKA_SERVICE_", "KAFKA_PORT")) or is_kafka_tool_variable(name, value):
            continue
        if name.startswith("KAFKA_") and len(name) > 6:
            props[name[6:].lower().replace("_", ".")] = value
    return props


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings; on a bad value raise ConfigError naming each variable and what is wrong."""
    try:
        if environ is None:
            return Settings()  # pydantic-settings reads os.environ
        # An explicit mapping (tests, the CLI's overrides) is read alone, without os.environ leaking in.
        return Settings.model_validate({k.lower(): v for k, v in environ.items() if k.lower() in Settings.model_fields})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "configuration"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
