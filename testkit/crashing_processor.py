"""`python -m testkit.crashing_processor`: the real dispatcher and Kafka clients, configured from the
environment like the service, with a text model that kills the process (os._exit, as a native crash in a
decoder would) on prompts starting with "crash:". For the broker test of crash-loop protection."""

from __future__ import annotations

import os
import threading

from models_processor.config import load_settings
from models_processor.deadline import Deadline
from models_processor.health_state import HealthState
from models_processor.kafka.dispatcher import Dispatcher
from models_processor.llm.base import Generation
from models_processor.logs import configure_logging
from models_processor.metrics import Metrics
from models_processor.pipeline.requests import RequestProcessor
from models_processor.pipeline.text import TextPipeline
from models_processor.service import build_kafka_clients
from testkit.fakes.models import NoPhotoPipeline

CRASH_EXIT_CODE = 86


class CrashingTextModel:
    model_name = "crashing"

    def generate_text(self, prompt: str, *, deadline: Deadline, model: str | None = None) -> Generation:
        if prompt.startswith("crash:"):
            os._exit(CRASH_EXIT_CODE)
        return Generation(text=f"echo: {prompt}", model=self.model_name)


def main() -> None:
    settings = load_settings(dict(os.environ))
    configure_logging(settings.log_level)
    metrics = Metrics()
    processor = RequestProcessor(settings, TextPipeline(CrashingTextModel(), max_prompt_chars=1000),
                                 NoPhotoPipeline(), metrics)
    consumer, producer = build_kafka_clients(settings, metrics)
    Dispatcher(settings, processor, consumer, producer, metrics,
               HealthState(stall_seconds=60)).run(threading.Event())


if __name__ == "__main__":
    main()
