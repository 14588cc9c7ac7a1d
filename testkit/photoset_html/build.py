"""The Chromium-rendered set: which documents, which damage, all from one seed.

A sample is described by its source (the HTML, the device scale, the damage and the damage's seed); its
key hashes that description, so the OCR cache is found without rendering (cache.py). Pixels are made only
when OCR has to run (render_sample).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from PIL import Image

from testkit.photoset.degrade import HELD_OUT_DEGRADATIONS
from testkit.photoset.truth import Document
from testkit.photoset_html.label_pages import LABEL_LAYOUTS
from testkit.photoset_html.recipe_pages import RECIPE_LAYOUTS, make_content
from testkit.photoset_html.render import Renderer

DEFAULT_SEED = 2027
PER_LAYOUT = 3
DAMAGED = [d for d in HELD_OUT_DEGRADATIONS if d != "clean"]
# Part of every key: raise it when a change to the renderer's settings or to a damage function changes
# the pixels of an unchanged source, so the cache is refilled (docs/parsing.md).
GENERATOR_VERSION = "1"
# Revisions of single damage functions, in their samples' keys only (so a change refills just those).
DAMAGE_REVISIONS = {"cylinder": 2}


@dataclass(frozen=True)
class HtmlDoc:
    doc: Document
    html: str
    scale: float  # CSS px -> image px


@dataclass(frozen=True)
class HtmlSample:
    source: HtmlDoc
    degradation: str
    damage_seed: str

    @property
    def doc(self) -> Document:
        return self.source.doc

    @property
    def name(self) -> str:
        return f"{self.doc.name}__{self.degradation}"

    def key(self) -> str:
        revision = DAMAGE_REVISIONS.get(self.degradation, 1)
        text = "\x00".join([GENERATOR_VERSION, self.source.html, f"{self.source.scale:g}", self.degradation,
                            self.damage_seed] + ([f"rev{revision}"] if revision > 1 else []))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def documents(seed: int = DEFAULT_SEED) -> list[HtmlDoc]:
    out: list[HtmlDoc] = []
    for layout, make in LABEL_LAYOUTS.items():
        for i in range(PER_LAYOUT):
            rng = random.Random(f"{seed}-{layout}-{i}")
            html, truth = make(rng)
            doc = Document(name=f"{layout}_{i}", kind="nutrition_label", family=layout, nutrition=truth)
            out.append(HtmlDoc(doc, html, rng.choice([2.0, 2.5, 3.0])))
    k = seed
    for layout, make_page in RECIPE_LAYOUTS.items():
        for i in range(PER_LAYOUT):
            rng = random.Random(f"{seed}-{layout}-{i}")
            html, recipe = make_page(rng, make_content(rng, k))
            k += 1
            doc = Document(name=f"{layout}_{i}", kind="recipe", family=layout, recipe=recipe)
            out.append(HtmlDoc(doc, html, rng.choice([1.5, 1.75, 2.0])))
    return out


def build_set(seed: int = DEFAULT_SEED) -> list[HtmlSample]:
    """Every document clean and with one damage (round-robin over the held-out damage kinds)."""
    out: list[HtmlSample] = []
    for k, source in enumerate(documents(seed)):
        out.append(HtmlSample(source, "clean", ""))
        damage = DAMAGED[(k + 2 * (k // PER_LAYOUT)) % len(DAMAGED)]  # each layout meets other damages
        out.append(HtmlSample(source, damage, f"{seed}-{source.doc.name}-{damage}"))
    return out


def render_sample(sample: HtmlSample, render: Renderer) -> Image.Image:
    image = render(sample.source.html, sample.source.scale)
    return HELD_OUT_DEGRADATIONS[sample.degradation](image, random.Random(sample.damage_seed))


def digest(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes() + repr(image.size).encode()).hexdigest()[:20]
