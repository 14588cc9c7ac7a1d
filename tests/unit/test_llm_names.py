"""Ollama model-name rules (ollama-api.md §4)."""

import pytest

from models_processor.llm.names import (InvalidModelName, canonical_model_name, find_model, is_valid_model_name,
                                        parse_model_name, same_model)


@pytest.mark.parametrize("name", ["llava", "llava:latest", "library/llava:latest",
                                  "registry.ollama.ai/library/llava:latest", "LLaVA:Latest", " llava "])
def test_default_host_namespace_and_tag_resolve_to_one_name(name):
    assert canonical_model_name(name) == "llava:latest"


def test_other_namespaces_and_hosts_are_kept():
    assert canonical_model_name("User/Model") == "user/model:latest"
    assert canonical_model_name("localhost:5000/ns/m:v1") == "localhost:5000/ns/m:v1"
    assert canonical_model_name("llava:7b@sha256:" + "a" * 64) == "llava:7b"


def test_port_is_not_a_tag():
    parsed = parse_model_name("myhost:5000/team/llava")
    assert (parsed.host, parsed.namespace, parsed.model, parsed.tag) == ("myhost:5000", "team", "llava", "latest")


@pytest.mark.parametrize("name", ["", "  ", "llava:", ":7b", "a/b/c/d", "-llava", "llava:ta/g", "na.me/x",
                                  "llava@sha256:xyz", "x" * 81])
def test_invalid_names(name):
    assert not is_valid_model_name(name)
    with pytest.raises(InvalidModelName):
        parse_model_name(name)


def test_same_model_and_find_model():
    assert same_model("LLaVA", "llava:latest")
    assert not same_model("llava:7b", "llava:latest")
    assert not same_model("bad name", "bad name")
    assert find_model("LLAVA:7B", ["mistral:latest", "llava:7b"]) == "llava:7b"
    assert find_model("llava", ["llava:7b"]) is None
    assert find_model("llava", ["not a/valid/name/at/all", "llava:latest"]) == "llava:latest"
