"""Ollama model-name rules, as the v0.17.4 server applies them (types/model/name.go, server/aliases.go)."""

import pytest

from models_processor.llm.api import AliasEntry
from models_processor.llm.names import (
    InvalidModelName,
    canonical_model_name,
    find_model,
    is_valid_model_name,
    parse_model_name,
    resolve_alias,
    resolve_model,
    same_model,
)


@pytest.mark.parametrize("name", ["llava", "llava:latest", "library/llava:latest",
                                  "registry.ollama.ai/library/llava:latest", "LLaVA:Latest",
                                  "https://registry.ollama.ai/library/llava"])
def test_default_host_namespace_and_tag_resolve_to_one_name(name):
    assert canonical_model_name(name) == "llava:latest"


def test_other_namespaces_and_hosts_are_kept():
    assert canonical_model_name("User/Model") == "user/model:latest"
    assert canonical_model_name("localhost:5000/ns/m:v1") == "localhost:5000/ns/m:v1"


def test_port_is_not_a_tag():
    parsed = parse_model_name("myhost:5000/team/llava")
    assert (parsed.host, parsed.namespace, parsed.model, parsed.tag) == ("myhost:5000", "team", "llava", "latest")


@pytest.mark.parametrize("name", ["", "  ", " llava ", "llava:", ":7b", "a/b/c/d", "-llava", "llava:ta/g",
                                  "na.me/x", "llava@sha256:xyz", "x" * 81, "/llava", "llava:7b:q4"])
def test_invalid_names(name):
    assert not is_valid_model_name(name)
    with pytest.raises(InvalidModelName):
        parse_model_name(name)


def test_a_digest_is_not_part_of_a_model_name():
    """Regression (issue 10, defect 10): the client read `llava:7b@sha256:<hex>` as `llava:7b`, but
    v0.17.4's ParseName has no digest form: `@` is not allowed in a part, so the server answers 404.
    Checked against the real server in tests/ollama/test_conformance.py."""
    name = "llava:7b@sha256:" + "a" * 64
    assert not is_valid_model_name(name)
    assert find_model(name, ["llava:7b"]) is None


def test_same_model_and_find_model():
    assert same_model("LLaVA", "llava:latest")
    assert not same_model("llava:7b", "llava:latest")
    assert not same_model("bad name", "bad name")
    assert find_model("LLAVA:7B", ["mistral:latest", "llava:7b"]) == "llava:7b"
    assert find_model("llava", ["llava:7b"]) is None
    assert find_model("llava", ["not a/valid/name/at/all", "llava:latest"]) == "llava:latest"


def test_server_side_alias_resolves_a_name_tags_never_list():
    """Regression (issue 10, defect 10): a name that only a server-side alias resolves was reported missing."""
    aliases = [AliasEntry(alias="vision", target="llava:7b"), AliasEntry(alias="chain", target="vision"),
               AliasEntry(alias="team/", target="gemma3:1b", prefix_matching=True)]
    tags = ["llava:7b", "gemma3:1b"]
    assert find_model("vision", tags) is None
    assert resolve_model("vision", tags, aliases) == "llava:7b"
    assert resolve_model("Vision:latest", tags, aliases) == "llava:7b"  # keys drop :latest, case-insensitive
    assert resolve_model("chain", tags, aliases) == "llava:7b"  # exact aliases are followed in a chain
    assert resolve_model("team/anything:v2", tags, aliases) == "gemma3:1b"  # prefix alias
    assert resolve_model("other", tags, aliases) is None


def test_a_local_model_shadows_an_alias_and_cycles_resolve_to_nothing():
    aliases = [AliasEntry(alias="llava:7b", target="gemma3:1b"), AliasEntry(alias="a", target="b"),
               AliasEntry(alias="b", target="a")]
    assert resolve_model("llava:7b", ["llava:7b", "gemma3:1b"], aliases) == "llava:7b"
    assert resolve_alias("a", aliases) is None
