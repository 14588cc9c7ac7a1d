"""librdkafka configuration of the consumer, the producer and the admin client, explicit and in one place.

Values the service relies on for its guarantees are set here; anything from KAFKA_<PROPERTY> variables is
layered on top, except the few properties that would break those guarantees (listed in _OWNED).
"""

from __future__ import annotations

import logging
import os
import re
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..config import ProcessingGuarantee, Settings, is_kafka_tool_variable, librdkafka_overrides

log = logging.getLogger(__name__)

# Properties whose values are part of the delivery guarantee; a passthrough may not change them.
_OWNED_CONSUMER = {"enable.auto.offset.store", "enable.auto.commit", "isolation.level"}
_OWNED_PRODUCER = {"enable.idempotence", "transactional.id", "acks"}
AT_LEAST_ONCE_COMMIT_INTERVAL_MS = 1000

# Consumer-only / producer-only properties: librdkafka warns about properties of the other client type.
_CONSUMER_ONLY = {
    "group.id", "group.instance.id", "group.protocol", "group.remote.assignor", "session.timeout.ms",
    "heartbeat.interval.ms", "partition.assignment.strategy", "max.poll.interval.ms", "auto.offset.reset",
    "enable.auto.commit", "auto.commit.interval.ms", "enable.auto.offset.store", "isolation.level",
    "fetch.max.bytes", "max.partition.fetch.bytes", "fetch.wait.max.ms", "fetch.min.bytes",
    "queued.max.messages.kbytes", "queued.min.messages", "enable.partition.eof", "check.crcs",
}
_PRODUCER_ONLY = {
    "enable.idempotence", "transactional.id", "transaction.timeout.ms", "acks", "linger.ms",
    "batch.size", "compression.type", "compression.codec", "delivery.timeout.ms", "message.timeout.ms",
    "retries", "retry.backoff.ms", "max.in.flight.requests.per.connection", "queue.buffering.max.ms",
    "queue.buffering.max.messages", "queue.buffering.max.kbytes", "batch.num.messages",
}


def _message_ceiling(settings: Settings) -> int:
    # Responses and DLQ copies can be as large as the largest accepted request, plus headers.
    return settings.max_message_bytes + 1024 * 1024


def _common(settings: Settings, environ: Mapping[str, str]) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_server,
        "client.id": f"models-processor-{socket.gethostname()}",
        "message.max.bytes": _message_ceiling(settings),
        # Fail fast and visibly instead of hanging on a dead broker address.
        "socket.connection.setup.timeout.ms": 10_000,
        # librdkafka's own log lines go through Python logging, so they are JSON lines like ours.
        "logger": logging.getLogger("librdkafka"),
    }
    conf.update(librdkafka_overrides(environ))
    return conf


def config_error_variable(message: str) -> str:
    """librdkafka's 'No such configuration property: "sasl.mechanizm"' -> the variable that set it."""
    if '"' in message:
        prop = message.split('"')[1]
        return "KAFKA_" + prop.upper().replace(".", "_")
    return "a KAFKA_* variable"


def _without(conf: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: v for k, v in conf.items() if k not in keys}


def warn_kafka_tool_variables(environ: Mapping[str, str]) -> list[str]:
    """Log (once per client set: the consumer's and the admin client's config call it) the Kafka tools'
    variables that are not passed to librdkafka; return their names."""
    ignored = sorted(name for name, value in environ.items() if is_kafka_tool_variable(name, value))
    if ignored:
        log.warning("ignoring the Kafka command-line tools' variables (JVM options, not librdkafka properties)",
                    extra={"variables": ignored})
    return ignored


def consumer_config(settings: Settings, *, environ: Mapping[str, str] | None = None,
                    on_stats: Callable[[str], None] | None = None,
                    on_error: Callable[[Any], None] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    warn_kafka_tool_variables(environ)
    conf = _without(_common(settings, environ), _PRODUCER_ONLY)
    conf.setdefault("group.id", settings.consumer_group)
    conf.setdefault("auto.offset.reset", "earliest")  # a new group must not skip requests already waiting
    conf.setdefault("max.poll.interval.ms", settings.max_poll_interval_ms)
    conf.setdefault("statistics.interval.ms", 10_000)  # per-partition consumer_lag for /metrics
    conf.setdefault("fetch.max.bytes", _message_ceiling(settings) * 2)
    conf.setdefault("max.partition.fetch.bytes", 1024 * 1024)
    # The prefetch queue holds photos of up to 10 MiB each: bound it (KiB) so memory stays predictable.
    conf.setdefault("queued.max.messages.kbytes", 64 * 1024)
    if str(conf.get("group.protocol", "classic")).lower() == "consumer":
        # KIP-848: assignment and session timeouts are the broker's business; the client rejects them.
        conf.pop("partition.assignment.strategy", None)
        conf.pop("session.timeout.ms", None)
        conf.pop("heartbeat.interval.ms", None)
    else:
        conf.setdefault("partition.assignment.strategy", "cooperative-sticky")
        # librdkafka requires session.timeout.ms <= max.poll.interval.ms (its default is 45 s).
        conf.setdefault("session.timeout.ms", min(45_000, int(conf["max.poll.interval.ms"])))
    if conf.get("group.instance.id"):
        _warn_static_membership(conf)
    conf["enable.auto.offset.store"] = False  # offsets are stored only once the answer is delivered
    if settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE:
        conf["enable.auto.commit"] = False  # offsets go into the producer's transactions instead
        conf["isolation.level"] = "read_committed"
    else:
        conf["enable.auto.commit"] = True  # librdkafka commits the stored offsets periodically and on revoke
        # After a crash everything answered since the last commit is answered again: a 1 s period (librdkafka's
        # default is 5 s) bounds that to about a second of answers; an idle period commits nothing
        # (docs/guarantees.md).
        conf.setdefault("auto.commit.interval.ms", AT_LEAST_ONCE_COMMIT_INTERVAL_MS)
        conf["isolation.level"] = "read_committed"
    _reject_owned(environ, _OWNED_CONSUMER)
    if on_stats is not None:
        conf["stats_cb"] = on_stats
    if on_error is not None:
        conf["error_cb"] = on_error
    return conf


def _warn_static_membership(conf: Mapping[str, Any]) -> None:
    # librdkafka does not leave the group when a static member closes: with the classic protocol it sends no
    # LeaveGroup (KIP-345), with KIP-848 it leaves with member epoch -2, which keeps the assignment for the
    # instance id. Either way its partitions stay unconsumed until the session times out, unless a member
    # with the same group.instance.id comes back (docs/DEPLOYMENT.md, "Static membership").
    timeout = conf.get("session.timeout.ms", "the broker's group.consumer.session.timeout.ms")
    log.warning("static membership (group.instance.id): on shutdown this member does not leave the group; its "
                "partitions wait for the session timeout unless the same instance id rejoins",
                extra={"group_instance_id": conf["group.instance.id"], "session_timeout_ms": timeout})


# The producer's timeouts unless KAFKA_* variables set them; the produce and transaction deadlines
# (delivery.py, transactions.py) are derived from the same values.
DELIVERY_TIMEOUT_MS_DEFAULT = 120_000
TRANSACTION_TIMEOUT_MS_DEFAULT = 60_000
# Well inside the transactional calls' own timeout (transactions.py), so that the state change it causes
# comes before the call gives up.
TXN_PRODUCER_MAX_IDLE_MS = 3_000


def producer_config(settings: Settings, *, environ: Mapping[str, str] | None = None,
                    on_error: Callable[[Any], None] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    conf = _without(_common(settings, environ), _CONSUMER_ONLY)
    # librdkafka's default. At 2 ms its broker thread spent 1.4-2 ms of CPU per answer under a burst, more
    # than the Python side of the request (docs/BENCHMARKS.md, "Against Faust-streaming and Quix Streams").
    conf.setdefault("linger.ms", 5)
    conf.setdefault("compression.type", "lz4")
    # Retries inside librdkafka are bounded by this; past it the delivery callback reports the failure.
    conf.setdefault("delivery.timeout.ms", DELIVERY_TIMEOUT_MS_DEFAULT)
    conf["enable.idempotence"] = True  # no duplicates or reordering from producer retries
    conf["acks"] = "all"
    if settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE:
        conf["transactional.id"] = transactional_id(settings)
        conf.setdefault("transaction.timeout.ms", TRANSACTION_TIMEOUT_MS_DEFAULT)
        # librdkafka: a message must time out before the transaction that carries it.
        conf["delivery.timeout.ms"] = min(int(conf["delivery.timeout.ms"]), int(conf["transaction.timeout.ms"]))
        # After the group coordinator went away, send_offsets_to_transaction looks it up again only on a
        # broker connection's state change (confluentinc/librdkafka#5456, #5511): after a broker restart it
        # blocked past its timeout every time, and the hang watchdog restarted the process. Idle connections
        # closed make those state changes happen: the call then completes or fails in time (docs/guarantees.md).
        conf.setdefault("connections.max.idle.ms", TXN_PRODUCER_MAX_IDLE_MS)
    else:
        conf.pop("transactional.id", None)
    _reject_owned(environ, _OWNED_PRODUCER)
    if on_error is not None:
        conf["error_cb"] = on_error
    return conf


def admin_config(settings: Settings, *, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    environ = os.environ if environ is None else environ
    warn_kafka_tool_variables(environ)
    return _without(_common(settings, environ), _CONSUMER_ONLY | _PRODUCER_ONLY | {"message.max.bytes"})


class IdentitySource(StrEnum):
    """Where the default TRANSACTIONAL_ID came from, and so how stable it is across restarts."""

    SETTING = "TRANSACTIONAL_ID"
    POD_NAME = "POD_NAME"
    HOST_AND_PORT = "host name and PORT"
    RANDOM = "random (PORT=0, no POD_NAME)"


@dataclass(frozen=True)
class TransactionalIdentity:
    value: str
    source: IdentitySource
    warning: str | None  # what goes wrong with this identity, when something does


# A Deployment's pod name: <deployment>-<replicaset hash>-<5 random chars>. A StatefulSet's is <name>-<ordinal>.
_DEPLOYMENT_POD = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_STALL = ("a crashed instance's open transaction is only aborted after transaction.timeout.ms, and "
          "read_committed readers of the response topics wait for it until then")


def transactional_identity(settings: Settings) -> TransactionalIdentity:
    """Stable per replica, so a restarted replica fences its predecessor and aborts its open transaction at
    once instead of leaving read_committed consumers waiting for transaction.timeout.ms; and unique per
    replica, because two live producers with one id fence each other for ever (docs/DEPLOYMENT.md)."""
    if settings.transactional_id:
        return TransactionalIdentity(settings.transactional_id, IdentitySource.SETTING, None)
    group = settings.consumer_group
    if settings.pod_name:
        warning = None
        if _DEPLOYMENT_POD.search(settings.pod_name):
            warning = (f"POD_NAME {settings.pod_name!r} looks like a Deployment pod, whose name changes when the "
                       f"pod is replaced: then {_STALL}; run exactly-once as a StatefulSet")
        return TransactionalIdentity(f"{group}-{settings.pod_name}", IdentitySource.POD_NAME, warning)
    host = socket.gethostname()
    if settings.port:
        # Two processes cannot listen on one port of one host, so host and port identify one replica.
        return TransactionalIdentity(f"{group}-{host}-{settings.port}", IdentitySource.HOST_AND_PORT, None)
    # PORT=0: instances on one host would share an id and fence each other. A random suffix keeps them
    # apart, at the price of stability: a restarted instance cannot fence its predecessor.
    return TransactionalIdentity(
        f"{group}-{host}-{uuid.uuid4().hex[:12]}", IdentitySource.RANDOM,
        f"no stable identity (PORT=0 and no POD_NAME or TRANSACTIONAL_ID): {_STALL}")


def transactional_id(settings: Settings) -> str:
    identity = transactional_identity(settings)
    if identity.warning:
        log.warning("exactly-once: %s", identity.warning,
                    extra={"transactional_id": identity.value, "source": identity.source.value})
    return identity.value


def _reject_owned(environ: Mapping[str, str], owned: set[str]) -> None:
    for prop in owned & set(librdkafka_overrides(environ)):
        log.warning("ignoring KAFKA_ override of %s: the processing guarantee sets it", prop)
