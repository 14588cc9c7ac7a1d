"""Structured JSON-line logging with the request id of the current task on every line."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import TextIO

# The request being processed by this thread (worker threads set it around each job).
_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# Its W3C trace id (tracecontext.py), when the request has one.
_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextlib.contextmanager
def trace_context(trace_id: str | None) -> Iterator[None]:
    token = _trace_id.set(trace_id)
    try:
        yield
    finally:
        _trace_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and any `extra=` fields."""

    def __init__(self) -> None:
        super().__init__()
        # The formatted second of the last line: lines come many a second, strftime is the costly part.
        self._second: tuple[int, str] = (-1, "")

    def _timestamp(self, created: float, msecs: float) -> str:
        whole = int(created)
        second, text = self._second
        if second != whole:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, text)  # one tuple, swapped whole: safe between handler threads
        return f"{text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self._timestamp(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        trace_id = _trace_id.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The JSON lines show neither the caller's file, function and line nor the process: each record would
    # otherwise walk the stack for them and make a getpid system call (the logging HOWTO, "Optimization").
    logging._srcfile = None
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Libraries that log every HTTP request at INFO would drown the service's own lines.
    for noisy in ("urllib3", "waitress", "werkzeug", "RapidOCR"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
