"""Ollama model names (ollama-api.md §4): parse, validate, and compare the way the server does.

Grammar: `[host/][namespace/]model[:tag][@digest]`, defaults host `registry.ollama.ai`, namespace `library`,
tag `latest`. /api/tags lists `DisplayShortest` names (default host and namespace dropped, tag always
present), and the server matches case-insensitively, so "is my model present" must compare canonical forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# Character rules from Ollama's types/model/name.go (§4).
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")  # model and tag, <= 80 chars
_NAMESPACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[0-9]{1,5})?")  # host, optionally with a port
_DIGEST = re.compile(r"sha256[:-][0-9a-fA-F]{64}")


class InvalidModelName(ValueError):
    """The string does not follow Ollama's model-name grammar."""


@dataclass(frozen=True)
class ModelName:
    """A parsed name with defaults filled in; parts keep the case they were written in."""

    host: str
    namespace: str
    model: str
    tag: str
    digest: Optional[str] = None

    def canonical(self) -> str:
        """Lower-cased DisplayShortest form, the form /api/tags uses: `llava:latest`, `user/m:tag`,
        `host/ns/m:tag`. The digest is left out: /api/tags does not show it."""
        if self.host.lower() != DEFAULT_HOST:
            shown = f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            shown = f"{self.namespace}/{self.model}:{self.tag}"
        else:
            shown = f"{self.model}:{self.tag}"
        return shown.lower()


def parse_model_name(name: str) -> ModelName:
    """Parse `name` by the §4 grammar; raise InvalidModelName with the reason when it does not fit."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelName("model name is empty")
    rest = name.strip()
    digest: Optional[str] = None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise InvalidModelName(f"invalid digest in model name {name!r}")
    # The tag is whatever follows the last ':' after the last '/': a host port ("host:5000/...") is not a tag.
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = DEFAULT_TAG
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _PART.fullmatch(tag):
            raise InvalidModelName(f"invalid tag {tag!r} in model name {name!r}")
    parts = rest.split("/")
    if len(parts) > 3:
        raise InvalidModelName(f"too many '/' parts in model name {name!r}")
    host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    else:
        (model,) = parts
    if not _PART.fullmatch(model):
        raise InvalidModelName(f"invalid model part {model!r} in model name {name!r}")
    if not _NAMESPACE.fullmatch(namespace):
        raise InvalidModelName(f"invalid namespace {namespace!r} in model name {name!r}")
    if not _HOST.fullmatch(host):
        raise InvalidModelName(f"invalid host {host!r} in model name {name!r}")
    return ModelName(host=host, namespace=namespace, model=model, tag=tag, digest=digest)


def is_valid_model_name(name: str) -> bool:
    try:
        parse_model_name(name)
    except InvalidModelName:
        return False
    return True


def canonical_model_name(name: str) -> str:
    """The comparison form of `name` (raises InvalidModelName for names outside the grammar)."""
    return parse_model_name(name).canonical()


def same_model(a: str, b: str) -> bool:
    """True when the server would resolve both names to the same model. Invalid names match nothing."""
    try:
        return canonical_model_name(a) == canonical_model_name(b)
    except InvalidModelName:
        return False


def find_model(wanted: str, available: Iterable[str]) -> Optional[str]:
    """The entry of `available` (e.g. /api/tags names) that is `wanted`, or None."""
    try:
        target = canonical_model_name(wanted)
    except InvalidModelName:
        return None
    for candidate in available:
        try:
            if canonical_model_name(candidate) == target:
                return candidate
        except InvalidModelName:
            continue  # a name we cannot parse cannot be the one we want
    return None
