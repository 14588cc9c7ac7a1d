"""Prometheus metrics of the service, on a registry passed in (no process-global collectors)."""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)

_PREFIX = "models_processor"
# Stages run from milliseconds (parse) to minutes (a cold vision model): buckets span both.
_STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class Metrics:
    """Every collector the service exports. Label values are small closed sets (never ids or emails)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._children: dict[tuple[int, tuple[object, ...]], MetricWrapperBase] = {}
        self._request_and_kafka_metrics(r)
        self._model_metrics(r)
        self._photo_metrics(r)

    def child(self, metric: MetricT, *values: object) -> MetricT:
        """`metric.labels(*values)` (values in the metric's label order), looked up once: labels() checks the
        values and takes the metric's lock on every call, about 3 µs, some ten times per request. Label
        values are small closed sets, so the children stay few."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:  # two threads may both get here: labels() hands both the same child
            found = self._children[key] = metric.labels(*values)
        return found  # type: ignore[return-value]  # the child of `metric` is of its type

    def _request_and_kafka_metrics(self, r: CollectorRegistry) -> None:
        """Requests, stages, in-flight work, partitions, offsets and the Kafka clients."""
        self.consumed = Counter(f"{_PREFIX}_messages_consumed_total", "Request messages read from Kafka",
                                ["kind"], registry=r)
        self.processed = Counter(f"{_PREFIX}_messages_processed_total", "Requests answered, by outcome",
                                 ["kind", "status"], registry=r)
        self.failed = Counter(f"{_PREFIX}_messages_failed_total", "Requests answered with an error",
                              ["kind", "code"], registry=r)
        self.skipped = Counter(f"{_PREFIX}_messages_skipped_total", "Requests skipped without an answer",
                               ["reason"], registry=r)
        self.stage_seconds = Histogram(f"{_PREFIX}_stage_seconds", "Time spent per processing stage",
                                       ["stage"], buckets=_STAGE_BUCKETS, registry=r)
        self.in_flight = Gauge(f"{_PREFIX}_in_flight_requests", "Requests taken from Kafka and not yet done",
                               registry=r)
        self.in_flight_bytes = Gauge(f"{_PREFIX}_in_flight_bytes", "Bytes of the requests in flight", registry=r)
        self.uncommitted_records = Gauge(f"{_PREFIX}_uncommitted_requests", "Requests read and not yet "
                                         "committable: unfinished, or finished behind an unfinished one "
                                         "(MAX_UNCOMMITTED_RECORDS)", registry=r)
        self.oldest_unfinished_age = Gauge(f"{_PREFIX}_oldest_unfinished_offset_age_seconds", "Seconds since "
                                           "the lowest unfinished offset of a partition was read (alert on it: "
                                           "a partition that makes no progress)", ["topic", "partition"],
                                           registry=r)
        self.abandoned_workers = Gauge(f"{_PREFIX}_abandoned_workers", "Worker threads stuck past a deadline "
                                       "and replaced", registry=r)
        self.paused_partitions = Gauge(f"{_PREFIX}_paused_partitions", "Assigned partitions paused by "
                                       "backpressure", registry=r)
        self.assigned_partitions = Gauge(f"{_PREFIX}_assigned_partitions", "Partitions assigned to this "
                                         "consumer", registry=r)
        self.consumer_lag = Gauge(f"{_PREFIX}_consumer_lag", "High watermark minus committed offset",
                                  ["topic", "partition"], registry=r)
        self.retries = Counter(f"{_PREFIX}_retries_total", "Retried attempts, by what was retried",
                               ["target", "reason"], registry=r)
        self.dlq = Counter(f"{_PREFIX}_dlq_messages_total", "Requests copied to the DLQ", ["code"], registry=r)
        self.rebalances = Counter(f"{_PREFIX}_rebalances_total", "Rebalance callbacks", ["event"], registry=r)
        self.produce_errors = Counter(f"{_PREFIX}_produce_errors_total", "Failed deliveries", ["topic"],
                                      registry=r)
        self.commits = Counter(f"{_PREFIX}_offset_commits_total", "Offset stores/commits", ["mode"], registry=r)
        self.last_poll = Gauge(f"{_PREFIX}_last_poll_timestamp_seconds", "Unix time of the last poll-loop "
                               "iteration", registry=r)

    def _model_metrics(self, r: CollectorRegistry) -> None:
        """Model servers: calls, errors, latency, tokens, load and slot wait, readiness, in-flight limits."""
        self.model_requests = Counter(f"{_PREFIX}_model_requests_total", "Calls to a model server",
                                      ["role", "model", "outcome"], registry=r)
        self.model_errors = Counter(f"{_PREFIX}_model_errors_total", "Failed model calls by error code",
                                    ["role", "code"], registry=r)
        self.model_seconds = Histogram(f"{_PREFIX}_model_call_seconds", "Wall time of one model call",
                                       ["role"], buckets=_STAGE_BUCKETS, registry=r)
        self.model_tokens = Counter(f"{_PREFIX}_model_tokens_total", "Tokens reported by Ollama",
                                    ["role", "model", "type"], registry=r)
        self.model_load_seconds = Histogram(f"{_PREFIX}_model_load_seconds", "Ollama load_duration (queue "
                                            "wait plus model load)", ["role"], buckets=_STAGE_BUCKETS,
                                            registry=r)
        self.model_slot_wait_seconds = Histogram(f"{_PREFIX}_model_slot_wait_seconds", "Time a call waited "
                                                 "inside the model server for a parallel slot (Ollama's "
                                                 "total_duration minus its load, prompt and eval durations)",
                                                 ["role"], buckets=_STAGE_BUCKETS, registry=r)
        self.model_server_up = Gauge(f"{_PREFIX}_model_server_up", "1 when the model server answers with "
                                     "its model present", ["role"], registry=r)
        self.validation_retries = Counter(f"{_PREFIX}_model_validation_retries_total", "Model asked again "
                                          "after invalid output", ["role"], registry=r)
        self.cache = Counter(f"{_PREFIX}_result_cache_total", "Result cache lookups", ["result"], registry=r)
        # Each model server's in-flight limit (llm/limiter.py), by base URL
        self.model_in_flight_limit = Gauge(f"{_PREFIX}_model_in_flight_limit", "Calls a model server may "
                                           "have at once (Ollama: OLLAMA_MAX_IN_FLIGHT or two per slot; "
                                           "OpenAI-compatible: OPENAI_MAX_IN_FLIGHT=N, or auto's current limit; "
                                           "absent with no cap)", ["server"], registry=r)
        self.model_calls_in_flight = Gauge(f"{_PREFIX}_model_calls_in_flight", "Calls holding a slot of a "
                                           "model server's in-flight limit", ["server"], registry=r)

    def _photo_metrics(self, r: CollectorRegistry) -> None:
        """Photos: whether the vision fallback ran, and where each result field came from."""
        self.photo_fallback = Counter(f"{_PREFIX}_photo_fallback_total", "Photo requests by whether the "
                                      "vision fallback ran", ["kind", "fallback"], registry=r)
        self.field_sources = Counter(f"{_PREFIX}_result_field_sources_total", "Result fields by source",
                                     ["kind", "source"], registry=r)
