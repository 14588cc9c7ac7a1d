"""The OpenAI-compatible client against a real server, the local Ollama 0.17.4's own /v1 (tiny Gemma 3): an
unknown model in the client's own words, one kept-alive connection across streamed calls, and the adaptive
in-flight limit (OPENAI_MAX_IN_FLIGHT=auto) finding that a server with one slot queues what it is sent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from models_processor.deadline import Deadline
from models_processor.errors import ErrorCode
from models_processor.llm.api import ChatRequest, Message, Options
from models_processor.llm.base import ModelCallError
from models_processor.llm.limiter import VegasLimit
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.metrics import Metrics


def _request(model: str) -> ChatRequest:
    return ChatRequest(model=model, options=Options(num_predict=4, temperature=0),
                       messages=[Message(role="user", content="Beans are")])


def _connections(client: OpenAICompatClient) -> int:
    pools = client._session.get_adapter(client.base_url).poolmanager.pools
    # RecentlyUsedContainer refuses iteration; keys() is its way.
    return sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118


def test_unknown_model_is_model_not_found_in_the_clients_words(ollama_real):
    client = OpenAICompatClient(ollama_real.base_url, connect_timeout=5, read_timeout=60, metrics=Metrics(),
                                role="text")
    try:
        assert ollama_real.model in " ".join(client.models())
        with pytest.raises(ModelCallError) as raised:
            client.chat(_request("no-such-model:1b"), deadline=Deadline.after(30))
    finally:
        client.close()
    error = raised.value
    assert error.code is ErrorCode.MODEL_NOT_FOUND and not error.transient and error.status == 404
    assert "is not served by the text model server" in error.message and "/v1/models" in error.message
    assert "Ollama /v1 (text server" in error.message  # /v1/models owned_by "library"
    assert "is it an Ollama server" not in error.message and "pull it first\"" not in error.message


def test_streamed_calls_keep_one_connection(ollama_real):
    client = OpenAICompatClient(ollama_real.base_url, connect_timeout=5, read_timeout=120, metrics=Metrics(),
                                role="text")
    try:
        answers = [client.chat(_request(ollama_real.model), deadline=Deadline.after(120)) for _ in range(4)]
    finally:
        connections = _connections(client)
        client.close()
    assert all(a.text for a in answers)
    assert connections == 1  # Go's net/http ends the body after [DONE]; we read to that end


def test_adaptive_limit_backs_off_on_a_server_with_one_slot(ollama_real_factory):
    server = ollama_real_factory(env={"OLLAMA_NUM_PARALLEL": "1"})
    changes: list[tuple[int, str]] = []
    limit = VegasLimit(6, max_limit=6, on_change=lambda value, why: changes.append((value, why)))
    client = OpenAICompatClient(server.base_url, connect_timeout=5, read_timeout=120, metrics=Metrics(),
                                role="text", limit=limit, pool_size=6)
    request = _request(server.model)
    try:
        client.chat(request, deadline=Deadline.after(300))  # load the model before measuring
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: client.chat(request, deadline=Deadline.after(300)), range(60)))
    finally:
        client.close()
    assert all(a.text for a in answers)
    assert limit.baseline_s is not None and limit.baseline_s > 0
    # One slot: 6 in flight means 5 waiting in Ollama's queue; the limit comes down to the slot plus at
    # most BETA queued, and says why.
    assert limit.limit <= 4, changes
    assert changes and all("queued at the server" in why for _, why in changes)
