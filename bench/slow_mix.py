"""A mixed load for bench/peers.py: every K-th request is a slow call (a photo's vision call among text
calls), marked in its prompt so that the stand-in gives it its own latency.

One slow call must not hold the rest: the model server's other slots keep generating, so the ceiling is P
over the mean call time. A job that stops reading while one request is slow (Quix's one message at a time per
partition; before 2026-12-01 the service once 2 x its workers had finished behind it) falls below it.
"""

from __future__ import annotations

from dataclasses import dataclass

MARK = "[slow] "


@dataclass(frozen=True)
class SlowMix:
    every: int = 0  # 0: no slow calls
    latency_s: float = 0.0

    @property
    def active(self) -> bool:
        return self.every > 0

    def mark(self, prompts: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Every `every`-th (key, prompt) gets the mark, the first one included."""
        if not self.active:
            return prompts
        return [(key, MARK + prompt if i % self.every == 0 else prompt) for i, (key, prompt) in enumerate(prompts)]

    def latency_for(self, body: dict) -> float | None:
        """The stand-in's hook: a marked prompt's own time (None: the server's latency)."""
        return self.latency_s if MARK in (body.get("prompt") or "") else None

    def mean_latency(self, latency_s: float) -> float:
        if not self.active:
            return latency_s
        return ((self.every - 1) * latency_s + self.latency_s) / self.every

    def describe(self) -> str:
        return f"1 call in {self.every} takes {self.latency_s * 1000:.0f} ms" if self.active else "uniform calls"
