"""One inspector request through the service's own request processor, at most N at a time.

The upload becomes the same JSON value a producer would send, and the processor the Kafka workers call
decodes, validates and answers it: the same limits (MAX_MESSAGE_BYTES, MAX_IMAGE_BYTES/PIXELS,
MAX_PROMPT_CHARS, REQUEST_DEADLINE_SECONDS) and the same code. A semaphore keeps the page from taking more
than INSPECTOR_CONCURRENCY of the machine's OCR and model capacity; the upload is never written anywhere.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass

from ..config import Settings
from ..deadline import Deadline
from ..messages import RequestKind
from ..pipeline.requests import Inbound, Processed
from .overlay import Overlay, build_overlay
from .recent import Origin, Processor, RecentAnswers, summarize
from .trace import tracing_ocr

INSPECTOR_TOPIC = "inspector"  # the Inbound's topic: only used in a fallback request id and in logs


class Busy(Exception):
    """Every inspector slot is taken."""


@dataclass(frozen=True)
class Asked:
    """What the page sent: a photo or a prompt, the kind, and whether the models may be used."""

    photo: bytes | None
    prompt: str | None
    kind: RequestKind
    use_model: bool


@dataclass(frozen=True)
class Inspected:
    processed: Processed
    overlay: Overlay | None  # photo requests that reached OCR


class InspectorRunner:
    def __init__(self, settings: Settings, processor: Processor, offline: Processor | None,
                 recent: RecentAnswers) -> None:
        """`processor`: the one the Kafka workers call; `offline`: the same pipeline with the models turned
        off (the page's "no model" choice), None when the service has none."""
        self._settings = settings
        self._processor = processor
        self._offline = offline
        self._recent = recent
        self._slots = threading.BoundedSemaphore(settings.inspector_concurrency)

    @property
    def can_run_offline(self) -> bool:
        return self._offline is not None

    def run(self, asked: Asked) -> Inspected:
        if not self._slots.acquire(blocking=False):
            raise Busy(f"the inspector is already running {self._settings.inspector_concurrency} request(s); "
                       "try again when it finishes")
        try:
            return self._run(asked)
        finally:
            self._slots.release()

    def _run(self, asked: Asked) -> Inspected:
        request_id = "inspect-" + uuid.uuid4().hex[:12]
        value: dict[str, str] = {"user_email": self._settings.expected_user_email, "request_id": request_id,
                                 "kind": asked.kind.value}
        if asked.photo is not None:
            value["photo"] = base64.b64encode(asked.photo).decode()
        if asked.prompt is not None:
            value["prompt"] = asked.prompt
        message = Inbound(key=request_id.encode(), value=json.dumps(value).encode(), topic=INSPECTOR_TOPIC,
                          partition=0, offset=0)
        processor = self._processor if asked.use_model or self._offline is None else self._offline  # routes check
        with tracing_ocr() as trace:
            processed = processor.process(message, Deadline.after(self._settings.request_deadline_seconds))
        self._recent.record(summarize(processed, Origin.INSPECTOR))
        read = trace.last
        response = processed.response
        overlay = None
        if read is not None:
            overlay = build_overlay(read[0], read[1], response.result if response else None)
        return Inspected(processed, overlay)
