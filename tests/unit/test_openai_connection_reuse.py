"""The OpenAI-compatible client keeps its connection across streamed calls: it reads each body to its end
after `data: [DONE]`, because leaving the line iterator early makes urllib3 close the socket (its error
catcher treats the generator's close as an unclean exit), and every call would then connect anew."""

from __future__ import annotations

import pytest

from models_processor.deadline import Deadline
from models_processor.llm.api import ChatRequest, Message
from models_processor.llm.openai_compat import OpenAICompatClient
from models_processor.metrics import Metrics
from testkit.fakes import openai_server
from testkit.fakes.openai_server import Flavor, OpenAIStandIn


def test_twenty_streamed_calls_use_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    connections: list[object] = []
    setup = openai_server._Handler.setup

    def counting_setup(self: openai_server._Handler) -> None:
        connections.append(self.client_address)
        setup(self)

    monkeypatch.setattr(openai_server._Handler, "setup", counting_setup)
    standin = OpenAIStandIn(Flavor.VLLM).start()
    client = OpenAICompatClient(standin.base_url, connect_timeout=5, read_timeout=30, metrics=Metrics(), role="text")
    request = ChatRequest(model="served-model", messages=[Message(role="user", content="hi")])
    try:
        answers = [client.chat(request, deadline=Deadline.after(30)) for _ in range(20)]
    finally:
        client.close()
        standin.stop()
    assert all(a.text for a in answers) and standin.statuses == [200] * 20
    assert len(connections) == 1  # was 20: one TCP connect per call
