"""A fraction glyph OCR could not read again (its line's score capped, ocr/fraction_pass.py) makes the
ingredient list partial, so the model is asked for it instead of a possibly wrong amount tagged `ocr`."""

from __future__ import annotations

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.ocr.fraction_pass import DOUBTFUL_LINE_SCORE
from models_processor.parsing.recipe import parse_recipe


def line(text: str, y: float, score: float = 0.97, h: float = 30) -> OcrLine:
    w = 11.0 * len(text)
    return OcrLine(text, score, ((90, y), (90 + w, y), (90 + w, y + h), (90, y + h)))


def card(milk: OcrLine) -> OcrResult:
    return OcrResult([line("Oatmeal Raisin Cookies", 60, h=60), line("Ingredients", 150),
                      line("2 cups rolled oats", 200), milk, line("1 egg", 280), line("Method", 340),
                      line("Mix the oats, the milk and the egg in a large bowl.", 390)], 1200, 900)


def test_a_doubtful_fraction_makes_the_ingredient_list_partial():
    got = parse_recipe(card(line("½ cup whole milk", 240, score=DOUBTFUL_LINE_SCORE)))
    assert [i.quantity for i in got.result.ingredients] == [2, 0.5, 1]  # kept as the partial list's answer
    assert "ingredients" not in got.found and "ingredients" in got.partial


def test_a_fraction_read_surely_and_a_weak_line_without_one_stay_read():
    assert "ingredients" in parse_recipe(card(line("⅔ cup whole milk", 240))).found
    got = parse_recipe(card(line("3 tbsp whole milk", 240, score=DOUBTFUL_LINE_SCORE)))
    assert "ingredients" in got.found and "ingredients" not in got.partial
