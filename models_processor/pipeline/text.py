"""Text requests: the prompt goes to the text model; the answer goes back as `response` with `model`."""

from __future__ import annotations

import time

from ..deadline import Deadline
from ..errors import ErrorCode, ProcessingError
from ..llm.base import TextModel
from ..messages import Request, Response


class TextPipeline:
    def __init__(self, text_model: TextModel, *, max_prompt_chars: int) -> None:
        self._model = text_model
        self._max_prompt_chars = max_prompt_chars

    def run(self, request: Request, *, request_id: str, deadline: Deadline) -> Response:
        prompt = request.prompt or ""
        if len(prompt) > self._max_prompt_chars:
            raise ProcessingError(
                ErrorCode.INVALID_REQUEST,
                f"prompt is {len(prompt)} characters, above MAX_PROMPT_CHARS={self._max_prompt_chars}",
            )
        started = time.monotonic()
        generation = self._model.generate_text(prompt, deadline=deadline, model=request.model)
        llm_ms = int((time.monotonic() - started) * 1000)
        return Response.ok_text(
            user_email=request.user_email, request_id=request_id, text=generation.text,
            model=generation.model, timings_ms={"llm": llm_ms, "total": int((time.monotonic() - deadline.started_at) * 1000)},
        )
