"""The /inspect page (INSPECTOR_ENABLED): one photo or prompt through the service's own pipeline, shown with
the OCR boxes, each field's source, the stage timings and the raw answer; plus the last answers' metadata.
Operators only: docs/inspector.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint

from ..config import Settings
from .recent import ObservedProcessor, Processor, RecentAnswers
from .routes import inspector_blueprint
from .runner import InspectorRunner
from .trace import TracingOcrEngine

__all__ = ["Inspector", "TracingOcrEngine"]


@dataclass
class Inspector:
    """The page's parts: the recent-answers list it owns and the runner calling the service's processor."""

    settings: Settings
    processor: Processor
    offline: Processor | None = None  # the same pipeline with the models off ("no model" on the page)
    recent: RecentAnswers = field(init=False)
    runner: InspectorRunner = field(init=False)

    def __post_init__(self) -> None:
        self.recent = RecentAnswers(self.settings.inspector_recent)
        self.runner = InspectorRunner(self.settings, self.processor, self.offline, self.recent)

    def blueprint(self) -> Blueprint:
        return inspector_blueprint(self.settings, self.runner, self.recent)

    def observe(self, processor: Processor) -> Processor:
        """`processor` as the dispatcher should call it: its answers also feed the recent panel."""
        return ObservedProcessor(processor, self.recent)
