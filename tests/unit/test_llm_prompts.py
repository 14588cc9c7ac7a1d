"""Prompt builders."""

import json

from pydantic import ValidationError

from models_processor.llm import prompts
from models_processor.schemas import FoodResult, RecipeResult


def test_structured_prompt_repeats_the_schema():
    text = prompts.structured_prompt("Read this recipe.", RecipeResult, context="2 eggs")
    assert text.startswith("Read this recipe.")
    assert "2 eggs" in text
    schema_text = text.rsplit("JSON Schema:\n", 1)[1]
    assert json.loads(schema_text) == RecipeResult.model_json_schema()
    assert "only a JSON object" in text


def test_feedback_prompt_carries_the_errors():
    try:
        FoodResult.model_validate({"estimated_avg_calories": -1})
    except ValidationError as exc:
        errors = prompts.describe_validation_error(exc)
    assert "dish_name" in errors and "estimated_avg_calories" in errors
    feedback = prompts.feedback_prompt(errors)
    assert "failed validation" in feedback and errors in feedback and "only JSON" in feedback


def test_food_instruction_names_the_earlier_fields():
    for key in ("dish_name", "estimated_avg_calories", "ingredients", "total_avg_weight", "protein", "carbs", "fat"):
        assert key in prompts.FOOD_INSTRUCTION


def test_text_prompt_passes_the_prompt_unchanged():
    system, prompt = prompts.text_prompt("Suggest a dinner with lentils")
    assert prompt == "Suggest a dinner with lentils" and system
