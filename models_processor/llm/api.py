"""Typed bodies of the Ollama HTTP API (v0.17.4, api/types.go), the way ollama-python types them.

Requests are serialised with `wire()` (unset fields left out, so the server's own defaults apply);
responses are read with `model_validate` and ignore fields we do not use (newer servers add some).
See docs/OLLAMA.md for the behaviour the client relies on.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticSerializationError


class ImageNotBase64(ValueError):
    """An image string that is not strict std base64: Ollama's Go decoder would answer 400."""


def encode_image(image: object) -> str:
    """Strict std base64 (padding, no `data:` prefix), what Go's encoding/json accepts for []byte."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(image)).decode("ascii")
    if not isinstance(image, str):
        raise ImageNotBase64(f"an image must be bytes or a base64 string, not {type(image).__name__}")
    try:
        base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise ImageNotBase64("image passed to the Ollama client is not strict base64") from None
    return image


# Raw bytes are encoded on the way in, so a request model always holds what goes on the wire.
ImageData = Annotated[str, BeforeValidator(encode_image)]

# Go's time.ParseDuration: an optional sign, then one or more number+unit pairs ("1h30m", "-1m", "0").
_GO_DURATION = re.compile(r"[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0")
_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)")

KeepAlive = int | float | str


def keep_alive_value(setting: str) -> KeepAlive:
    """The JSON value of `keep_alive` for a setting written like OLLAMA_KEEP_ALIVE: a number of seconds
    ("-1", "300") goes as a JSON number, a Go duration ("30m", "-1m") as a string. Ollama's api.Duration
    reads a string with time.ParseDuration, so "-1" as a string is a 400 (`time: missing unit`)."""
    text = setting.strip()
    if _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() else number
    if _GO_DURATION.fullmatch(text):
        return text
    raise ValueError(f"{setting!r} is neither a number of seconds nor a duration like 30m, 1h or -1")


class Options(BaseModel):
    """api.Options + api.Runner, the keys we send. num_ctx, num_batch, num_gpu and num_thread are
    runner options: a change between calls makes the server reload the model (server/sched.go needsReload)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = None
    num_predict: int | None = None
    seed: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    num_thread: int | None = None


Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    """api.Message (chat turn). `thinking` comes back from thinking models, never sent by us."""

    model_config = ConfigDict(extra="ignore")

    role: Role = "assistant"
    content: str = ""
    thinking: str | None = None
    images: list[ImageData] | None = None


JsonFormat = Literal["json"] | dict[str, Any]


class _CompletionRequest(BaseModel):
    """Fields shared by api.GenerateRequest and api.ChatRequest."""

    model_config = ConfigDict(extra="forbid")

    model: str
    stream: bool = True
    format: JsonFormat | None = None
    options: Options | None = None
    keep_alive: KeepAlive | None = None
    # *bool / ThinkValue on the server: absent means "think" for models that can (routes.go); we always
    # send a value so a thinking model does not spend num_predict on thinking unless asked.
    think: bool | None = None
    # *bool, absent means true: a prompt over num_ctx silently loses its oldest messages.
    truncate: bool | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON body: unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def body(self) -> bytes:
        """wire() serialised in one step (pydantic's serializer, no dict in between). A lone UTF-16
        surrogate (from a JSON prompt) cannot be UTF-8: then json.dumps escapes it, and Go's decoder reads
        the escape as U+FFFD."""
        try:
            return self.model_dump_json(exclude_none=True).encode()
        except PydanticSerializationError:
            return json.dumps(self.wire()).encode()


class GenerateRequest(_CompletionRequest):
    prompt: str | None = None
    system: str | None = None
    images: list[ImageData] | None = None


class ChatRequest(_CompletionRequest):
    messages: list[Message] = Field(default_factory=list)


class _Final(BaseModel):
    """Fields of every generate/chat response line; the metrics only on the final (done) one, in ns."""

    model_config = ConfigDict(extra="ignore")

    model: str = ""
    created_at: datetime | None = None
    done: bool = False
    done_reason: str | None = None
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


def _text_of(value: object) -> str | None:
    """A streamed field as a str ("" when absent), None when it is not one."""
    if value is None:
        return ""
    return value if type(value) is str else None


class GenerateResponse(_Final):
    response: str = ""
    thinking: str | None = None

    def piece(self) -> tuple[str, str]:
        return self.response, self.thinking or ""

    @staticmethod
    def raw_piece(line: dict[str, Any]) -> tuple[str, str] | None:
        """(text, thinking) of a streamed line that is not the final one, read without building a model (a
        stream is one line per token); None for the final line or anything unexpected: validate that."""
        if line.get("done", False) is not False:
            return None
        text, thinking = _text_of(line.get("response")), _text_of(line.get("thinking"))
        return None if text is None or thinking is None else (text, thinking)


class ChatResponse(_Final):
    message: Message = Field(default_factory=Message)

    def piece(self) -> tuple[str, str]:
        return self.message.content, self.message.thinking or ""

    @staticmethod
    def raw_piece(line: dict[str, Any]) -> tuple[str, str] | None:
        """As GenerateResponse.raw_piece, for a chat line's `message`."""
        message = line.get("message")
        if line.get("done", False) is not False or type(message) is not dict:
            return None
        text, thinking = _text_of(message.get("content")), _text_of(message.get("thinking"))
        return None if text is None or thinking is None else (text, thinking)


class ErrorResponse(BaseModel):
    """`{"error": "..."}`: an error status body, or one line inside a 200 stream."""

    model_config = ConfigDict(extra="ignore")

    error: str


class ModelDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    parent_model: str = ""
    format: str = ""
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ShowResponse(BaseModel):
    """POST /api/show. `capabilities` is how the server decides what a model accepts (model.Capability)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    capabilities: list[str] = Field(default_factory=list)
    details: ModelDetails = Field(default_factory=ModelDetails)
    model_info: dict[str, Any] | None = None
    parameters: str = ""
    template: str = ""

    def context_length(self) -> int | None:
        """The model's trained context (`<arch>.context_length` in model_info)."""
        for key, value in (self.model_info or {}).items():
            if key.endswith(".context_length") and isinstance(value, int):
                return value
        return None


class ListModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = ""
    model: str = ""
    digest: str = ""
    size: int = 0
    details: ModelDetails = Field(default_factory=ModelDetails)

    @property
    def shown_name(self) -> str:
        return self.model or self.name


class ListResponse(BaseModel):
    """GET /api/tags."""

    model_config = ConfigDict(extra="ignore")

    models: list[ListModel] = Field(default_factory=list)


class ProcessModel(ListModel):
    expires_at: datetime | None = None
    size_vram: int = 0
    context_length: int | None = None


class ProcessResponse(BaseModel):
    """GET /api/ps: the loaded models."""

    model_config = ConfigDict(extra="ignore")

    models: list[ProcessModel] = Field(default_factory=list)


class ProgressResponse(BaseModel):
    """One line of POST /api/pull."""

    model_config = ConfigDict(extra="ignore")

    status: str = ""
    digest: str = ""
    total: int | None = None
    completed: int | None = None


class VersionResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = ""


class AliasEntry(BaseModel):
    """server/aliases.go aliasEntry: a name resolved by the server that /api/tags does not list."""

    model_config = ConfigDict(extra="ignore")

    alias: str
    target: str
    prefix_matching: bool = False


class AliasListResponse(BaseModel):
    """GET /api/experimental/aliases (v0.17)."""

    model_config = ConfigDict(extra="ignore")

    aliases: list[AliasEntry] | None = None


class CallDefaults(BaseModel):
    """What every generate/chat call to one server sends, the warm-up included: the same runner options
    (no reload), keep_alive as the server reads it, think off unless asked (a thinking model would spend
    num_predict on thinking), and truncate off (a prompt over num_ctx is an error, not silently cut)."""

    model_config = ConfigDict(frozen=True)

    options: Options
    keep_alive: KeepAlive | None = None
    think: bool = False
    truncate: bool = False
