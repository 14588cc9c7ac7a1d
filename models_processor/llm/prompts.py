"""Every prompt text sent to the models, in one place. Pure functions: no I/O, nothing logged.

Ollama's docs advise repeating the JSON Schema and the request for JSON in the prompt even when `format`
carries the schema; without it models may answer "{}" plus whitespace (ollama #7603). See docs/ollama.md.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ..validation import describe_validation_error

__all__ = ["FOOD_INSTRUCTION", "JSON_SYSTEM", "NUTRITION_LABEL_INSTRUCTION", "RECIPE_INSTRUCTION", "TEXT_SYSTEM",
           "describe_validation_error", "feedback_prompt", "food_instruction", "ocr_lines_instruction",
           "repeat_feedback_prompt", "schema_of",
           "structured_prompt", "text_prompt", "text_retry_prompt", "with_ocr_context"]

JSON_SYSTEM = ("You extract structured data from images. You answer with a single JSON object that matches "
               "the given JSON Schema, and nothing else: no prose, no code fences.")

TEXT_SYSTEM = "You are a helpful cooking and nutrition assistant. Answer clearly and concisely."

# The earlier service's photo analysis (docs/contracts.md "food"): keys and meaning kept for its consumers.
FOOD_INSTRUCTION = (
    "Analyze this food image. Identify the dish and estimate its nutrition for the portion shown. "
    "Return dish_name (the name of the dish), estimated_avg_calories (average calories of the portion, "
    "a number), ingredients (a list of the main ingredients you can see or expect), total_avg_weight "
    "(average weight of the portion in grams, a number) and contains with protein, carbs and fat "
    "(grams in the portion, numbers). Example: {\"dish_name\": \"Pizza\", \"estimated_avg_calories\": 285, "
    "\"ingredients\": [\"cheese\", \"tomato sauce\", \"dough\"], \"total_avg_weight\": 200, "
    "\"contains\": {\"protein\": 12.0, \"carbs\": 36.0, \"fat\": 10.0}}"
)

RECIPE_INSTRUCTION = (
    "This photo shows a recipe (a cookbook page or a recipe card). Extract the title, servings, "
    "prep/cook/total times in minutes, every ingredient line (original text, name, quantity as a number, "
    "unit) and the instruction steps in order."
)

NUTRITION_LABEL_INSTRUCTION = (
    "This photo shows a nutrition facts label. Extract the serving size, servings per container and the "
    "per-serving values of the first column: calories, fats, cholesterol, sodium, potassium, carbohydrates, "
    "fibre, sugars, protein. Use grams or milligrams as the field names say."
)

# OCR text given to the model as context: enough for a label or a recipe page, bounded for num_ctx.
OCR_CONTEXT_CHARS = 3000


def with_ocr_context(instruction: str, ocr_text: str) -> str:
    """The instruction followed by what OCR already read (the photo stays authoritative)."""
    text = ocr_text.strip()
    if not text:
        return instruction
    return (f"{instruction}\n\nText already read from the photo by OCR (may contain reading errors; the photo "
            f"is authoritative):\n{text[:OCR_CONTEXT_CHARS]}")


def ocr_lines_instruction(instruction: str, lines: str, width: int, height: int) -> str:
    """The photo's text pass: the text model gets the OCR lines with their positions instead of the photo."""
    return (f"{instruction}\n\nYou cannot see the photo. Below are the text lines an OCR engine read from it "
            f"({width}x{height} pixels), top to bottom, each after its box position: x and y of its top-left "
            "corner and its height h, in pixels. Lines with about the same y are on one row (a value column, a "
            "second column of text); larger h marks titles and headings. OCR may misread a character. Use only "
            "what these lines say and null for anything they do not give; never guess a value.\n\n"
            f"OCR lines:\n{lines}")


def food_instruction(requester_prompt: str | None, max_chars: int) -> str:
    """FOOD_INSTRUCTION, with the requester's own question (cut to `max_chars`) when there is one."""
    if requester_prompt and requester_prompt.strip():
        return FOOD_INSTRUCTION + "\n\nThe requester asks: " + requester_prompt.strip()[:max_chars]
    return FOOD_INSTRUCTION


def schema_of(result_model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema object sent as Ollama's `format` and repeated in the prompt."""
    return result_model.model_json_schema()


def structured_prompt(instruction: str, result_model: type[BaseModel], *, context: str | None = None) -> str:
    """Instruction, optional OCR context, then the schema and the request for JSON only."""
    schema = json.dumps(schema_of(result_model), separators=(",", ":"), sort_keys=True)
    parts = [with_ocr_context(instruction.strip(), context or "")]
    parts.append("Answer with only a JSON object that matches this JSON Schema. Use null for values that "
                 "are not visible. JSON Schema:\n" + schema)
    return "\n\n".join(parts)


def feedback_prompt(errors: str) -> str:
    """The follow-up turn after an answer failed parsing or validation."""
    return (f"Your previous answer failed validation: {errors}. "
            "Answer again with only JSON that matches the JSON Schema, nothing else.")


def repeat_feedback_prompt() -> str:
    """The follow-up turn after the server's repeat guard cut an answer off (one token over and over)."""
    return ("Your previous answer repeated the same text over and over and was cut off. Answer again with "
            "only JSON that matches the JSON Schema, with no repeated or padding characters.")


def text_prompt(prompt: str) -> tuple[str, str]:
    """(system, prompt) for text generation: the request's prompt as is, with the system line."""
    return TEXT_SYSTEM, prompt


def text_retry_prompt(prompt: str, cut_answer: str) -> str:
    """The prompt asked again after an answer fell into a repeat, so the identical call is not repeated."""
    start = cut_answer.strip()[:300]
    seen = f' An earlier answer began "{start}" and then repeated itself.' if start else ""
    return f"{prompt}\n\n(Answer in plain sentences without repeating any word, digit or symbol.{seen})"
