"""One test per failure type of issue 12 (photos as people take them), on OCR-like lines: each failed on the
parsers before the rewrite and passes after it. Rules are general; the texts are typical, not special cases."""

from __future__ import annotations

import math

import pytest

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.checks import check_recipe
from models_processor.parsing.classify import classify
from models_processor.parsing.nutrition import parse_nutrition_label
from models_processor.parsing.quantities import parse_ingredient
from models_processor.parsing.recipe import parse_recipe
from models_processor.schemas import RecipeResult, RecipeTimes, ResultKind


def line(text: str, x: float, y: float, h: float = 20, cw: float = 9.0, angle_deg: float = 0.0,
         score: float = 0.99) -> OcrLine:
    """A text box at (x, y), rotated by angle_deg about the origin (a tilted photo of the whole page)."""
    w = cw * len(text)
    a = math.radians(angle_deg)

    def turn(px: float, py: float) -> tuple[float, float]:
        return (px * math.cos(a) - py * math.sin(a), px * math.sin(a) + py * math.cos(a))

    return OcrLine(text, score, (turn(x, y), turn(x + w, y), turn(x + w, y + h), turn(x, y + h)))


def page(*lines: OcrLine) -> OcrResult:
    return OcrResult(lines=list(lines), width=1400, height=1800)


def rows(*cells_by_row: list[tuple[str, float]], angle: float = 0.0, pitch: float = 34) -> OcrResult:
    return page(*[line(t, 100 + x, 100 + pitch * r, angle_deg=angle)
                  for r, cells in enumerate(cells_by_row) for t, x in cells])


# ------------------------------------------------------------------------------------------- recipes

def test_two_line_title_whose_lines_differ_in_box_height():
    r = parse_recipe(page(
        line("Slow-Roasted Lamb Shoulder with Garlic", 70, 63, h=34, cw=22.8),
        line("and Rosemary Potatoes", 67, 110, h=46, cw=24.4),
        line("Ingredients", 68, 240, h=31, cw=13), line("1.5 kg lamb shoulder", 68, 276),
        line("Method", 68, 340, h=31, cw=13), line("Roast the lamb for 4 hours until tender.", 68, 376))).result
    assert r.title == "Slow-Roasted Lamb Shoulder with Garlic and Rosemary Potatoes"


def test_method_paragraphs_without_a_header_after_an_ingredient_list_are_steps():
    r = parse_recipe(page(
        line("Lemon Drizzle Cake", 60, 40, h=44, cw=24),
        line("Ingredients", 60, 120),
        line("200g butter", 60, 150), line("3 eggs", 60, 175),
        line("Beat the butter and sugar together until pale and fluffy, then add", 60, 220),
        line("the eggs one at a time.", 60, 245),
        line("Bake for 35 minutes until risen and golden.", 60, 290))).result
    assert [i.original_text for i in r.ingredients] == ["200g butter", "3 eggs"]
    assert r.instructions == ["Beat the butter and sugar together until pale and fluffy, then add the eggs one at a time.",
                              "Bake for 35 minutes until risen and golden."]


def test_a_short_ingredient_line_ending_in_a_full_stop_stays_an_ingredient():
    r = parse_recipe(page(
        line("Pea Soup", 60, 40, h=44, cw=24), line("Ingredients", 60, 110), line("500g frozen peas", 60, 140),
        line("Salt and freshly ground pepper.", 60, 165),
        line("Simmer the peas in the stock for five minutes, then blend until smooth.", 60, 210))).result
    assert [i.original_text for i in r.ingredients] == ["500g frozen peas", "Salt and freshly ground pepper."]
    assert r.instructions == ["Simmer the peas in the stock for five minutes, then blend until smooth."]


def test_running_header_card_rows_and_nutrition_line_are_not_ingredients_or_steps():
    r = parse_recipe(page(
        line("130 Traybakes", 60, 10, h=14, cw=6),
        line("Flapjacks", 60, 50, h=44, cw=24),
        line("Serves 18 / Prep 5 minutes / Cook 30 minutes", 60, 110),
        line("250g oats", 60, 150), line("125g butter", 60, 175), line("4 tbsp golden syrup", 60, 200),
        line("1. Melt the butter and syrup in a pan over a low heat.", 60, 250),
        line("2. Stir in the oats, press into a tin and bake until golden.", 60, 275),
        line("Per serving: 180 kcal, 9g fat, 24g carbs", 60, 320, h=16, cw=7))).result
    assert r.servings == 18 and (r.times.prep_min, r.times.cook_min) == (5, 30)
    assert [i.original_text for i in r.ingredients] == ["250g oats", "125g butter", "4 tbsp golden syrup"]
    assert r.instructions == ["Melt the butter and syrup in a pan over a low heat.",
                              "Stir in the oats, press into a tin and bake until golden."]


def test_times_in_step_sentences_are_not_recipe_times_and_stay_in_the_step():
    r = parse_recipe(page(
        line("Onion Soup", 60, 40, h=44, cw=24),
        line("Ingredients", 60, 110), line("4 onions, sliced", 60, 140),
        line("Method", 60, 190),
        line("1. Cook 10 minutes, stirring often.", 60, 220),
        line("2. Bake 20 minutes until golden.", 60, 245))).result
    assert r.times.cook_min is None
    assert r.instructions == ["Cook 10 minutes, stirring often.", "Bake 20 minutes until golden."]


def test_group_headers_in_any_case_are_not_ingredients():
    r = parse_recipe(page(
        line("Fish Pie", 60, 40, h=44, cw=24),
        line("Ingredients", 60, 110), line("500g white fish", 60, 140),
        line("For the sauce:", 60, 170), line("50g butter", 60, 195), line("500ml milk", 60, 220),
        line("Method", 60, 270), line("Poach the fish in the milk for 8 minutes.", 60, 300))).result
    assert [i.original_text for i in r.ingredients] == ["500g white fish", "50g butter", "500ml milk"]


@pytest.mark.parametrize("text,quantity,unit,name", [
    ("3 12 cups chicken stock", 3.5, "cup", "chicken stock"),   # OCR of "3 ½ cups"
    ("12 cup sugar", 0.5, "cup", "sugar"),                      # "½ cup": twelve would be "cups"
    ("1% cups milk", 1.5, "cup", "milk"),                       # "1½ cups"
    ("11/2 tsp baking powder", 1.5, "tsp", "baking powder"),    # "1 1/2" with the space lost
    ("3 1½ cups chicken stock", 3.5, "cup", "chicken stock"),    # "3 ½" with the glyph's numerator read twice
    ("½4 tsp ground cinnamon", 0.25, "tsp", "ground cinnamon"),  # "¼" read as "½" plus its denominator
    ("200g/7oz plain flour", 200, "g", "plain flour"),
    ("250ml/9fl oz double cream", 250, "ml", "double cream"),
    ("1-1/2 cups milk", 1.5, "cup", "milk"),
    ("2 x 400g cans chopped tomatoes", 2, "can", "chopped tomatoes"),
    ("1,000 g potatoes", 1000, "g", "potatoes"),
    ("2 tbsp + 1 tsp olive oil", 2, "tbsp", "olive oil"),
    ("4 eggs, beaten", 4, None, "eggs"),
])
def test_ingredient_line_forms(text, quantity, unit, name):
    ing = parse_ingredient(text)
    assert (ing.quantity, ing.unit, ing.name) == (quantity, unit, name)
    assert ing.original_text == text


def test_a_decimal_quantity_is_not_a_step_number():
    r = parse_recipe(page(
        line("Roast Lamb", 60, 40, h=44, cw=24),
        line("1.5 kg lamb shoulder", 60, 140), line("2 garlic bulbs", 60, 165),
        line("Method", 60, 210), line("Roast the lamb for 4 hours.", 60, 240))).result
    assert [i.original_text for i in r.ingredients] == ["1.5 kg lamb shoulder", "2 garlic bulbs"]
    assert r.instructions == ["Roast the lamb for 4 hours."]


def test_a_quantity_column_beside_a_name_column_is_read_row_by_row():
    r = parse_recipe(page(
        line("Scones", 60, 40, h=44, cw=24), line("Ingredients", 60, 110),
        line("225 g", 60, 140), line("self-raising flour", 200, 140),
        line("55 g", 60, 165), line("butter", 200, 165),
        line("150 ml", 60, 190), line("milk", 200, 190),
        line("2", 60, 215), line("eggs", 200, 215),
        line("Method", 60, 260), line("Rub the butter into the flour, then stir in the milk.", 60, 290))).result
    assert [i.original_text for i in r.ingredients] == ["225 g self-raising flour", "55 g butter", "150 ml milk",
                                                        "2 eggs"]
    first = r.ingredients[0]
    assert (first.quantity, first.unit, first.name) == (225, "g", "self-raising flour")


# -------------------------------------------------------------------------------------------- labels

US_LABEL = ([("Nutrition Facts", 0)], [("Serving size", 0), ("1 cup (228g)", 400)], [("Calories", 0), ("250", 480)],
            [("Total Fat 12g", 0), ("18%", 500)], [("Saturated Fat 3g", 20), ("15%", 500)],
            [("Cholesterol 30mg", 0), ("10%", 500)], [("Sodium 470mg", 0), ("20%", 500)],
            [("Total Carbohydrate 31g", 0), ("10%", 500)], [("Dietary Fiber 0g", 20), ("0%", 500)],
            [("Total Sugars 5g", 20)], [("Protein 5g", 0)])


def test_label_photographed_at_12_degrees_keeps_rows_apart():
    r = parse_nutrition_label(rows(*US_LABEL, angle=12)).result
    assert (r.calories, r.total_fat_g, r.saturated_fat_g, r.cholesterol_mg, r.sodium_mg) == (250, 12, 3, 30, 470)
    assert (r.total_carbohydrate_g, r.dietary_fiber_g, r.total_sugars_g, r.protein_g) == (31, 0, 5, 5)


def test_a_unit_that_does_not_fit_the_field_is_missing_not_converted():
    parsed = parse_nutrition_label(rows([("Total Carbohydrate 30mg", 0)], [("Protein 3g", 0)]))
    assert parsed.result.total_carbohydrate_g is None and "total_carbohydrate_g" not in parsed.found
    assert parsed.result.protein_g == 3


def test_canadian_bilingual_saturated_and_trans():
    r = parse_nutrition_label(rows([("Calories 110", 0)], [("Fat / Lipides 2 g", 0), ("3 %", 500)],
                                   [("Saturated / saturés 1 g", 20), ("5 %", 500)],
                                   [("+ Trans / trans 0 g", 20)], [("Carbohydrate / Glucides 20 g", 0)],
                                   [("Protein / Protéines 3 g", 0)])).result
    assert (r.total_fat_g, r.saturated_fat_g, r.trans_fat_g) == (2, 1, 0)


def test_energy_in_kj_is_converted_not_taken_as_calories():
    r = parse_nutrition_label(rows([("Energy", 0), ("485kJ", 300)], [("Protein", 0), ("2.6g", 300)])).result
    assert r.calories == 116  # 485 kJ / 4.184


def test_eu_table_takes_the_per_serving_column_and_kcal_row():
    r = parse_nutrition_label(rows(
        [("Typical values", 0), ("Per 100g", 300), ("Per 30g serving", 520)],
        [("Energy", 0), ("1642kJ", 300), ("493kJ", 520)], [("392kcal", 300), ("118kcal", 520)],
        [("Fat", 0), ("12.5g", 300), ("3.8g", 520)], [("of which saturates", 0), ("2.1g", 300), ("0.6g", 520)],
        [("Carbohydrate", 0), ("60.2g", 300), ("18.1g", 520)], [("of which sugars", 0), ("20g", 300), ("6g", 520)],
        [("Protein", 0), ("8.5g", 300), ("2.6g", 520)], [("Salt", 0), ("0.45g", 300), ("0.14g", 520)])).result
    assert (r.calories, r.total_fat_g, r.saturated_fat_g, r.total_carbohydrate_g) == (118, 3.8, 0.6, 18.1)
    assert (r.total_sugars_g, r.protein_g) == (6, 2.6)


def test_au_table_per_serve_first_column():
    r = parse_nutrition_label(rows(
        [("NUTRITION INFORMATION", 0)], [("Servings per package: 8", 0)], [("Serving size: 30g", 0)],
        [("Avg Quantity", 300), ("Avg Quantity", 520)], [("per Serving", 300), ("per 100g", 520)],
        [("Energy", 0), ("485kJ", 300), ("1620kJ", 520)], [("Protein", 0), ("2.6g", 300), ("8.7g", 520)],
        [("Fat, total", 0), ("3.8g", 300), ("12.5g", 520)], [("- saturated", 0), ("0.6g", 300), ("2.1g", 520)],
        [("Carbohydrate", 0), ("18.1g", 300), ("60.2g", 520)], [("- sugars", 0), ("6.0g", 300), ("20.0g", 520)],
        [("Sodium", 0), ("45mg", 300), ("150mg", 520)]))
    r = parsed = r.result
    assert (parsed.calories, r.protein_g, r.total_fat_g, r.saturated_fat_g) == (116, 2.6, 3.8, 0.6)
    assert (r.total_carbohydrate_g, r.total_sugars_g, r.sodium_mg) == (18.1, 6.0, 45)
    assert r.serving_size == "30g" and r.servings_per_container == 8


@pytest.mark.parametrize("table", [
    [["Nutrition Information", "", ""], ["Typical values", "Per 100g", "Per 30g serving"],
     ["Energy", "1642kJ/392kcal", "493kJ/118kcal"], ["Fat", "12.5g", "3.8g"], ["of which saturates", "2.1g", "0.6g"],
     ["Carbohydrate", "60.2g", "18.1g"], ["of which sugars", "20g", "6g"], ["Protein", "8.5g", "2.6g"],
     ["Salt", "0.45g", "0.14g"]],
    [["NUTRITION INFORMATION", "", ""], ["Servings per package: 8", "", ""], ["", "Avg Quantity per Serving",
                                                                           "Avg Quantity per 100g"],
     ["Energy", "485kJ", "1620kJ"], ["Protein", "2.6g", "8.7g"], ["Fat, total", "3.8g", "12.5g"],
     ["- saturated", "0.6g", "2.1g"], ["Carbohydrate", "18.1g", "60.2g"], ["- sugars", "6.0g", "20.0g"],
     ["Sodium", "45mg", "150mg"]],
])
def test_eu_and_au_tables_are_classified_as_labels(table):
    ocr = rows(*[[(t, x) for t, x in zip(row, (0, 300, 560), strict=False) if t] for row in table])
    assert classify(ocr).kind is ResultKind.NUTRITION_LABEL


def test_sugar_alcohol_is_not_sugars_and_calories_from_fat_is_not_calories():
    r = parse_nutrition_label(rows([("Calories", 0), ("Calories from Fat 110", 300)], [("Total Fat 12g", 0)],
                                   [("Total Carbohydrate 20g", 0)], [("Sugar Alcohol 5g", 20)],
                                   [("Sugars 2g", 20)])).result
    assert r.calories is None
    assert r.total_sugars_g == 2


def test_nutrients_in_the_middle_of_a_row():
    r = parse_nutrition_label(rows([("Protein 3g", 0)], [("Iron 8mg 45% Potassium 235mg 6%", 0)],
                                   [("Calcium 20mg 2% • Sodium 140mg 6%", 0)])).result
    assert r.potassium_mg == 235 and r.sodium_mg == 140


def test_linear_label_with_every_nutrient_in_running_text():
    r = parse_nutrition_label(rows(
        [("Nutrition Facts Servings: 8, Serv. size: 2/3 cup (55g), Amount per serving: Calories 230, Total Fat 8g "
          "(10% DV),", 0)],
        [("Sat. Fat 1g (5% DV), Trans Fat 0g, Cholest. 0mg (0% DV), Sodium 160mg (7% DV), Total Carb. 37g (13% DV),",
          0)],
        [("Fiber 4g (14% DV), Total Sugars 12g (Incl. 10g Added Sugars, 20% DV), Protein 3g.", 0)])).result
    assert (r.calories, r.total_fat_g, r.saturated_fat_g, r.trans_fat_g, r.cholesterol_mg) == (230, 8, 1, 0, 0)
    assert (r.sodium_mg, r.total_carbohydrate_g, r.dietary_fiber_g, r.total_sugars_g, r.protein_g) == (160, 37, 4, 12, 3)
    assert r.serving_size == "2/3 cup (55g)"


# ------------------------------------------------------------------------------------ self-checks

def test_a_part_larger_than_its_whole_sends_both_to_the_fallback():
    parsed = parse_nutrition_label(rows([("Total Fat 2g", 0)], [("Saturated Fat 5g", 20)], [("Protein 3g", 0)]))
    assert parsed.result.total_fat_g is None and parsed.result.saturated_fat_g is None
    assert {"total_fat_g", "saturated_fat_g"}.isdisjoint(parsed.found) and "protein_g" in parsed.found


def test_calories_far_from_the_macros_send_energy_and_macros_to_the_fallback():
    parsed = parse_nutrition_label(rows([("Calories 1", 0)], [("Total Fat 10g", 0)],
                                        [("Total Carbohydrate 30g", 0)], [("Protein 5g", 0)]))
    assert "calories" not in parsed.found and parsed.result.calories is None
    assert parsed.checked is not None and "calories" in parsed.checked.failed


def test_servings_out_of_range_are_missing_and_a_nutrition_line_is_no_ingredient():
    parsed = parse_recipe(page(
        line("Pancakes", 60, 40, h=44, cw=24), line("Serves 400", 60, 100),
        line("Ingredients", 60, 140), line("200g flour", 60, 170), line("2 eggs", 60, 195),
        line("Per serving: 320 kcal, 12g fat, 40g carbs", 60, 220),
        line("Method", 60, 270), line("Whisk everything together and fry in a hot pan.", 60, 300)))
    assert parsed.result.servings is None and "servings" not in parsed.found
    assert [i.original_text for i in parsed.result.ingredients] == ["200g flour", "2 eggs"]


def test_a_list_with_lines_that_fail_the_checks_is_partial_and_keeps_the_good_lines():
    result = RecipeResult(title="Pancakes", ingredients=[
        parse_ingredient("200g flour"), parse_ingredient("2 eggs"),
        parse_ingredient("Whisk everything together and leave the batter to rest for an hour.")],
        instructions=["Fry in a hot pan.", "Per serving: 320 kcal, 12g fat"])
    checked_result, checked = check_recipe(result, {"title", "ingredients", "instructions"})
    assert [i.original_text for i in checked_result.ingredients] == ["200g flour", "2 eggs"]
    assert checked_result.instructions == ["Fry in a hot pan."]
    assert checked.partial == {"ingredients", "instructions"} and checked.found == {"title"}


def test_times_out_of_range_and_a_total_shorter_than_a_part_are_missing():
    result = RecipeResult(title="Stew", times=RecipeTimes(prep_min=20, cook_min=90, total_min=30))
    checked_result, checked = check_recipe(result, {"title", "times"})
    assert checked_result.times.total_min is None and checked_result.times.cook_min == 90
    assert "times.total_min" in checked.failed and "times" in checked.found
    checked_result, checked = check_recipe(RecipeResult(times=RecipeTimes(cook_min=5000)), {"times"})
    assert checked_result.times.cook_min is None and "times" not in checked.found
