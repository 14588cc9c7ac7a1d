import pytest

from models_processor.config import ConfigError, ProcessingGuarantee, librdkafka_overrides, load_settings
from models_processor.kafka.client_config import consumer_config, producer_config


def test_defaults_keep_the_earlier_service_names():
    s = load_settings({})
    assert s.local_model_kafka_topic == "eater-send-photo"
    assert s.text_response_topic == "gemini-response"
    assert s.photo_response_topic == "photo-analysis-response"
    assert s.error_topic == "gemini-response"
    assert s.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE


def test_vision_and_text_servers_fall_back_to_ollama_host():
    s = load_settings({"OLLAMA_HOST": "ollama:11434", "OLLAMA_MODEL": "llava:7b",
                       "OLLAMA_TEXT_HOST": "http://text:11434", "OLLAMA_TEXT_MODEL": "llama3.2"})
    assert s.vision_host == "http://ollama:11434"
    assert s.vision_model == "llava:7b"
    assert s.text_host == "http://text:11434"
    assert s.text_model == "llama3.2"


@pytest.mark.parametrize("name,value", [
    ("CONCURRENT_REQUESTS", "zero"), ("CONCURRENT_REQUESTS", "0"), ("PORT", "70000"),
    ("PROCESSING_GUARANTEE", "at_most_once"), ("LOG_LEVEL", "loud"), ("OLLAMA_HOST", "ftp://x"),
])
def test_a_wrong_value_names_its_variable(name, value):
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    assert name in str(info.value)


def test_deadline_must_fit_inside_max_poll_interval():
    with pytest.raises(ConfigError, match="REQUEST_DEADLINE_SECONDS"):
        load_settings({"REQUEST_DEADLINE_SECONDS": "400", "MAX_POLL_INTERVAL_MS": "300000"})


def test_kafka_passthrough_and_service_links():
    env = {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SERVICE_HOST": "10.0.0.1", "KAFKA_PORT_9092_TCP": "tcp://10.0.0.1:9092"}
    assert librdkafka_overrides(env) == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}


def test_guarantee_properties_cannot_be_overridden():
    env = {"KAFKA_ENABLE_AUTO_OFFSET_STORE": "true", "KAFKA_ENABLE_IDEMPOTENCE": "false",
           "KAFKA_BOOTSTRAP_SERVERS": "broker:9092"}
    s = load_settings({})
    consumer = consumer_config(s, environ=env)
    producer = producer_config(s, environ=env)
    assert consumer["enable.auto.offset.store"] is False
    assert consumer["bootstrap.servers"] == "broker:9092"
    assert producer["enable.idempotence"] is True
    assert "group.id" not in producer and "linger.ms" not in consumer


def test_exactly_once_uses_transactions_and_manual_commits():
    s = load_settings({"PROCESSING_GUARANTEE": "exactly_once", "TRANSACTIONAL_ID": "p-1"})
    assert consumer_config(s, environ={})["enable.auto.commit"] is False
    assert producer_config(s, environ={})["transactional.id"] == "p-1"


def test_kip848_drops_client_side_assignment_settings():
    s = load_settings({})
    conf = consumer_config(s, environ={"KAFKA_GROUP_PROTOCOL": "consumer", "KAFKA_SESSION_TIMEOUT_MS": "45000"})
    assert "partition.assignment.strategy" not in conf and "session.timeout.ms" not in conf


def test_unknown_librdkafka_property_names_its_variable():
    from models_processor.metrics import Metrics
    from models_processor.service import build_kafka_clients

    with pytest.raises(ConfigError) as info:
        build_kafka_clients(load_settings({}), Metrics(), environ={"KAFKA_SASL_MECHANIZM": "PLAIN"})
    assert "KAFKA_SASL_MECHANIZM" in str(info.value)


def test_default_port_is_the_earlier_services():
    # A drop-in replacement: the earlier service's Kubernetes manifests probe port 5000 without setting PORT.
    assert load_settings({}).port == 5000
