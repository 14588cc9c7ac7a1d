"""The rendered set: which documents, which degradations, all from one seed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image

from testkit.photoset.degrade import DEGRADATIONS
from testkit.photoset.draw import families
from testkit.photoset.extras import EXTRA_FAMILIES, make_extra
from testkit.photoset.labels import STYLES, make_label
from testkit.photoset.recipes import LAYOUTS, make_recipe
from testkit.photoset.truth import Document

DEFAULT_SEED = 12
LABELS_PER_STYLE = 2
RECIPES_PER_LAYOUT = 3
DAMAGED = [d for d in DEGRADATIONS if d != "clean"]


@dataclass(frozen=True)
class Sample:
    doc: Document
    degradation: str
    image: Image.Image

    @property
    def name(self) -> str:
        return f"{self.doc.name}__{self.degradation}"

    def digest(self) -> str:
        return hashlib.sha256(self.image.tobytes() + repr(self.image.size).encode()).hexdigest()[:20]


def documents(seed: int = DEFAULT_SEED) -> Iterator[tuple[Image.Image, Document]]:
    fams = families()
    k = 0
    for style in STYLES:
        for i in range(LABELS_PER_STYLE):
            yield make_label(style, i, random.Random(f"{seed}-{style}-{i}"), fams[k % len(fams)])
            k += 1
    for layout in LAYOUTS:
        for i in range(RECIPES_PER_LAYOUT):
            yield make_recipe(layout, k + i, random.Random(f"{seed}-{layout}-{i}"), fams[k % len(fams)])
            k += 1
    # Added after the parsers were written (extras.py); appended so the documents above keep their pixels.
    for family in EXTRA_FAMILIES:
        for i in range(2):
            yield make_extra(family, k + i, random.Random(f"{seed}-{family}-{i}"), fams[(k + 3) % len(fams)])
            k += 1


def build_set(seed: int = DEFAULT_SEED) -> list[Sample]:
    """Every document clean and with one damage (round-robin over the damage kinds)."""
    out: list[Sample] = []
    for k, (image, doc) in enumerate(documents(seed)):
        out.append(Sample(doc, "clean", image))
        damage = DAMAGED[k % len(DAMAGED)]
        rng = random.Random(f"{seed}-{doc.name}-{damage}")
        out.append(Sample(doc, damage, DEGRADATIONS[damage](image, rng)))
    return out
