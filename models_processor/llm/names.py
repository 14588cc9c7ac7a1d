"""Ollama model names, parsed and compared the way the v0.17.4 server does (types/model/name.go,
server/aliases.go). See docs/OLLAMA.md.

Grammar: `[[scheme://]host/][namespace/]model[:tag]`, defaults host `registry.ollama.ai`, namespace
`library`, tag `latest`. There is no digest form: `llava@sha256:...` is not a valid name to the server
(`@` is not allowed in a part), and generate/chat answer it 404. /api/tags lists `DisplayShortest` names
(default host and namespace dropped, tag always present) and the server matches case-insensitively.
Server-side aliases (GET /api/experimental/aliases) resolve names that /api/tags never lists; a local
model of the same name wins over an alias.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .api import AliasEntry

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
_MISSING = "!MISSING!"  # Go's MissingPart: an empty part between separators, never valid


class InvalidModelName(ValueError):
    """The string does not follow Ollama's model-name grammar."""


@dataclass(frozen=True)
class ModelName:
    """A parsed name with defaults filled in; parts keep the case they were written in."""

    host: str
    namespace: str
    model: str
    tag: str

    def display_shortest(self) -> str:
        """Go's DisplayShortest: `llava:latest`, `user/m:tag`, `host/ns/m:tag`."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    def canonical(self) -> str:
        """Lower-cased DisplayShortest: the comparison form (the server compares with EqualFold)."""
        return self.display_shortest().lower()

    def alias_key(self) -> str:
        """server/aliases.go normalizeAliasKey: DisplayShortest without a `:latest` tag, lower-cased."""
        shown = self.display_shortest()
        if self.tag.lower() == DEFAULT_TAG:
            shown = shown[: shown.rfind(":")]
        return shown.lower()


def _cut_last(text: str, sep: str) -> tuple[str, str, bool]:
    """Go's cutPromised: split at the last `sep`; an empty side becomes the never-valid missing part."""
    index = text.rfind(sep)
    if index < 0:
        return text, "", False
    return text[:index] or _MISSING, text[index + len(sep):] or _MISSING, True


def _valid_part(kind: str, part: str) -> bool:
    """Go's isValidPart: first char [A-Za-z0-9_], then also `-`, `.` (not in a namespace) and `:` (host)."""
    if not 1 <= len(part) <= (350 if kind == "host" else 80):
        return False
    if not (part[0].isascii() and (part[0].isalnum() or part[0] == "_")):
        return False
    for char in part[1:]:
        if char.isascii() and (char.isalnum() or char in "_-"):
            continue
        if char == "." and kind != "namespace":
            continue
        if char == ":" and kind == "host":
            continue
        return False
    return True


def parse_model_name(name: str) -> ModelName:
    """Parse like Go's model.ParseName + IsValid; raise InvalidModelName when the server would reject it."""
    if not isinstance(name, str) or not name:
        raise InvalidModelName("model name is empty")
    rest, tag = name, ""
    if rest.rfind(":") > rest.rfind("/"):
        rest, tag, _ = _cut_last(rest, ":")
    host, namespace = "", ""
    rest, model, more = _cut_last(rest, "/")
    if not more:
        model = rest
    else:
        rest, namespace, more = _cut_last(rest, "/")
        if not more:
            namespace = rest
        else:
            host = rest.split("://", 1)[1] if "://" in rest else rest
    parsed = ModelName(host=host or DEFAULT_HOST, namespace=namespace or DEFAULT_NAMESPACE, model=model,
                       tag=tag or DEFAULT_TAG)
    for kind, part in (("host", parsed.host), ("namespace", parsed.namespace), ("model", parsed.model),
                       ("tag", parsed.tag)):
        if not _valid_part(kind, part):
            raise InvalidModelName(f"invalid {kind} {part!r} in model name {name!r}")
    return parsed


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
    """True when the server would resolve both names to the same local model. Invalid names match nothing."""
    try:
        return canonical_model_name(a) == canonical_model_name(b)
    except InvalidModelName:
        return False


def find_model(wanted: str, available: Iterable[str]) -> str | None:
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


def resolve_alias(wanted: str, aliases: Sequence[AliasEntry]) -> str | None:
    """The target `wanted` resolves to through the server's aliases (store.ResolveName: an exact alias,
    else the longest prefix alias; exact aliases are followed in a chain), or None when no alias applies
    or the chain is invalid or cyclic, which the server answers with an error."""
    try:
        name = parse_model_name(wanted)
    except InvalidModelName:
        return None
    exact = {_key_of(e.alias): e for e in aliases if not e.prefix_matching}
    key = name.alias_key()
    if key in exact:
        current, visited = exact[key].target, {key}
    else:
        prefixes = sorted((e for e in aliases if e.prefix_matching), key=lambda e: len(e.alias), reverse=True)
        match = next((e for e in prefixes if key.startswith(e.alias.lower())), None)
        if match is None:
            return None
        current, visited = match.target, set()
    while True:
        target_key = _key_of(current)
        if not is_valid_model_name(current) or target_key in visited:
            return None
        visited.add(target_key)
        following = exact.get(target_key)
        if following is None:
            return current
        current = following.target


def _key_of(value: str) -> str:
    try:
        return parse_model_name(value).alias_key()
    except InvalidModelName:
        return value.strip().lower()


def resolve_model(wanted: str, available: Iterable[str], aliases: Sequence[AliasEntry]) -> str | None:
    """The local model the server runs for `wanted`: a local model of that name first (it shadows any
    alias), else an alias target present locally. None when neither."""
    names = list(available)
    local = find_model(wanted, names)
    if local is not None:
        return local
    target = resolve_alias(wanted, aliases)
    return find_model(target, names) if target is not None else None
