"""`python -m models_processor models list|pull` against the real local Ollama 0.17.4 (offline: a pull
reaches for registry.ollama.ai and gets an error) and, for a download with progress, the stand-in."""

from __future__ import annotations

import json

from models_processor.cli import main


def _env(monkeypatch, host: str, model: str) -> None:
    monkeypatch.setenv("OLLAMA_HOST", host)
    monkeypatch.setenv("OLLAMA_MODEL", model)
    monkeypatch.delenv("OLLAMA_VISION_HOST", raising=False)
    monkeypatch.delenv("OLLAMA_TEXT_HOST", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "ERROR")


def test_list_real_ollama_shows_models_roles_and_version(ollama_real, capsys, monkeypatch):
    _env(monkeypatch, ollama_real.base_url, ollama_real.model)
    assert main(["models", "list", "--json"]) == 0
    [listing] = json.loads(capsys.readouterr().out)
    assert listing["server"] == ollama_real.base_url and listing["version"] == "0.17.4"
    [model] = [m for m in listing["models"] if m["name"] == f"{ollama_real.model}:latest"]
    assert model["roles"] == ["vision", "text"] and listing["missing"] == []

    monkeypatch.setenv("OLLAMA_TEXT_MODEL", "absent-model:1b")
    assert main(["models", "list"]) == 1
    out = capsys.readouterr().out
    assert f"{ollama_real.model}:latest  [vision]" in out
    assert "absent-model:1b  MISSING" in out


def test_pull_unknown_model_on_offline_server_fails_with_the_servers_error(ollama_real, capsys, monkeypatch):
    _env(monkeypatch, ollama_real.base_url, ollama_real.model)
    assert main(["models", "pull", "no-such-model-x:1b"]) == 1
    out = capsys.readouterr().out
    assert "no-such-model-x:1b: pulling manifest" in out  # the server's own first progress line
    assert f"pulling model 'no-such-model-x:1b' from {ollama_real.base_url} failed: pull model manifest" in out
    assert "registry.ollama.ai" in out


def test_pull_of_a_present_model_succeeds_without_the_registry(ollama_real, capsys, monkeypatch):
    _env(monkeypatch, ollama_real.base_url, ollama_real.model)
    assert main(["models", "pull"]) == 0  # the configured model; the offline server could not fetch it
    assert f"{ollama_real.model}: already present on {ollama_real.base_url}" in capsys.readouterr().out
    # --force really asks the server, which (offline) cannot reach the registry.
    assert main(["models", "pull", "--force", ollama_real.model]) == 1
    assert "registry.ollama.ai" in capsys.readouterr().out


def test_pull_streams_progress_until_the_model_is_there(standin, capsys, monkeypatch):
    _env(monkeypatch, standin.url, "llava:7b")
    assert main(["models", "pull", "qwen2.5:0.5b"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "qwen2.5:0.5b: pulling manifest"
    assert any("% of " in line for line in lines) and any(" 100% of " in line for line in lines)
    assert lines[-1] == f"qwen2.5:0.5b: pulled onto {standin.url}"
    assert main(["models", "list"]) == 0
    assert "qwen2.5:0.5b" in capsys.readouterr().out


def test_roles_on_an_openai_backend_are_left_out(ollama_real, capsys, monkeypatch):
    _env(monkeypatch, ollama_real.base_url, ollama_real.model)
    monkeypatch.setenv("LLM_TEXT_BACKEND", "openai")
    assert main(["models", "list", "--json"]) == 0
    [listing] = json.loads(capsys.readouterr().out)
    assert [m["roles"] for m in listing["models"] if m["roles"]] == [["vision"]]
    monkeypatch.setenv("LLM_VISION_BACKEND", "openai")
    assert main(["models", "list"]) == 2
    assert "no Ollama model server configured" in capsys.readouterr().err
