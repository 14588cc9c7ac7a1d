"""`python -m models_processor analyze IMAGE`: one photo through the same pipeline as the service, no Kafka."""

from __future__ import annotations

import base64
from pathlib import Path

from ..config import Settings
from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError
from ..llm.base import UnconfiguredModel
from ..llm.factory import build_models
from ..messages import Request, RequestKind, Response, ResultKind
from ..metrics import Metrics
from .photo import build_photo_pipeline


def analyze_file(settings: Settings, image: Path, *, kind: RequestKind | str = RequestKind.AUTO,
                 use_llm: bool = True) -> Response:
    request_id = f"analyze-{image.name}"
    try:
        photo = image.read_bytes()
    except OSError as exc:  # a missing or unreadable file is an answer, not a traceback
        return Response.failure(user_email="", request_id=request_id, error=ProcessingError(
            ErrorCode.INVALID_REQUEST, f"cannot read {image}: {exc.strerror or exc}"))
    metrics = Metrics()
    if use_llm:
        models = build_models(settings, metrics)
        pipeline = build_photo_pipeline(settings, models.vision, metrics, text=models.structured_text)
    else:
        pipeline = build_photo_pipeline(settings, UnconfiguredModel(
            "vision", "OLLAMA_VISION_HOST or OLLAMA_HOST", settings.vision_model), metrics, use_llm=False)
    request = Request(user_email="", photo=base64.b64encode(photo).decode(), kind=RequestKind(kind))
    try:
        return pipeline.run(request, request_id=request_id,
                            deadline=Deadline.after(settings.request_deadline_seconds))
    except ProcessingError as error:
        result_kind = ResultKind(error.result_kind) if error.result_kind else None
        return Response.failure(user_email="", request_id=request_id, error=error, kind=result_kind)
