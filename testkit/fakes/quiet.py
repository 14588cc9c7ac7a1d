"""Silence the Ollama stand-in's tracebacks for clients that drop a keep-alive connection."""

from __future__ import annotations

import sys
from typing import Any

from testkit.fakes import ollama_server


def quiet_standin_disconnects() -> None:
    """The stand-in's threaded server prints a traceback when a client drops a keep-alive connection
    (the processor exiting): harmless in benchmarks and fault runs, so silence just those."""
    original = ollama_server._Server.handle_error

    def handle_error(self: Any, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        original(self, request, client_address)

    ollama_server._Server.handle_error = handle_error  # type: ignore[method-assign]
