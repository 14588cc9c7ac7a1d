"""What to do with a record Kafka will not take: classify the error, and build the record sent instead.

A record that can never be delivered must not hold its partition (its offset would never commit, and every
restart would meet it again): a DLQ copy too large for the DLQ topic goes without its value, an answer too
large becomes a small error answer, an answer to a topic that does not exist or may not be written goes to
the DLQ as the request it answers. Only retriable errors (a broker away) are produced again, with backoff.
See docs/guarantees.md.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

from confluent_kafka import KafkaError

from ..config import Settings
from ..errors import ErrorCode, ProcessingError
from ..messages import Response, response_headers
from .routing import OutputRecord, RecordRole, dlq_copy


class Failure(Enum):
    TOO_LARGE = "too_large"
    PERMANENT = "permanent"
    RETRIABLE = "retriable"


# Errors retrying cannot fix: the topic is missing (or was deleted) or this client may not write it.
# librdkafka reports these after its own retries (topic.metadata.propagation.max.ms, delivery.timeout.ms).
_PERMANENT = frozenset({
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_EXCEPTION, KafkaError.INVALID_RECORD, KafkaError.INVALID_MSG,
    KafkaError.RECORD_LIST_TOO_LARGE, KafkaError._INVALID_ARG,
})
_TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE})


def classify(error: KafkaError) -> Failure:
    if error.code() in _TOO_LARGE:
        return Failure.TOO_LARGE
    if error.code() in _PERMANENT:
        return Failure.PERMANENT
    return Failure.RETRIABLE


def replacement(settings: Settings, record: OutputRecord, error: KafkaError) -> OutputRecord | None:
    """The record to send instead of `record`, which failed for good; None: nothing more can be sent."""
    failure = classify(error)
    if record.role is RecordRole.DLQ_COPY:
        if failure is Failure.TOO_LARGE and record.value is not None:
            note = (f"{len(record.value)} bytes, above the DLQ topic's max.message.bytes (or the producer's "
                    "message.max.bytes); the original is at x-original-topic/partition/offset").encode()
            return dataclasses.replace(record, value=None, headers=[*record.headers, ("x-value-dropped", note)])
        return None
    if failure is Failure.TOO_LARGE and record.value is not None and len(record.value) > 64 * 1024:
        problem = ProcessingError(ErrorCode.INTERNAL, f"the answer is {len(record.value)} bytes, above the "
                                  "message size limit of its topic")
        value = Response.failure(user_email="", request_id=record.request_id, error=problem).to_bytes()
        trace = [(k, v) for k, v in record.headers if k in ("traceparent", "tracestate")]
        return dataclasses.replace(record, value=value, headers=response_headers(record.request_id, trace))
    if record.source is None:
        return None
    problem = ProcessingError(ErrorCode.INTERNAL, f"the answer could not be delivered to topic "
                              f"{record.topic!r}: {error.str()}")
    return dlq_copy(settings, record.source, problem, record.request_id, attempts=1)
