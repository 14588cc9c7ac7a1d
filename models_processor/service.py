"""Wiring: build the service's parts from settings (or take them from the caller) and run until stopped."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from .config import ConfigError, Settings
from .health_state import HealthState
from .http import HttpServer, create_app
from .inspector import Inspector
from .kafka.client_config import config_error_variable, consumer_config, producer_config
from .kafka.dispatcher import Dispatcher
from .kafka.stats import LagReporter
from .metrics import Metrics
from .pipeline.requests import PhotoRunner, RequestProcessor
from .pipeline.text import TextPipeline
from .tracing import Tracing

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """Everything the dispatcher needs besides the Kafka clients: `build_parts` makes the production set;
    tests build their own with stand-in models (testkit.harness.InProcessService) and run the same wiring."""

    processor: RequestProcessor
    health: HealthState
    metrics: Metrics
    model_name: str
    prepare: Callable[[], None] | None = None  # model pull / warm-up, run in the background at start
    offline: RequestProcessor | None = None  # the same pipeline with the models off: /inspect's "no model"


def build_parts(settings: Settings, metrics: Metrics | None = None) -> Parts:
    from .inspector import TracingOcrEngine
    from .llm.base import UnconfiguredModel
    from .llm.factory import build_models
    from .ocr.factory import build_ocr_engine
    from .pipeline.photo import build_photo_pipeline

    metrics = metrics or Metrics()
    models = build_models(settings, metrics)
    ocr = TracingOcrEngine(build_ocr_engine(settings))  # records reads only for /inspect requests
    photo: PhotoRunner = build_photo_pipeline(settings, models.vision, metrics, ocr=ocr, text=models.structured_text)
    text = TextPipeline(models.text, max_prompt_chars=settings.max_prompt_chars)
    processor = RequestProcessor(settings, text, photo, metrics)
    offline = None
    if settings.inspector_enabled:
        off = UnconfiguredModel("vision", "the /inspect page's model choice", settings.vision_model)
        offline = RequestProcessor(settings, TextPipeline(off, max_prompt_chars=settings.max_prompt_chars),
                                   build_photo_pipeline(settings, off, metrics, ocr=ocr, use_llm=False), metrics)
    health = HealthState(stall_seconds=settings.health_stall_seconds, probes=models.probes)

    def prepare() -> None:
        for server in models.servers:
            server.prepare(pull_on_start=settings.ollama_pull_on_start, warm_up=settings.ollama_warmup)

    return Parts(processor, health, metrics, settings.vision_model, prepare=prepare, offline=offline)


def build_kafka_clients(settings: Settings, metrics: Metrics,
                        environ: Mapping[str, str] | None = None) -> tuple[Consumer, Producer]:
    environ = os.environ if environ is None else environ

    def on_error(error: KafkaError) -> None:
        log.warning("kafka client error", extra={"kafka_error": error.str(), "fatal": error.fatal()})

    lag = LagReporter(metrics)
    try:
        consumer = Consumer(consumer_config(settings, environ=environ, on_stats=lag.on_stats, on_error=on_error))
        producer = Producer(producer_config(settings, environ=environ, on_error=on_error))
    except KafkaException as exc:
        text = str(exc.args[0].str() if exc.args else exc)
        raise ConfigError(f"invalid Kafka configuration ({config_error_variable(text)}): {text}") from None
    return consumer, producer


def run_service(settings: Settings, parts: Parts | None = None, *, install_signals: bool = True,
                stop: threading.Event | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run until `stop` is set (or SIGTERM/SIGINT with install_signals). `environ` holds the KAFKA_<PROPERTY>
    passthrough variables (default: os.environ)."""
    parts = parts or build_parts(settings)
    stop = stop or threading.Event()
    if install_signals:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received, stopping", extra={"signal": signal.Signals(signum).name})
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    consumer, producer = build_kafka_clients(settings, parts.metrics, environ=environ)
    inspector = Inspector(settings, parts.processor, parts.offline) if settings.inspector_enabled else None
    app = create_app(parts.health, parts.metrics, model_name=parts.model_name,
                     topic=settings.local_model_kafka_topic, inspector=inspector)
    if inspector is None:
        http = HttpServer(app, host="0.0.0.0", port=settings.port)
    else:  # room for the page's uploads (kept in memory) and its own threads beside the probes'
        http = HttpServer(app, host="0.0.0.0", port=settings.port, max_body_bytes=settings.inspector_max_bytes + 65536,
                          extra_threads=settings.inspector_concurrency)
    http.start()
    Tracing.start(os.environ if environ is None else environ)  # spans only with OTEL_EXPORTER_OTLP_ENDPOINT
    if parts.prepare is not None:
        # Pulling or loading a model can take minutes: never hold the poll loop or liveness for it.
        threading.Thread(target=parts.prepare, name="model-prepare", daemon=True).start()
    try:
        processor = inspector.observe(parts.processor) if inspector else parts.processor  # the recent panel
        Dispatcher(settings, processor, consumer, producer, parts.metrics, parts.health).run(stop)
    finally:
        http.close()
        Tracing.stop()
    log.info("stopped")
    return 0
