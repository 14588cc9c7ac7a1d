"""How many calls one model server gets at once: a fixed cap, or one adapted from what the server does when
its parallelism is unknown (an OpenAI-compatible server with continuous batching: vLLM's --max-num-seqs and
KV-cache room, a cloud endpoint). docs/openai-compat.md "In-flight limit" explains the choice.

The adaptive limit follows the Vegas rule of Netflix's concurrency-limits (VegasLimit): with the server's
no-load latency as a baseline, `in flight x (1 - baseline / latency)` estimates how many of our calls wait in
the server's queue rather than run (Little's law). The goal is every slot busy plus one or two calls ready
to take the next free slot: fewer queued than ALPHA and the limit grows by one (doubling until the first
queue is seen, as TCP's slow start does, so a server with many slots is filled in a few rounds), more than
BETA and it shrinks by half the excess. The latency is the time to the first token, where queueing shows and
the answer's length does not; each decision takes the median of about one sample per slot.

The baseline is measured, not guessed, since a server that is always full never shows its no-load latency:
a probe runs the first window at half the initial limit (one call at a time by default); while probes keep
finding a lower baseline (the last one still met a queue) the next comes PROBE_SOON windows later with half
as many calls, down to one; after that, one window in PROBE_EVERY runs at a third of the limit (below the
slots while the limit is at most slots + 3). Calls started before a probe do not count in it.

An overload answer (429, 503, no first byte in time) cuts the limit by BACKOFF at once, as AIMD does. The
limit grows only while calls really reach it, so a quiet service does not inflate it.

Both limits show their size and their calls in flight on gauges passed in (LimitGauges; the Prometheus
children of metrics.py, labelled by server: docs/openai-compat.md, "Metrics"). The Ollama client's cap
(OLLAMA_MAX_IN_FLIGHT or its default) is a FixedLimit too.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from ..metrics import Metrics


class Outcome(StrEnum):
    """What a call that held a slot tells the limit."""

    SUCCESS = "success"  # answered: its latency is a sample
    DROPPED = "dropped"  # the server was overloaded (429, 503, first-byte timeout): back off
    IGNORED = "ignored"  # failed for another reason (refused, bad request): says nothing about load


class Gauge(Protocol):
    """What a limit needs of a gauge (a prometheus_client Gauge child)."""

    def set(self, value: float) -> None: ...


@dataclass(frozen=True)
class LimitGauges:
    """Where a limit shows itself: `limit` its size (None: not shown, as for no cap), `in_flight` the calls
    holding a slot."""

    in_flight: Gauge
    limit: Gauge | None = None


def server_label(host: str) -> str:
    """The metrics' `server` label: the base URL without any user:password in it."""
    parts = urlsplit(host)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl() if parts.netloc else host


def limit_gauges(metrics: Metrics, host: str, *, capped: bool) -> LimitGauges:
    """The server's gauges: calls in flight, and the limit's size unless there is no cap."""
    label = server_label(host)
    return LimitGauges(in_flight=metrics.model_calls_in_flight.labels(server=label),
                       limit=metrics.model_in_flight_limit.labels(server=label) if capped else None)


@dataclass(frozen=True)
class Permit:
    """One held slot; given back with ConcurrencyLimit.release exactly once."""

    epoch: int = 0  # the adaptive limit's probe generation when the call started


class ConcurrencyLimit(Protocol):
    """A counting gate whose size may change. acquire() -> a Permit once a slot is held, None on timeout."""

    @property
    def limit(self) -> int: ...

    @property
    def in_flight(self) -> int: ...

    def acquire(self, timeout: float) -> Permit | None: ...

    def release(self, permit: Permit, outcome: Outcome, latency_s: float | None = None) -> None: ...


class _Waiter:
    """One call waiting for a slot: set() hands it the slot, with its permit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.permit: Permit | None = None


class _Gate:
    """The waiting part both limits share: at most _size() holders, and the waiting calls served in the order
    they came. A plain condition wakes waiters in no particular order (and a newcomer may take a slot
    before a woken one runs), so under a full gate some calls would wait many rounds and miss their deadline
    (bench/openai_inflight.py showed a p99 of 14 s at a p50 of 0.1 s)."""

    def __init__(self, gauges: LimitGauges | None = None) -> None:
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._in_flight = 0
        self._gauges = gauges

    def _show_limit(self, value: int) -> None:
        if self._gauges is not None and self._gauges.limit is not None:
            self._gauges.limit.set(value)

    def _show_in_flight(self) -> None:
        if self._gauges is not None:
            self._gauges.in_flight.set(self._in_flight)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _size(self) -> int:
        raise NotImplementedError

    def _admit(self) -> Permit:
        """A slot taken (lock held)."""
        self._in_flight += 1
        self._show_in_flight()
        return Permit()

    def acquire(self, timeout: float) -> Permit | None:
        with self._lock:
            if not self._waiters and self._in_flight < self._size():
                return self._admit()
            waiter = _Waiter()
            self._waiters.append(waiter)
        waiter.event.wait(max(0.0, timeout))
        with self._lock:
            if waiter.permit is None:  # timed out, and not handed a slot since
                self._waiters.remove(waiter)
            return waiter.permit

    def _hand_over(self) -> None:
        """Free slots to the longest waiting calls (lock held)."""
        while self._waiters and self._in_flight < self._size():
            waiter = self._waiters.popleft()
            waiter.permit = self._admit()
            waiter.event.set()

    def _released(self) -> None:
        """Called with the lock held."""
        self._in_flight -= 1
        self._show_in_flight()
        self._hand_over()


class FixedLimit(_Gate):
    """OPENAI_MAX_IN_FLIGHT=N: at most N calls at once; 0 = no cap (its size not shown on the limit gauge)."""

    def __init__(self, size: int, gauges: LimitGauges | None = None) -> None:
        super().__init__(gauges)
        self._fixed = size if size > 0 else 1 << 30
        if size > 0:
            self._show_limit(size)
        self._show_in_flight()

    @property
    def limit(self) -> int:
        return self._fixed

    def _size(self) -> int:
        return self._fixed

    def release(self, permit: Permit, outcome: Outcome, latency_s: float | None = None) -> None:
        with self._lock:
            self._released()


class VegasLimit(_Gate):
    """OPENAI_MAX_IN_FLIGHT=auto: the limit adapted from time-to-first-token samples (module docstring)."""

    ALPHA = 1.0  # fewer of our calls queued at the server than this: grow
    BETA = 3.0  # more than this: shrink
    BACKOFF = 0.75  # the limit after an overload answer, as a share of what it was
    PROBE_EVERY = 25  # windows between baseline probes (the server's no-load latency may change)
    PROBE_SOON = 3  # ... while probes keep finding a lower baseline (the last one still met a queue)

    def __init__(self, initial: int, *, min_limit: int = 1, max_limit: int = 64,
                 on_change: Callable[[int, str], None] | None = None, gauges: LimitGauges | None = None) -> None:
        super().__init__(gauges)
        self.min_limit = max(1, min_limit)
        self.max_limit = max(self.min_limit, max_limit)
        self._limit = float(min(self.max_limit, max(self.min_limit, initial)))
        self._on_change = on_change
        self._baseline: float | None = None
        self._window: list[float] = []
        self._peak = 0  # most calls in flight at once during the window
        self._probe_in = self.PROBE_SOON  # windows until the next probe
        self._epoch = 0
        # The size during a baseline probe. The first runs at half the initial limit (the slots the settings
        # suggest), one call at a time by default: a long call then delays only the first few.
        self._probe: int | None = max(1, int(self._limit) // 2)
        self._next_probe: int | None = None  # the next probe's size while probes keep finding a lower baseline
        self._slow_start = True  # doubling until the server first shows a queue (or an overload answer)
        self._show_limit(self.limit)
        self._show_in_flight()

    @property
    def limit(self) -> int:
        return int(self._limit)

    @property
    def baseline_s(self) -> float | None:
        return self._baseline

    def _size(self) -> int:
        return self._probe if self._probe is not None else int(self._limit)

    def _admit(self) -> Permit:
        super()._admit()
        self._peak = max(self._peak, self._in_flight)
        return Permit(self._epoch)

    def release(self, permit: Permit, outcome: Outcome, latency_s: float | None = None) -> None:
        with self._lock:
            self._released()
            if outcome is Outcome.DROPPED:
                self._slow_start = False
                self._set(max(self.min_limit, math.floor(self._limit * self.BACKOFF)), "overload answer")
                self._start_window()
            # A call from before a probe says nothing about it.
            elif outcome is Outcome.SUCCESS and latency_s and latency_s > 0 and permit.epoch == self._epoch:
                self._sample(latency_s)

    def _start_window(self) -> None:
        self._window.clear()
        self._peak = self._in_flight

    def _sample(self, latency_s: float) -> None:
        self._window.append(latency_s)
        if len(self._window) < max(3, self._size()):  # about one sample per slot: one "round trip"
            return
        # The window's median: one long prompt (an image) must not read as a queue.
        latency = sorted(self._window)[len(self._window) // 2]
        peak, reached = self._peak, self._peak >= self._size()
        self._start_window()
        if self._probe is not None:
            # Lower than before: this probe, or the last, still met a queue; try again soon with half the calls.
            lower = self._baseline is None or latency < 0.9 * self._baseline
            self._next_probe = max(1, self._probe // 2) if lower and self._probe > 1 else None
            self._baseline, self._probe = latency, None
            self._probe_in = self.PROBE_SOON if self._next_probe is not None else self.PROBE_EVERY
            self._hand_over()
            return
        assert self._baseline is not None
        self._baseline = min(self._baseline, latency)
        queued = peak * (1.0 - self._baseline / latency)
        if queued >= self.ALPHA:
            self._slow_start = False
        if queued > self.BETA:
            self._set(self._limit - max(1.0, (queued - self.BETA) / 2), f"{queued:.1f} calls queued at the server")
        elif queued < self.ALPHA and reached:
            if self._slow_start:  # judge the doubled limit by calls started under it, not before
                self._epoch += 1
            grown = self._limit * 2 if self._slow_start else self._limit + 1
            self._set(grown, f"{queued:.1f} calls queued at the server")
        self._probe_in -= 1
        if self._probe_in <= 0:
            size = self._next_probe if self._next_probe is not None else max(1, int(self._limit) // 3)
            self._probe, self._epoch = size, self._epoch + 1

    def _set(self, value: float, why: str) -> None:
        new = min(float(self.max_limit), max(float(self.min_limit), value))
        if int(new) != int(self._limit) and self._on_change is not None:
            self._on_change(int(new), why)
        self._limit = new
        self._show_limit(self.limit)
        self._hand_over()
