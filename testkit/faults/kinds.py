"""The fault kinds, and how each is injected into a running fault run (one kind per run)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from testkit.broker import LocalBroker
from testkit.fakes.ollama_server import OllamaStandIn

from .processes import ProcessorFleet
from .reading import TopicLog
from .report import FaultWindow


class FaultKind(StrEnum):
    NONE = "none"
    KILL9 = "kill9"
    SIGTERM = "sigterm"
    MODEL_DOWN = "model_down"
    MODEL_503 = "model_503"
    BROKER_RESTART = "broker_restart"
    REBALANCE = "rebalance"


KINDS = tuple(k.value for k in FaultKind)


@dataclass
class FaultSizes:
    """How much of each fault: kills, outage lengths, 503s, and when to inject (a fraction answered)."""

    kills: int = 3
    down_s: float = 3.0
    n503: int = 20
    broker_down_s: float = 5.0
    trigger_fraction: float = 0.3
    recover_timeout_s: float = 120.0


@dataclass
class FaultContext:
    """What the injectors act on and observe."""

    sizes: FaultSizes
    fleet: ProcessorFleet
    answers: TopicLog
    ids: set[str]
    standin: OllamaStandIn
    broker: LocalBroker | None  # own broker (broker_restart only)
    rng: random.Random
    clock: Callable[[], float]  # seconds since the run started
    notes: list[str]
    windows: list[FaultWindow] = field(default_factory=list)

    def trigger(self, fraction: float) -> None:
        """Wait until `fraction` of the ids has an answer (or the run stalls)."""
        if not self.answers.wait_keys(int(len(self.ids) * fraction), self.sizes.recover_timeout_s, self.ids):
            self.notes.append(f"trigger at {fraction:.2f} never reached; injected anyway")

    def window(self, label: str, start: float) -> None:
        self.windows.append(FaultWindow(label, start, self.clock()))


def _kill9(ctx: FaultContext) -> None:
    thresholds = sorted(ctx.rng.uniform(0.1, 0.85) for _ in range(ctx.sizes.kills))
    for fraction in thresholds:
        ctx.trigger(fraction)
        time.sleep(ctx.rng.uniform(0.0, 0.5))
        start = ctx.clock()
        with ctx.fleet.lock:
            ctx.fleet.kill(ctx.fleet.current)
            ctx.fleet.spawn(0)
        ctx.window("kill -9", start)


def _sigterm(ctx: FaultContext) -> None:
    ctx.trigger(ctx.sizes.trigger_fraction)
    start = ctx.clock()
    with ctx.fleet.lock:
        code = ctx.fleet.terminate(ctx.fleet.current)
        if code != 0:
            ctx.notes.append(f"SIGTERM exit code {code}")
        ctx.fleet.spawn(0)
    ctx.window("SIGTERM + restart", start)


def _model_down(ctx: FaultContext) -> None:
    ctx.trigger(ctx.sizes.trigger_fraction)
    start = ctx.clock()
    ctx.standin.set_down(True)
    time.sleep(ctx.sizes.down_s)
    ctx.standin.set_down(False)
    ctx.window(f"model server down {ctx.sizes.down_s:g}s", start)


def _model_503(ctx: FaultContext) -> None:
    ctx.trigger(ctx.sizes.trigger_fraction)
    n503 = ctx.sizes.n503
    base = ctx.standin.stats.rejected_503
    start = ctx.clock()
    ctx.standin.fail_with_503(n503)
    until = time.monotonic() + ctx.sizes.recover_timeout_s
    while ctx.standin.stats.rejected_503 < base + n503 and time.monotonic() < until:
        time.sleep(0.02)
    rejected = ctx.standin.stats.rejected_503 - base
    if rejected < n503:
        ctx.notes.append(f"only {rejected} of {n503} 503s were served")
    ctx.window(f"{rejected} x 503", start)


def _broker_restart(ctx: FaultContext) -> None:
    assert ctx.broker is not None, "broker_restart runs on its own broker"
    ctx.trigger(ctx.sizes.trigger_fraction)
    start = ctx.clock()
    ctx.broker.stop()
    time.sleep(ctx.sizes.broker_down_s)
    ctx.broker.start(keep_data=True)
    ctx.window(f"broker down {ctx.sizes.broker_down_s:g}s", start)


def _rebalance(ctx: FaultContext) -> None:
    ctx.trigger(ctx.sizes.trigger_fraction)
    start = ctx.clock()
    with ctx.fleet.lock:
        second = ctx.fleet.spawn(1)
    ctx.fleet.wait_joined(second)
    ctx.window("second processor joined", start)


_INJECTORS: dict[FaultKind, Callable[[FaultContext], None]] = {
    FaultKind.NONE: lambda ctx: None,
    FaultKind.KILL9: _kill9,
    FaultKind.SIGTERM: _sigterm,
    FaultKind.MODEL_DOWN: _model_down,
    FaultKind.MODEL_503: _model_503,
    FaultKind.BROKER_RESTART: _broker_restart,
    FaultKind.REBALANCE: _rebalance,
}


def inject(kind: FaultKind, ctx: FaultContext) -> None:
    """Inject `kind` (several times for kill9), recording each fault's window in ctx.windows."""
    _INJECTORS[kind](ctx)
