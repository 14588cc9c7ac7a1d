"""W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header of a request is kept
on its answer and its DLQ copy and put on its log lines (trace_id); a request without a valid one gets a
new trace started at intake (docs/contracts.md, "Headers")."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .logs import trace_context

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# version "-" trace-id "-" parent-id "-" trace-flags, lowercase hex. A later version may append fields
# after a "-"; version ff is invalid (spec section 3.2.2).
_FORMAT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


@dataclass(frozen=True)
class TraceParent:
    trace_id: str  # 32 lowercase hex digits (16 bytes), not all zero
    parent_id: str  # 16 lowercase hex digits (8 bytes), not all zero: the caller's span
    flags: int = 1  # bit 0: sampled

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags:02x}"

    def child(self, span_id: str | None = None) -> TraceParent:
        """The same trace, with our own span as the parent of what we send on."""
        return TraceParent(self.trace_id, span_id or new_span_id(), self.flags)


def consume_span_id(trace_id: str, topic: str, partition: int, offset: int) -> str:
    """The span id of the service's work on one record, derived from the record: the answer names it as its
    parent without any state passed from the worker to the producer, and an exported `consume` span
    (tracing.py) carries the same id, so the answer links to a span that exists."""
    digest = hashlib.blake2b(f"{trace_id}/{topic}/{partition}/{offset}".encode(), digest_size=8).hexdigest()
    return digest if digest != _ZERO_PARENT else "0" * 15 + "1"


def new_span_id() -> str:
    while True:
        span = secrets.token_hex(8)
        if span != _ZERO_PARENT:
            return span


def new_trace() -> TraceParent:
    while True:
        trace = secrets.token_hex(16)
        if trace != _ZERO_TRACE:
            return TraceParent(trace, new_span_id(), flags=1)


def parse(value: str | bytes | None) -> TraceParent | None:
    """A valid traceparent value, or None (then the caller starts a new trace)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    match = _FORMAT.match(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or parent_id == _ZERO_PARENT:
        return None
    return TraceParent(trace_id, parent_id, int(flags, 16))


def of_headers(headers: Sequence[tuple[str, bytes]] | None) -> TraceParent | None:
    values = [v for k, v in headers or [] if k.lower() == TRACEPARENT]
    # More than one traceparent is invalid (the spec: treat as absent).
    return parse(values[0]) if len(values) == 1 else None


def with_traceparent(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The request's headers, with a new trace started when it has no valid traceparent: appended, or in
    place of an invalid one (whose tracestate goes with it, as the spec says). The other headers keep their
    order, so a DLQ copy and its replay still carry the original's headers as they were."""
    if of_headers(headers) is not None:
        return headers
    started = (TRACEPARENT, new_trace().header.encode())
    out: list[tuple[str, bytes]] = []
    for key, value in headers:
        if key.lower() == TRACEPARENT:
            if started not in out:
                out.append(started)
        elif key.lower() != TRACESTATE:
            out.append((key, value))
    return out if started in out else [*out, started]


def answer_headers(source_headers: Sequence[tuple[str, bytes]] | None,
                   position: tuple[str, int, int] | None = None) -> list[tuple[str, bytes]]:
    """traceparent (and tracestate) for an answer: the request's trace, with the service's work on the
    record at `position` (topic, partition, offset) as the parent."""
    parent = of_headers(source_headers)
    if parent is None:
        return []
    span_id = consume_span_id(parent.trace_id, *position) if position else None
    state = [(TRACESTATE, v) for k, v in source_headers or [] if k.lower() == TRACESTATE][:1]
    return [(TRACEPARENT, parent.child(span_id).header.encode()), *state]


@contextlib.contextmanager
def trace_scope(headers: Sequence[tuple[str, bytes]] | None, position: tuple[str, int] | None = None,
                offset: int = -1) -> Iterator[TraceParent | None]:
    """Log lines inside carry the request's trace_id; with span export on (tracing.py), the work inside is
    the request's `consume` span ((topic, partition) and offset of the record as attributes)."""
    from .tracing import span

    parent = of_headers(headers)
    attributes: dict[str, str | int] = {"messaging.destination.name": position[0],
                                        "messaging.kafka.partition": position[1],
                                        "messaging.kafka.offset": offset} if position else {}
    span_id = consume_span_id(parent.trace_id, position[0], position[1], offset) if parent and position else None
    with trace_context(parent.trace_id if parent else None), span("consume", attributes, parent=parent,
                                                                  span_id=span_id):
        yield parent
