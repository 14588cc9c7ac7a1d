"""What OCR read for one inspector request, recorded without changing the photo pipeline.

The service's OCR engine is wrapped once at start-up (service.build_parts); the wrapper records the image it
was given and the OCR result only while an inspector request has opened a trace on the current thread, so
Kafka requests pay one context-variable lookup and nothing is kept after the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from PIL import Image

from ..ocr.base import OcrEngine, OcrResult


@dataclass
class OcrTrace:
    """The images OCR was given and what it read from each, in order (one per photo request)."""

    reads: list[tuple[Image.Image, OcrResult]] = field(default_factory=list)

    @property
    def last(self) -> tuple[Image.Image, OcrResult] | None:
        return self.reads[-1] if self.reads else None


_ACTIVE: ContextVar[OcrTrace | None] = ContextVar("inspector_ocr_trace", default=None)


@contextmanager
def tracing_ocr() -> Iterator[OcrTrace]:
    """Record OCR reads made on this thread (context) until the block ends."""
    trace = OcrTrace()
    token = _ACTIVE.set(trace)
    try:
        yield trace
    finally:
        _ACTIVE.reset(token)


class TracingOcrEngine:
    """An OcrEngine that hands every read to the trace open on the calling thread, if any."""

    def __init__(self, engine: OcrEngine) -> None:
        self._engine = engine
        self.name = engine.name

    def recognize(self, image: Image.Image) -> OcrResult:
        result = self._engine.recognize(image)
        trace = _ACTIVE.get()
        if trace is not None:
            trace.reads.append((image, result))
        return result
