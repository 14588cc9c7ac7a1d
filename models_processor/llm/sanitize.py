"""Turn a model's text answer into a JSON value: fences, chatter around the JSON, trailing commas and
truncation are tolerated (json-repair does the repairing); text with no JSON object or array is rejected.

Models ignore `format` sometimes (ollama #8063), wrap JSON in ``` fences, or stop mid-object when they
hit num_predict (#4230); `format:"json"` can give "{}" plus a flood of whitespace (#7603).
"""

from __future__ import annotations

import json
import re
from typing import Any

import json_repair

# A leading ```json / ``` fence line and a trailing ``` fence; the JSON in between is what we want.
_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)


class NoJSONFound(ValueError):
    """The text holds nothing that can be read as a JSON object or array."""


def _strip_fences(text: str) -> str:
    match = _FENCE.search(text)
    if match and _first_container_start(match.group(1)) >= 0:
        return match.group(1)
    return text  # no fence, or the JSON sits outside it (e.g. a stray closing fence after the JSON)


def _first_container_start(text: str) -> int:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    return min(starts) if starts else -1


def extract_json(text: str) -> Any:
    """Return the JSON object (or array) in `text`. Raises NoJSONFound (a ValueError) when there is none.

    Only containers count: a bare number or word is not an answer to a structured-output request.
    """
    if not isinstance(text, str):
        raise NoJSONFound(f"expected text, got {type(text).__name__}")
    body = _strip_fences(text).strip()
    start = _first_container_start(body)
    if start < 0:
        raise NoJSONFound("no JSON object or array in the model output" if body else "model output is empty")
    candidate = body[start:]
    opener = candidate[0]
    # Fast path: well-formed JSON (perhaps followed by whitespace) needs no repair.
    try:
        value, _end = json.JSONDecoder().raw_decode(candidate)
    except ValueError:
        try:
            value = json_repair.loads(candidate)
        except Exception as exc:  # json-repair is lenient but not total; keep our one documented error
            raise NoJSONFound(f"model output could not be repaired into JSON: {exc}") from None
    # json-repair reads `{..}{..}` as a list of objects; an object answer is the first object.
    if opener == "{" and isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict)), None)
    if not isinstance(value, (dict, list)):
        raise NoJSONFound("model output holds no JSON object or array")
    return value
