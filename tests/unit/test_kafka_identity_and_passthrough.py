"""TRANSACTIONAL_ID defaults, the Kafka tools' variables in the KAFKA_* pass-through, static membership."""

from __future__ import annotations

import logging
import socket

import pytest

from models_processor.config import ConfigError, librdkafka_overrides, load_settings
from models_processor.kafka.client_config import (
    IdentitySource,
    consumer_config,
    producer_config,
    transactional_identity,
)
from models_processor.metrics import Metrics

EOS = {"PROCESSING_GUARANTEE": "exactly_once"}


# ---------------------------------------------------------------------------------------- TRANSACTIONAL_ID
def test_explicit_transactional_id_wins():
    identity = transactional_identity(load_settings({**EOS, "TRANSACTIONAL_ID": "tx-1", "POD_NAME": "mp-0"}))
    assert (identity.value, identity.source, identity.warning) == ("tx-1", IdentitySource.SETTING, None)


def test_statefulset_pod_name_is_the_stable_identity():
    settings = load_settings({**EOS, "POD_NAME": "models-processor-2", "PORT": "0"})
    identity = transactional_identity(settings)
    assert identity.value == "models-processor-models-processor-2"
    assert identity.source is IdentitySource.POD_NAME and identity.warning is None
    # Stable: the replacement of the pod (same ordinal) gets the same id and so fences its predecessor.
    assert transactional_identity(settings).value == identity.value
    assert producer_config(settings, environ={})["transactional.id"] == identity.value


def test_deployment_pod_name_is_used_but_warned_about(caplog):
    settings = load_settings({**EOS, "POD_NAME": "models-processor-7d9f8b6c4-x2kqp"})
    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.client_config"):
        tx = producer_config(settings, environ={})["transactional.id"]
    assert tx == "models-processor-models-processor-7d9f8b6c4-x2kqp"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "Deployment" in warning and "transaction.timeout.ms" in warning and "StatefulSet" in warning


def test_host_and_fixed_port_identify_one_replica():
    identity = transactional_identity(load_settings({**EOS, "PORT": "8081"}))
    assert identity.value == f"models-processor-{socket.gethostname()}-8081"
    assert identity.source is IdentitySource.HOST_AND_PORT and identity.warning is None


def test_port_zero_instances_on_one_host_never_share_an_id(caplog):
    # Before: both were "<group>-<host>-0" and fenced each other on every init_transactions.
    settings = load_settings({**EOS, "PORT": "0"})
    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.client_config"):
        first = producer_config(settings, environ={})["transactional.id"]
        second = producer_config(settings, environ={})["transactional.id"]
    assert first != second
    assert first.startswith(f"models-processor-{socket.gethostname()}-")
    assert transactional_identity(settings).source is IdentitySource.RANDOM
    warning = caplog.records[0].getMessage()
    assert "no stable identity" in warning and "transaction.timeout.ms" in warning


# ---------------------------------------------------------------------------------------- KAFKA_* tools
TOOL_ENV = {
    "KAFKA_HEAP_OPTS": "-Xmx1G -Xms1G", "KAFKA_OPTS": "-Djava.security.auth.login.config=/etc/jaas.conf",
    "KAFKA_JVM_PERFORMANCE_OPTS": "-server -XX:+UseG1GC", "KAFKA_LOG4J_OPTS": "-Dlog4j.configuration=x",
    "KAFKA_GC_LOG_OPTS": "-Xlog:gc", "KAFKA_JMX_OPTS": "-Dcom.sun.management.jmxremote", "KAFKA_DEBUG": "y",
}


def test_kafka_tool_variables_are_not_librdkafka_properties():
    env = {**TOOL_ENV, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    assert librdkafka_overrides(env) == {"security.protocol": "SASL_SSL"}


def test_kafka_debug_with_librdkafka_contexts_is_passed_through():
    assert librdkafka_overrides({"KAFKA_DEBUG": "consumer,cgrp"}) == {"debug": "consumer,cgrp"}
    assert librdkafka_overrides({"KAFKA_DEBUG": "true"}) == {}


def test_the_service_starts_with_the_tools_variables_and_says_it_ignores_them(caplog):
    from models_processor.service import build_kafka_clients

    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.client_config"):
        consumer, producer = build_kafka_clients(load_settings({}), Metrics(), environ=TOOL_ENV)
    consumer.close()
    del producer
    warned = [r for r in caplog.records if "Kafka command-line tools" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].variables == sorted(TOOL_ENV)


def test_a_misspelt_property_next_to_the_tools_variables_still_fails_naming_it():
    from models_processor.service import build_kafka_clients

    with pytest.raises(ConfigError) as info:
        build_kafka_clients(load_settings({}), Metrics(), environ={**TOOL_ENV, "KAFKA_SASL_MECHANIZM": "PLAIN"})
    assert "KAFKA_SASL_MECHANIZM" in str(info.value)


# ---------------------------------------------------------------------------------------- static membership
def test_static_membership_warns_that_close_does_not_leave_the_group(caplog):
    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.client_config"):
        conf = consumer_config(load_settings({}), environ={"KAFKA_GROUP_INSTANCE_ID": "mp-0"})
    assert conf["group.instance.id"] == "mp-0"
    warned = [r for r in caplog.records if "static membership" in r.getMessage()]
    assert len(warned) == 1 and warned[0].session_timeout_ms == 45_000


def test_default_membership_is_dynamic_and_silent(caplog):
    with caplog.at_level(logging.WARNING, logger="models_processor.kafka.client_config"):
        conf = consumer_config(load_settings({}), environ={})
    assert "group.instance.id" not in conf
    assert not [r for r in caplog.records if "static membership" in r.getMessage()]


# ------------------------------------------------------------------- the transactional producer's connections
def test_transactional_producer_closes_idle_connections_within_its_call_timeout():
    # The state changes they cause are what unblocks send_offsets_to_transaction after a broker restart
    # (docs/guarantees.md); the broker-restart fault test shows the hang without it.
    from models_processor.kafka.transactions import TXN_CALL_TIMEOUT_S

    conf = producer_config(load_settings(EOS), environ={})
    assert 0 < int(conf["connections.max.idle.ms"]) < TXN_CALL_TIMEOUT_S * 1000
    overridden = producer_config(load_settings(EOS), environ={"KAFKA_CONNECTIONS_MAX_IDLE_MS": "9000"})
    assert int(overridden["connections.max.idle.ms"]) == 9000
    assert "connections.max.idle.ms" not in producer_config(load_settings({}), environ={})
