"""OpenTelemetry spans of a request (consume, ocr, parse, model call, produce), exported over OTLP/HTTP only
when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Without it nothing from
opentelemetry is imported and span() costs a context manager. Spans join the request's W3C trace
(tracecontext.py), so they line up with the trace id on the answer, the DLQ copy and the log lines.
docs/contracts.md, "Requests"."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from .tracecontext import TraceParent

log = logging.getLogger(__name__)

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
# The id the next span gets instead of a random one (span(span_id=...)); set only while that span starts.
_FIXED_SPAN_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("fixed_span_id", default=None)
TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"


class Tracing:
    """The exporting tracer of this process, or nothing. The tracer is process-wide on purpose: spans are
    opened deep inside the pipeline and the model client, like log lines, and like OpenTelemetry's own
    global provider; it is set once at start and cleared at stop."""

    _tracer: Any = None
    _provider: Any = None

    @classmethod
    def start(cls, environ: Mapping[str, str]) -> bool:
        url = environ.get(TRACES_ENDPOINT) or (environ[ENDPOINT].rstrip("/") + "/v1/traces"
                                               if environ.get(ENDPOINT) else "")
        if not url or cls._provider is not None:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        class _Ids(RandomIdGenerator):
            def generate_span_id(self) -> int:
                return _FIXED_SPAN_ID.get() or super().generate_span_id()

        provider = TracerProvider(resource=Resource.create(
            {"service.name": environ.get("OTEL_SERVICE_NAME", "models-processor")}), shutdown_on_exit=False,
            id_generator=_Ids())
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        cls._provider, cls._tracer = provider, provider.get_tracer("models_processor")
        log.info("exporting spans over OTLP", extra={"endpoint": url})
        return True

    @classmethod
    def stop(cls) -> None:
        """Send what is buffered, then stop exporting."""
        provider, cls._provider, cls._tracer = cls._provider, None, None
        if provider is not None:
            provider.shutdown()

    @classmethod
    def active(cls) -> bool:
        return cls._tracer is not None


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, str | int | float | bool] | None = None, *,
         parent: TraceParent | None = None, span_id: str | None = None) -> Iterator[None]:
    """A span named `name`, child of `parent` when given (a request's traceparent), else of the current one;
    `span_id` fixes its id (tracecontext.consume_span_id: the id the answer names as its parent)."""
    tracer = Tracing._tracer
    if tracer is None:
        yield
        return
    from opentelemetry import trace

    context = None
    if parent is not None:
        remote = trace.SpanContext(trace_id=int(parent.trace_id, 16), span_id=int(parent.parent_id, 16),
                                   is_remote=True, trace_flags=trace.TraceFlags(parent.flags))
        context = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    token = _FIXED_SPAN_ID.set(int(span_id, 16)) if span_id else None
    try:  # the id generator reads the fixed id while this span, and only this one, is created
        started = tracer.start_span(name, context=context, attributes=dict(attributes or {}))
    finally:
        if token is not None:
            _FIXED_SPAN_ID.reset(token)
    with trace.use_span(started, end_on_exit=True):
        yield
