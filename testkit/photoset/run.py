"""Scoring runs: every rendered sample (OCR from the cache) and the real samples (recorded OCR) through the
classifier and the parsers. Imports the parsers by their public names only, so bench/parse_accuracy.py can run
this against an older checkout of models_processor as a baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.classify import classify
from models_processor.parsing.nutrition import parse_nutrition_label
from models_processor.parsing.recipe import parse_recipe
from testkit.photoset.build import build_set
from testkit.photoset.ocr_cache import OcrCache
from testkit.photoset.score import Scores, score_nutrition, score_recipe
from testkit.photoset.truth import IngredientTruth, RecipeTruth

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples"
FIXTURES = ROOT / "tests" / "fixtures" / "ocr"


def score_one(scores: Scores, groups: list[str], name: str, kind: str, ocr: OcrResult, nutrition: dict[str, Any],
              recipe: Any) -> None:
    got_kind = classify(ocr).kind.value
    scores.add(groups, "kinds", got_kind == kind)
    if got_kind != kind:
        scores.notes.append(f"{name}: classified {got_kind}")
    if kind == "nutrition_label":
        parsed = parse_nutrition_label(ocr)
        score_nutrition(scores, groups, nutrition, parsed.result.model_dump(), set(parsed.found), name)
    elif kind == "recipe" and recipe is not None:
        parsed_r = parse_recipe(ocr)
        score_recipe(scores, groups, recipe, parsed_r.result.model_dump(), set(parsed_r.found), name)


def rendered_scores(seed: int) -> Scores:
    scores = Scores()
    cache = OcrCache()
    for sample in build_set(seed):
        doc = sample.doc
        score_one(scores, [doc.family, sample.degradation, doc.kind], sample.name, doc.kind, cache.get(sample),
                  doc.nutrition, doc.recipe)
    return scores


def _fixture(name: str) -> OcrResult:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    lines = [OcrLine(ln["text"], float(ln["score"]), tuple(tuple(p) for p in ln["box"])) for ln in doc["lines"]]
    return OcrResult(lines=lines, width=doc["width"], height=doc["height"])


def real_scores() -> Scores:
    scores = Scores()
    truth = json.loads((SAMPLES / "ground_truth.json").read_text())
    for name, entry in sorted(truth.items()):
        if name.startswith("_") or not (FIXTURES / f"{name}.json").is_file():
            continue
        expected = entry.get("expected", {})
        recipe = None
        if entry["kind"] == "recipe" and "title" in expected:
            times = {k: expected.get("times", {}).get(k) for k in ("prep_min", "cook_min", "total_min")}
            recipe = RecipeTruth(title=expected["title"], servings=expected.get("servings"), times=times,
                                 ingredients=tuple(IngredientTruth(t, None, None, "") for t in
                                                   expected.get("ingredients", [])),
                                 instructions=tuple(expected.get("instructions", [])))
        score_one(scores, [entry["kind"]], name, entry["kind"], _fixture(name), expected, recipe)
    return scores
