"""Dispatcher loop overhead without a broker: the real Dispatcher, RequestProcessor and TextPipeline on the
fake Kafka clients of testkit, against a baseline measured in the same run (one thread: consume, process,
produce, store), with a zero-latency model. Isolates the cost of the loop's bookkeeping (backpressure,
offset tracking, attempt log, checkpoint) from the broker's.

    .venv/bin/python -m bench.dispatcher_loop [--messages 3000]

Prints requests/s for the baseline, at-least-once and exactly-once, and each as a ratio of the baseline.
"""

from __future__ import annotations

import argparse
import json
import time

from confluent_kafka import TopicPartition

from models_processor.deadline import Deadline
from models_processor.kafka.routing import SourceInfo, outputs_for
from models_processor.metrics import Metrics
from models_processor.pipeline.requests import Inbound, RequestProcessor
from models_processor.pipeline.text import TextPipeline
from testkit.fake_kafka_run import P0, GatedTextModel, Running, settings, text_request
from testkit.fakes.kafka_clients import FakeConsumer, FakeProducer
from testkit.fakes.models import NoPhotoPipeline


def _fill(consumer: FakeConsumer, n: int) -> None:
    for i in range(n):
        consumer.append(P0, text_request(f"q{i}"), key=f"r{i}".encode())


def baseline(n: int) -> float:
    s = settings()
    consumer, producer = FakeConsumer(), FakeProducer()
    consumer.subscribe([P0[0]])
    consumer.schedule("assign", [P0])
    _fill(consumer, n)
    processor = RequestProcessor(s, TextPipeline(GatedTextModel(latency_s=0), max_prompt_chars=s.max_prompt_chars),
                                 NoPhotoPipeline(), Metrics())
    started = time.perf_counter()
    done = 0
    while done < n:
        for m in consumer.consume(100, 0):
            inbound = Inbound(m.key(), m.value(), P0[0], 0, m.offset() or 0)
            processed = processor.process(inbound, Deadline.after(60))
            source = SourceInfo(P0[0], 0, m.offset() or 0, 0, m.key(), m.value(), [])
            for record in outputs_for(s, processed, source):
                producer.produce(record.topic, key=record.key, value=record.value, headers=record.headers)
            producer.poll(0)
            consumer.store_offsets(offsets=[TopicPartition(P0[0], 0, (m.offset() or 0) + 1)])
            done += 1
    return n / (time.perf_counter() - started)


def dispatcher(n: int, guarantee: str) -> float:
    with Running(settings(PROCESSING_GUARANTEE=guarantee, CONCURRENT_REQUESTS="4"),
                 model=GatedTextModel(latency_s=0)) as run:
        run.consumer.schedule("assign", [P0])
        run.wait_for(lambda: not run.consumer.events_pending(), what="assignment")
        started = time.perf_counter()
        _fill(run.consumer, n)
        if guarantee == "exactly_once":
            run.wait_for(lambda: dict(run.producer.committed_offsets()).get(P0) == n, timeout=600, what="commit")
        else:
            run.wait_for(lambda: run.consumer.stored.get(P0) == n, timeout=600, what="stored")
        return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    n = parser.parse_args().messages
    base = baseline(n)
    figures = {"baseline_rps": base}
    for guarantee in ("at_least_once", "exactly_once"):
        rps = dispatcher(n, guarantee)
        figures[f"{guarantee}_rps"] = rps
        figures[f"{guarantee}_x_baseline"] = rps / base
    print(f"{'loop':<16}{'req/s':>10}{'x baseline':>12}")
    print(f"{'baseline':<16}{base:>10.0f}{1.0:>12.2f}")
    for guarantee in ("at_least_once", "exactly_once"):
        print(f"{guarantee:<16}{figures[guarantee + '_rps']:>10.0f}{figures[guarantee + '_x_baseline']:>12.2f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
