"""Scores of OCR + parsing on the Chromium-rendered set, with testkit/photoset's scorer and metrics."""

from __future__ import annotations

from testkit.photoset.run import score_one
from testkit.photoset.score import Scores
from testkit.photoset_html.build import DEFAULT_SEED, build_set
from testkit.photoset_html.cache import fill, ocr_of


def html_scores(seed: int = DEFAULT_SEED) -> Scores:
    samples = build_set(seed)
    fill(samples)
    scores = Scores()
    for sample in samples:
        doc = sample.doc
        score_one(scores, [doc.family, sample.degradation, doc.kind], sample.name, doc.kind, ocr_of(sample),
                  doc.nutrition, doc.recipe)
    return scores
