"""Metrics.child: a metric's labelled child looked up once, the same series labels() gives."""

from prometheus_client import CollectorRegistry

from models_processor.metrics import Metrics


def test_a_child_is_the_labels_child_and_is_looked_up_once(monkeypatch):
    metrics = Metrics(CollectorRegistry())
    calls = []
    real = type(metrics.processed).labels

    def counting(self, *values, **kw):
        calls.append(values)
        return real(self, *values, **kw)

    monkeypatch.setattr(type(metrics.processed), "labels", counting)
    for _ in range(3):
        metrics.child(metrics.processed, "text", "ok").inc()
    metrics.child(metrics.processed, "text", "error").inc()
    metrics.child(metrics.stage_seconds, "llm").observe(0.05)
    assert calls == [("text", "ok"), ("text", "error")]  # Counter.labels once per label values
    assert metrics.child(metrics.processed, "text", "ok") is metrics.processed.labels("text", "ok")
    get = metrics.registry.get_sample_value
    assert get("models_processor_messages_processed_total", {"kind": "text", "status": "ok"}) == 3
    assert get("models_processor_messages_processed_total", {"kind": "text", "status": "error"}) == 1
    assert get("models_processor_stage_seconds_count", {"stage": "llm"}) == 1


def test_the_same_label_values_of_two_metrics_are_two_children():
    metrics = Metrics(CollectorRegistry())
    metrics.child(metrics.model_seconds, "text").observe(1.0)
    metrics.child(metrics.model_load_seconds, "text").observe(2.0)
    get = metrics.registry.get_sample_value
    assert get("models_processor_model_call_seconds_sum", {"role": "text"}) == 1.0
    assert get("models_processor_model_load_seconds_sum", {"role": "text"}) == 2.0
