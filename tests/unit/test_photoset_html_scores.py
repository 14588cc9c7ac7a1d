"""OCR + parsing scored on the held-out set (testkit/photoset_html): labels in the regulatory layouts and
recipe pages drawn as HTML/CSS by Debian's Chromium, from word lists apart from testkit/photoset's, clean and
with damage that set does not draw (a curved bottle, bag creases, glare, uneven light, a hand-held photo with
clutter, low resolution).

OCR comes from the committed cache (tests/fixtures/photoset_html_ocr), keyed by each page's source, so this
test renders nothing and runs no OCR. Seed 2027 was scored before the parsers were changed for it (the
held-out figures in docs/parsing.md) and then used to fix them; seed 31 was generated and scored only after.
The thresholds sit a few points below the scores measured after the changes, so a parser change that loses
ground in general fails here.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models_processor.ocr.base import OcrResult
from testkit.photoset.degrade import HELD_OUT_DEGRADATIONS, cylinder, glare, low_res
from testkit.photoset.ocr_cache import from_json
from testkit.photoset.run import score_one
from testkit.photoset.score import Scores
from testkit.photoset_html.build import build_set
from testkit.photoset_html.cache import read_entry
from testkit.photoset_html.label_pages import LABEL_LAYOUTS
from testkit.photoset_html.recipe_pages import RECIPE_LAYOUTS

pytestmark = pytest.mark.slow

THRESHOLDS = {  # metric -> lowest ratio that passes (measured after: docs/parsing.md, "The held-out set")
    "kinds": 0.95, "nutrition_exact": 0.97, "titles": 0.85, "ingredient_lines": 0.9, "ingredient_precision": 0.95,
    "ingredient_fields": 0.88, "instruction_words": 0.87, "instruction_precision": 0.95, "instruction_steps": 0.85,
    "servings": 0.88, "times": 0.88,
}
MAX_OCR_WRONG = 0.02  # fields tagged `ocr` whose value is wrong


def _cached_ocr(sample) -> OcrResult:
    entry = read_entry(sample)
    assert entry is not None, f"{sample.name} is not in tests/fixtures/photoset_html_ocr: refill it (docs/parsing.md)"
    return from_json(entry)


SEEDS = (2027, 31)  # 2027: the set the parsers were fixed on; 31: generated and scored only after the fixes


@pytest.mark.parametrize("seed", SEEDS)
def test_the_set_covers_every_layout_and_damage_and_is_cached(seed):
    samples = build_set(seed)
    assert {s.doc.family for s in samples} == set(LABEL_LAYOUTS) | set(RECIPE_LAYOUTS)
    assert {s.degradation for s in samples} == set(HELD_OUT_DEGRADATIONS)
    assert len({s.key() for s in samples}) == len(samples)
    assert [s.key() for s in build_set(seed)] == [s.key() for s in samples]  # the same sources from the same seed
    for sample in samples:
        _cached_ocr(sample)


@pytest.mark.parametrize("seed", SEEDS)
def test_held_out_scores(seed):
    scores = Scores()
    for sample in build_set(seed):
        doc = sample.doc
        score_one(scores, [doc.family, sample.degradation, doc.kind], sample.name, doc.kind, _cached_ocr(sample),
                  doc.nutrition, doc.recipe)
    low = {m: str(scores.totals[m]) for m, floor in THRESHOLDS.items()
           if scores.totals[m].ratio is not None and scores.totals[m].ratio < floor}
    assert not low, f"below threshold: {low}\n" + "\n".join(scores.notes)
    wrong = scores.totals["ocr_wrong"]
    assert wrong.of > 300 and wrong.ratio is not None and wrong.ratio <= MAX_OCR_WRONG, (
        str(wrong) + "\n" + "\n".join(n for n in scores.notes if "WRONG-OCR" in n))


def _stripes(width: int = 600, height: int = 200, period: int = 20) -> Image.Image:
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for x in range(0, width, period):
        draw.rectangle((x, 0, x + 3, height), fill=(0, 0, 0))
    return img


def _dark_columns(img: Image.Image) -> list[int]:
    row = np.asarray(img.convert("L"))[img.height // 2]
    dark = row < 100
    return [i for i in range(1, len(dark)) if dark[i] and not dark[i - 1]]


def test_cylinder_squeezes_the_print_toward_the_edges():
    out = cylinder(_stripes(), random.Random(1))
    starts = _dark_columns(out)
    gaps = np.diff(starts)
    middle, edge = gaps[len(gaps) // 2], min(gaps[0], gaps[-1])
    assert len(starts) >= 25 and edge < 0.8 * middle, (gaps.tolist(), middle, edge)
    assert out.width < _stripes().width * 1.2  # narrower than the flat label plus its margin


def test_glare_washes_out_part_of_the_print_and_low_res_shrinks():
    img = Image.new("RGB", (400, 300), (20, 20, 20))
    washed = np.asarray(glare(img, random.Random(3)).convert("L"))
    assert washed.max() > 200 and np.median(washed) < 100  # a bright blob, not a uniformly lighter page
    small = low_res(_stripes(), random.Random(4))
    assert small.width <= 0.55 * 600 + 1 and small.height <= 0.55 * 200 + 1
