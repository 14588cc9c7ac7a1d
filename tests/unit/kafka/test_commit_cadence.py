"""At-least-once commits its stored offsets every second, not librdkafka's default 5 s: after a crash
everything answered since the last commit is answered again (bench/faults kill9: 163 repeated answers of 200
with 5 s at 25 requests/s; 393 -> 68 over four seeds with 1 s). See docs/guarantees.md."""

from __future__ import annotations

from models_processor.kafka.client_config import consumer_config
from testkit.fake_kafka_run import settings


def test_at_least_once_commits_stored_offsets_every_second():
    conf = consumer_config(settings(), environ={})
    assert conf["enable.auto.commit"] is True and conf["enable.auto.offset.store"] is False
    assert conf["auto.commit.interval.ms"] == 1000


def test_the_commit_period_can_still_be_set():
    conf = consumer_config(settings(), environ={"KAFKA_AUTO_COMMIT_INTERVAL_MS": "5000"})
    assert conf["auto.commit.interval.ms"] == "5000"


def test_exactly_once_commits_in_transactions_only():
    conf = consumer_config(settings(PROCESSING_GUARANTEE="exactly_once"), environ={})
    assert conf["enable.auto.commit"] is False and "auto.commit.interval.ms" not in conf
