"""Prompt text sent to the models. Pure functions: no I/O, nothing logged.

Ollama's docs advise repeating the JSON Schema and the request for JSON in the prompt even when `format`
carries the schema; without it models may answer "{}" plus whitespace (ollama #7603).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

JSON_SYSTEM = ("You extract structured data from images. You answer with a single JSON object that matches "
               "the given JSON Schema, and nothing else: no prose, no code fences.")

TEXT_SYSTEM = "You are a helpful cooking and nutrition assistant. Answer clearly and concisely."

# The earlier service's photo analysis (design.md "food"): keys and meaning kept for its consumers.
FOOD_INSTRUCTION = (
    "Analyze this food image. Identify the dish and estimate its nutrition for the portion shown. "
    "Return dish_name (the name of the dish), estimated_avg_calories (average calories of the portion, "
    "a number), ingredients (a list of the main ingredients you can see or expect), total_avg_weight "
    "(average weight of the portion in grams, a number) and contains with protein, carbs and fat "
    "(grams in the portion, numbers). Example: {\"dish_name\": \"Pizza\", \"estimated_avg_calories\": 285, "
    "\"ingredients\": [\"cheese\", \"tomato sauce\", \"dough\"], \"total_avg_weight\": 200, "
    "\"contains\": {\"protein\": 12.0, \"carbs\": 36.0, \"fat\": 10.0}}"
)


def schema_of(result_model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema object sent as Ollama's `format` and repeated in the prompt."""
    return result_model.model_json_schema()


def structured_prompt(instruction: str, result_model: type[BaseModel], *, context: Optional[str] = None) -> str:
    """Instruction, optional context (e.g. OCR text), then the schema and the request for JSON only."""
    schema = json.dumps(schema_of(result_model), separators=(",", ":"), sort_keys=True)
    parts = [instruction.strip()]
    if context:
        parts.append("Text already read from the image (may contain OCR errors):\n" + context.strip())
    parts.append("Answer with only a JSON object that matches this JSON Schema. Use null for values that "
                 "are not visible. JSON Schema:\n" + schema)
    return "\n\n".join(parts)


def describe_validation_error(error: Exception, *, max_errors: int = 8, max_chars: int = 1500) -> str:
    """A short, model-readable list of what was wrong (pydantic locations and messages, no input echo)."""
    if isinstance(error, ValidationError):
        lines = []
        for err in error.errors(include_url=False, include_input=False)[:max_errors]:
            where = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
            lines.append(f"{where}: {err.get('msg', 'invalid')}")
        text = "; ".join(lines)
    else:
        text = str(error)
    return text[:max_chars]


def feedback_prompt(errors: str) -> str:
    """The follow-up turn after an answer failed parsing or validation."""
    return (f"Your previous answer failed validation: {errors}. "
            "Answer again with only JSON that matches the JSON Schema, nothing else.")


def text_prompt(prompt: str) -> tuple[str, str]:
    """(system, prompt) for text generation: the request's prompt as is, with the system line."""
    return TEXT_SYSTEM, prompt
