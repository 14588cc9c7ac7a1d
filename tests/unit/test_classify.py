"""Photo kind from OCR: every sample classified as ground_truth.json says, from recorded OCR output
(fast) and from live OCR; text-free images are food."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.classify import classify
from models_processor.schemas import ResultKind
from tests.unit.ocr_fixtures import ground_truth, load_fixture, ocr_results, rapid_engine  # noqa: F401

GROUND_TRUTH = ground_truth()


@pytest.mark.parametrize("name", sorted(GROUND_TRUTH))
def test_recorded_ocr_classified_as_ground_truth(name):
    verdict = classify(load_fixture(name))
    assert verdict.kind.value == GROUND_TRUTH[name]["kind"], verdict
    assert 0.0 <= verdict.confidence <= 1.0


def test_live_ocr_classified_as_ground_truth(ocr_results):
    wrong = {n: classify(r).kind.value for n, r in ocr_results.items() if classify(r).kind.value != GROUND_TRUTH[n]["kind"]}
    assert not wrong


def test_synthetic_text_free_photo_is_food(rapid_engine):
    # A smooth "plate on a table": gradients and blobs, no glyphs.
    y, x = np.mgrid[0:720, 0:960]
    img = np.stack([(x / 4) % 256, (y / 3) % 256, ((x + y) / 8) % 256], axis=-1).astype(np.uint8)
    img[(x - 480) ** 2 + (y - 360) ** 2 < 250**2] = (235, 225, 200)
    verdict = classify(rapid_engine.recognize(Image.fromarray(img)))
    assert verdict.kind == ResultKind.FOOD


def _lines(*texts: str, score: float = 0.95) -> OcrResult:
    box = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    return OcrResult([OcrLine(t, score, box) for t in texts], 100, 100)


def test_empty_and_junk_are_food():
    assert classify(_lines()).kind == ResultKind.FOOD
    assert classify(_lines("10")).kind == ResultKind.FOOD
    # plenty of characters, but all low-confidence texture
    assert classify(_lines("Nutrition Facts Calories Total Fat Sodium Protein", score=0.3)).kind == ResultKind.FOOD


def test_nutrition_robust_to_lost_spaces_and_case():
    ocr = _lines("NUTRITIONFACTS", "servingsize1cup", "CALORIES 120", "TotalFat2g", "Sodium0mg",
                 "TotalCarbohydrate31g", "Protein Og")
    verdict = classify(ocr)
    assert verdict.kind == ResultKind.NUTRITION_LABEL
    assert "nutrition:total_fat" in verdict.signals


def test_label_with_ingredient_list_is_still_a_label():
    ocr = _lines("Nutrition Facts", "Calories 90", "Total Fat 1g", "Sodium 10mg", "Protein 3g",
                 "INGREDIENTS: water, sugar, 2 g salt, oats")
    assert classify(ocr).kind == ResultKind.NUTRITION_LABEL


def test_recipe_from_quantities_and_method():
    ocr = _lines("Lentil soup", "Serves 4", "200g red lentils", "1 onion, chopped", "2 tbsp olive oil",
                 "1/2 tsp cumin", "Method", "Heat the oil and fry the onion.", "Add the lentils and simmer 20 minutes.")
    verdict = classify(ocr)
    assert verdict.kind == ResultKind.RECIPE
    assert verdict.scores["quantity_lines"] >= 3


def test_recipe_mentioning_calories_stays_recipe():
    ocr = _lines("Ingredients", "3 eggs", "100 ml milk", "180 g flour", "Preheat the oven to 180C",
                 "Bake 45 minutes", "Calories per slice: 210")
    assert classify(ocr).kind == ResultKind.RECIPE


def test_unrelated_text_is_food():
    # A menu board / packet front: words, but neither kind's signals.
    ocr = _lines("Welcome to Luigi's", "Open daily from noon", "Best pizza in town since 1982")
    assert classify(ocr).kind == ResultKind.FOOD
