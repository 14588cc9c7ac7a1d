"""The test model server is a real Ollama 0.17.4 with a real model: version, capabilities, generation,
server variables, a kill mid-generation and a restart on the same URL.

These guard the fixtures in testkit/pytest_ollama.py (and deploy/local-ollama/server.py) that the
conformance tests rely on; the facts checked are the ones docs/ollama.md records from the real server.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from testkit.ollama_local import LOCAL_MODEL, LocalOllama

SMALL = {"temperature": 0, "seed": 42, "num_predict": 8, "num_ctx": 2048}


def _generate(server: LocalOllama, prompt: str, **options: int) -> dict:
    return server.api("/api/generate", {"model": server.model, "prompt": prompt, "stream": False,
                                        "think": False, "options": {**SMALL, **options}}, timeout=120)


def test_the_server_is_the_pinned_ollama_with_the_tiny_text_model(ollama_real: LocalOllama) -> None:
    assert ollama_real.api("/api/version")["version"] == "0.17.4"
    names = [m["name"] for m in ollama_real.api("/api/tags")["models"]]
    assert f"{LOCAL_MODEL}:latest" in names
    show = ollama_real.api("/api/show", {"model": LOCAL_MODEL})
    assert show["capabilities"] == ["completion"]  # text only: no "vision", no "thinking"
    answer = _generate(ollama_real, "Name one vegetable.")
    assert answer["done"] is True and answer["done_reason"] in ("stop", "length")
    assert answer["response"].strip() and answer["eval_count"] > 0


def test_a_second_server_runs_with_its_own_variables(
        ollama_real: LocalOllama, ollama_real_factory: Callable[..., LocalOllama]) -> None:
    serial = ollama_real_factory({"OLLAMA_NUM_PARALLEL": "1", "OLLAMA_KEEP_ALIVE": "7m"})
    assert serial.base_url != ollama_real.base_url
    config = next(line for line in serial.log_text().splitlines() if 'msg="server config"' in line)
    assert "OLLAMA_NUM_PARALLEL:1 " in config and "OLLAMA_KEEP_ALIVE:7m0s" in config
    _generate(serial, "Name one fruit.")
    loaded = serial.api("/api/ps")["models"]
    assert [m["name"] for m in loaded] == [f"{LOCAL_MODEL}:latest"]
    assert serial.model_loads() == 1


def test_killed_mid_generation_then_restarted_on_the_same_url(ollama_real_own: LocalOllama) -> None:
    server = ollama_real_own
    url, pid = server.base_url, server.pid
    chunks: list[dict] = []
    ended: list[BaseException | None] = []
    body = json.dumps({"model": server.model, "prompt": "Count from 1 to 500, one number per line.",
                       "think": False, "options": {**SMALL, "num_predict": 2000}}).encode()

    def stream() -> None:
        request = urllib.request.Request(f"{url}/api/generate", data=body)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                for line in response:
                    chunks.append(json.loads(line))
            ended.append(None)
        except Exception as exc:  # the point: how the stream ends when the server dies
            ended.append(exc)

    reader = threading.Thread(target=stream)
    reader.start()
    deadline = time.monotonic() + 120
    while len(chunks) < 3 and time.monotonic() < deadline and reader.is_alive():
        time.sleep(0.05)
    assert len(chunks) >= 3, f"no streamed tokens before the kill: {ended}"
    server.kill()
    reader.join(30)
    assert not reader.is_alive()
    # What a client sees: the stream just stops (here a plain end of the body, no exception), with no final
    # `done` chunk; only the missing final chunk tells a killed server from a finished answer.
    assert ended, "the reader did not finish"
    assert not any(chunk.get("done") for chunk in chunks), "the stream ended with a final chunk"
    try:
        server.api("/api/version", timeout=2)
        raise AssertionError("the killed server still answers")
    except (urllib.error.URLError, OSError):
        pass

    assert server.restart() == url
    assert server.pid != pid
    assert server.api("/api/version")["version"] == "0.17.4"
    assert _generate(server, "Name one grain.")["response"].strip()
