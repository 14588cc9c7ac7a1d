"""merge(): OCR wins where it read a value, the model fills gaps, contradicted model values are dropped."""

from __future__ import annotations

import pytest

from models_processor.pipeline.merge import merge
from models_processor.schemas import Ingredient, NutritionLabelResult, RecipeResult, RecipeTimes, Source

OCR, LLM, MISSING = Source.OCR, Source.LLM_VISION, Source.MISSING


def label(**values) -> NutritionLabelResult:
    return NutritionLabelResult(**values)


def found_of(result, *extra: str) -> set[str]:
    """The fields a parser would report as read: the non-empty ones."""
    data = result.model_dump()
    return {k for k, v in data.items() if v not in (None, [], "")} | set(extra)


SNACK = dict(serving_size="1 ounce", servings_per_container=4, calories=155, total_fat_g=11, saturated_fat_g=3,
             cholesterol_mg=0, sodium_mg=148, total_carbohydrate_g=14, dietary_fiber_g=1, total_sugars_g=1,
             protein_g=2)


# ----------------------------------------------------------------------------- the basic rules

def test_without_model_found_is_ocr_and_the_rest_missing():
    ocr = label(**SNACK)
    merged = merge(ocr, found_of(ocr), None)
    assert merged.result == ocr.model_dump()
    assert set(merged.sources) == set(NutritionLabelResult.model_fields)
    assert merged.sources["calories"] is OCR and merged.sources["potassium_mg"] is MISSING
    assert merged.rejected == ()


def test_ocr_wins_where_found_and_model_fills_gaps():
    ocr = label(**{k: v for k, v in SNACK.items() if k != "calories"})
    model = label(calories=150, total_fat_g=99, sodium_mg=1, potassium_mg=210, trans_fat_g=0)
    merged = merge(ocr, found_of(ocr), model)
    r, s = merged.result, merged.sources
    # OCR values stand, whatever the model said about them.
    assert (r["total_fat_g"], s["total_fat_g"]) == (11, OCR)
    assert (r["sodium_mg"], s["sodium_mg"]) == (148, OCR)
    # Gaps are filled from the model, marked llm-vision (a 0 is a value, not a gap).
    assert (r["calories"], s["calories"]) == (150, LLM)
    assert (r["potassium_mg"], s["potassium_mg"]) == (210, LLM)
    assert (r["trans_fat_g"], s["trans_fat_g"]) == (0, LLM)
    # Nobody read it: missing.
    assert (r["added_sugars_g"], s["added_sugars_g"]) == (None, MISSING)
    assert merged.rejected == ()
    assert set(s) == set(NutritionLabelResult.model_fields)


def test_ocr_zero_is_a_value_and_wins():
    ocr = label(calories=110, total_fat_g=0, total_carbohydrate_g=28, protein_g=0)
    model = label(total_fat_g=3, protein_g=1, sodium_mg=15)
    merged = merge(ocr, found_of(ocr, "total_fat_g", "protein_g"), model)
    assert merged.result["total_fat_g"] == 0 and merged.sources["total_fat_g"] is OCR
    assert merged.result["protein_g"] == 0 and merged.sources["protein_g"] is OCR
    assert merged.result["sodium_mg"] == 15 and merged.sources["sodium_mg"] is LLM


def test_missing_stays_missing_when_the_model_has_nothing_either():
    ocr = label(calories=100)
    merged = merge(ocr, {"calories"}, label())
    assert merged.sources["calories"] is OCR
    assert all(merged.sources[f] is MISSING for f in NutritionLabelResult.model_fields if f != "calories")
    assert all(merged.result[f] is None for f in NutritionLabelResult.model_fields if f != "calories")


# ----------------------------------------------------------------------------- nutrition contradictions

@pytest.mark.parametrize("part,whole", [
    ("saturated_fat_g", "total_fat_g"), ("trans_fat_g", "total_fat_g"),
    ("dietary_fiber_g", "total_carbohydrate_g"), ("total_sugars_g", "total_carbohydrate_g"),
    ("added_sugars_g", "total_sugars_g"),
])
def test_model_part_larger_than_ocr_whole_is_dropped(part, whole):
    ocr = label(calories=200, **{whole: 5})
    model = label(**{part: 8})
    merged = merge(ocr, {"calories", whole}, model)
    assert merged.sources[part] is MISSING and merged.result[part] is None
    assert merged.result[whole] == 5 and merged.sources[whole] is OCR  # OCR's value kept
    assert part in merged.rejected


def test_model_whole_smaller_than_ocr_part_is_dropped():
    ocr = label(calories=200, total_sugars_g=20, protein_g=1, total_fat_g=0)
    model = label(total_carbohydrate_g=12)  # fewer carbohydrates than sugars: impossible
    merged = merge(ocr, found_of(ocr, "total_fat_g"), model)
    assert merged.sources["total_carbohydrate_g"] is MISSING and merged.result["total_carbohydrate_g"] is None
    assert merged.result["total_sugars_g"] == 20 and merged.sources["total_sugars_g"] is OCR
    assert merged.rejected == ("total_carbohydrate_g",)


def test_consistent_parts_are_kept():
    ocr = label(calories=200, total_fat_g=10, total_carbohydrate_g=20, protein_g=4)
    model = label(saturated_fat_g=10, dietary_fiber_g=2, total_sugars_g=5)  # equal to the whole is fine
    merged = merge(ocr, found_of(ocr), model)
    assert merged.rejected == ()
    assert merged.sources["saturated_fat_g"] is LLM and merged.result["saturated_fat_g"] == 10


def test_two_model_values_are_not_judged_against_each_other():
    ocr = label(calories=200)
    model = label(saturated_fat_g=9, total_fat_g=3)
    merged = merge(ocr, {"calories"}, model)
    assert merged.sources["saturated_fat_g"] is LLM and merged.sources["total_fat_g"] is LLM


def test_model_calories_far_from_atwater_estimate_of_ocr_macros_are_dropped():
    ocr = label(**{k: v for k, v in SNACK.items() if k != "calories"})  # 9*11 + 4*14 + 4*2 = 163 kcal
    merged = merge(ocr, found_of(ocr), label(calories=450))
    assert merged.sources["calories"] is MISSING and merged.result["calories"] is None
    assert merged.rejected == ("calories",)
    assert merged.result["total_fat_g"] == 11 and merged.sources["total_fat_g"] is OCR


@pytest.mark.parametrize("calories", [155, 140, 190, 125])
def test_model_calories_near_the_estimate_are_kept(calories):
    ocr = label(**{k: v for k, v in SNACK.items() if k != "calories"})
    merged = merge(ocr, found_of(ocr), label(calories=calories))
    assert merged.sources["calories"] is LLM and merged.result["calories"] == calories


def test_atwater_uses_model_macros_to_complete_the_estimate_but_needs_an_ocr_macro():
    # OCR read fat only; the model supplies the rest and calories that disagree with its own macros
    # plus OCR's fat: dropped.
    ocr = label(total_fat_g=10)
    merged = merge(ocr, {"total_fat_g"}, label(calories=900, total_carbohydrate_g=10, protein_g=5))
    assert merged.sources["calories"] is MISSING
    assert merged.sources["total_carbohydrate_g"] is LLM and merged.sources["protein_g"] is LLM
    # No OCR macro at all: the model's figures are not judged against each other.
    merged = merge(label(sodium_mg=5), {"sodium_mg"},
                   label(calories=900, total_fat_g=10, total_carbohydrate_g=10, protein_g=5))
    assert merged.sources["calories"] is LLM


def test_atwater_ignores_a_model_macro_that_was_itself_dropped():
    # The model's carbohydrate (3 g) is below OCR's sugars (20 g): dropped. Its calories (190) agree with
    # OCR fat + protein + OCR-consistent carbohydrates, so the estimate must not use the dropped 3 g...
    ocr = label(total_fat_g=10, protein_g=2, total_sugars_g=20)
    model = label(calories=190, total_carbohydrate_g=3)
    merged = merge(ocr, found_of(ocr), model)
    assert "total_carbohydrate_g" in merged.rejected
    # ...and without a carbohydrate figure there is no estimate: the calories are not judged.
    assert merged.sources["calories"] is LLM and merged.result["calories"] == 190


def test_model_macros_that_contradict_ocr_calories_are_dropped():
    # OCR: 155 kcal, 11 g fat, 14 g carbohydrate; the model's 60 g protein would make it ~403 kcal.
    ocr = label(calories=155, total_fat_g=11, total_carbohydrate_g=14)
    merged = merge(ocr, found_of(ocr), label(protein_g=60, sodium_mg=148))
    assert merged.sources["protein_g"] is MISSING and merged.result["protein_g"] is None
    assert merged.sources["sodium_mg"] is LLM
    assert merged.rejected == ("protein_g",)
    # A plausible protein figure is kept.
    merged = merge(ocr, found_of(ocr), label(protein_g=2))
    assert merged.sources["protein_g"] is LLM and merged.result["protein_g"] == 2


# ----------------------------------------------------------------------------- recipes

def recipe(**values) -> RecipeResult:
    return RecipeResult(**values)


ING = [Ingredient(original_text="180 g flour", name="flour", quantity=180, unit="g")]


def test_recipe_ocr_wins_and_model_fills_lists():
    ocr = recipe(title="Savoury Bread", ingredients=ING)
    model = recipe(title="Bread", ingredients=[Ingredient(original_text="2 eggs")], instructions=["Bake."],
                   servings=4)
    merged = merge(ocr, {"title", "ingredients"}, model)
    assert merged.result["title"] == "Savoury Bread" and merged.sources["title"] is OCR
    assert merged.result["ingredients"] == [i.model_dump() for i in ING] and merged.sources["ingredients"] is OCR
    assert merged.result["instructions"] == ["Bake."] and merged.sources["instructions"] is LLM
    assert merged.result["servings"] == 4 and merged.sources["servings"] is LLM
    assert merged.result["notes"] == [] and merged.sources["notes"] is MISSING
    assert set(merged.sources) == set(RecipeResult.model_fields)


def test_nested_times_are_filled_per_sub_field():
    ocr = recipe(title="T", times=RecipeTimes(prep_min=5, cook_min=45))
    model = recipe(times=RecipeTimes(prep_min=10, cook_min=30, total_min=50))
    merged = merge(ocr, {"title", "times"}, model)
    assert merged.result["times"] == {"prep_min": 5, "cook_min": 45, "total_min": 50}
    assert merged.sources["times"] is OCR
    assert merged.rejected == ()


def test_times_from_the_model_when_ocr_read_none():
    merged = merge(recipe(title="T"), {"title"}, recipe(times=RecipeTimes(prep_min=10, total_min=40)))
    assert merged.result["times"] == {"prep_min": 10, "cook_min": None, "total_min": 40}
    assert merged.sources["times"] is LLM


def test_no_times_anywhere_is_missing():
    merged = merge(recipe(title="T"), {"title"}, recipe(title="X"))
    assert merged.result["times"] == {"prep_min": None, "cook_min": None, "total_min": None}
    assert merged.sources["times"] is MISSING


@pytest.mark.parametrize("ocr_times", [dict(prep_min=5, cook_min=45), dict(cook_min=45), dict(prep_min=50)])
def test_model_total_shorter_than_an_ocr_part_is_dropped(ocr_times):
    ocr = recipe(title="T", times=RecipeTimes(**ocr_times))
    merged = merge(ocr, {"title", "times"}, recipe(times=RecipeTimes(total_min=30)))
    assert merged.result["times"]["total_min"] is None
    for k, v in ocr_times.items():  # what OCR read is kept
        assert merged.result["times"][k] == v
    assert merged.sources["times"] is OCR
    assert merged.rejected == ("times.total_min",)


def test_model_total_contradiction_keeps_other_model_sub_fields():
    ocr = recipe(title="T", times=RecipeTimes(cook_min=45))
    merged = merge(ocr, {"title", "times"}, recipe(times=RecipeTimes(prep_min=5, total_min=20)))
    assert merged.result["times"] == {"prep_min": 5, "cook_min": 45, "total_min": None}


def test_model_part_longer_than_ocr_total_is_dropped():
    ocr = recipe(title="T", times=RecipeTimes(total_min=30))
    merged = merge(ocr, {"title", "times"}, recipe(times=RecipeTimes(prep_min=10, cook_min=60)))
    assert merged.result["times"] == {"prep_min": 10, "cook_min": None, "total_min": 30}
    assert merged.rejected == ("times.cook_min",)


def test_recipe_total_only_from_the_model_is_missing_when_no_times_read():
    # Total shorter than the model's own parts: the model's business, not a contradiction with OCR.
    merged = merge(recipe(title="T"), {"title"}, recipe(times=RecipeTimes(prep_min=50, total_min=10)))
    assert merged.sources["times"] is LLM and merged.rejected == ()
