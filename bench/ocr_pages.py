"""Rendered test pages for the OCR benchmarks, with their text as truth: a two-page cookbook scan, a
nutrition-label phone photo, a 12 MP phone photo of a recipe page (sizes as in the photos that were slow).

Pillow with Debian's fonts (fonts-dejavu, fonts-freefont); deterministic (seeded noise).
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/freefont"))


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    raise FileNotFoundError(f"font {name} not found in {FONT_DIRS} (apt-get install fonts-dejavu fonts-freefont-ttf)")


@dataclass(frozen=True)
class Page:
    name: str
    kind: str  # "page scan", "label photo", "phone page photo"
    image: Image.Image
    lines: tuple[str, ...]  # the text printed on it, one entry a line


RECIPE_A = ("Lemon Drizzle Traybake", "Serves 12  Prep 15 minutes  Cook 35 minutes", "Ingredients",
            "225g/8oz softened butter", "225g/8oz caster sugar", "275g/10oz self-raising flour",
            "2 level tsp baking powder", "4 large eggs, beaten", "4 tbsp milk", "finely grated zest of 2 lemons",
            "For the topping:", "175g/6oz granulated sugar", "juice of 2 lemons", "Method",
            "1. Preheat the oven to 180C/160C fan/Gas 4.", "Grease a 30x23cm traybake tin and line",
            "the base with baking parchment.", "2. Put all the cake ingredients into a large",
            "bowl and beat well for about 2 minutes until", "well blended. Turn into the prepared tin",
            "and level the top.", "3. Bake for 35-40 minutes until the cake has", "shrunk a little from the sides of the tin",
            "and springs back when pressed in the centre.", "4. Mix the sugar and lemon juice and spoon",
            "over the warm cake. Leave to cool in the tin.")
RECIPE_B = ("Chocolate Oat Cookies", "Makes 18  Prep 10 minutes  Cook 12 minutes", "Ingredients",
            "100g/3 1/2oz butter", "100g/3 1/2oz light muscovado sugar", "1 tbsp golden syrup",
            "150g/5oz porridge oats", "75g/3oz plain flour", "1/2 tsp bicarbonate of soda",
            "100g/3 1/2oz dark chocolate chips", "Method", "1. Heat the oven to 190C/170C fan/Gas 5.",
            "Line two baking sheets with parchment.", "2. Melt the butter, sugar and syrup in a pan",
            "over a low heat, stirring now and then.", "3. Stir in the oats, flour and soda, then the",
            "chocolate chips once the mixture has cooled.", "4. Roll into 18 balls and flatten slightly",
            "on the sheets, spaced well apart.", "5. Bake for 10-12 minutes until golden. Cool",
            "on the sheets for 5 minutes, then on a rack.", "130  Traybakes and Cookies")
LABEL = ("Nutrition Facts", "8 servings per container", "Serving size 2/3 cup (55g)", "Amount per serving",
         "Calories 230", "% Daily Value*", "Total Fat 8g 10%", "Saturated Fat 1g 5%", "Trans Fat 0g",
         "Cholesterol 0mg 0%", "Sodium 160mg 7%", "Total Carbohydrate 37g 13%", "Dietary Fiber 4g 14%",
         "Total Sugars 12g", "Includes 10g Added Sugars 20%", "Protein 3g", "Vitamin D 2mcg 10%",
         "Calcium 260mg 20%", "Iron 8mg 45%", "Potassium 240mg 6%",
         "* The % Daily Value (DV) tells you how much a nutrient in", "a serving of food contributes to a daily diet.",
         "2,000 calories a day is used for general nutrition advice.")


def _paper(size: tuple[int, int], seed: int, tone: tuple[int, int, int] = (246, 243, 235)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.empty((size[1], size[0], 3), dtype=np.float32)
    base[:] = tone
    base += rng.normal(0, 4, size=base.shape).astype(np.float32)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def _column(draw: ImageDraw.ImageDraw, x: int, y: int, lines: tuple[str, ...], size: int) -> None:
    regular, bold = font("DejaVuSerif.ttf", size), font("DejaVuSerif-Bold.ttf", size)
    for i, text in enumerate(lines):
        heading = i == 0 or text in ("Ingredients", "Method")
        draw.text((x, y), text, fill=(25, 22, 20), font=bold if heading else regular)
        y += round(size * (1.9 if heading else 1.45))


def page_scan() -> Page:
    """A flatbed scan of a two-page cookbook spread, 2058x1536: two recipes, small print (~16 px)."""
    img = _paper((2058, 1536), 1)
    draw = ImageDraw.Draw(img)
    draw.line([(1029, 0), (1029, 1536)], fill=(200, 196, 188), width=3)
    _column(draw, 90, 110, RECIPE_A, 22)
    _column(draw, 1120, 110, RECIPE_B, 22)
    return Page("page_scan_2058x1536", "page scan", img.filter(ImageFilter.GaussianBlur(0.6)), RECIPE_A + RECIPE_B)


def label_photo() -> Page:
    """A phone photo of a US nutrition label, 2000x2666: the label fills the middle, a packet around it."""
    img = _paper((2000, 2666), 2, tone=(190, 60, 40))
    label = Image.new("RGB", (1100, 1900), "white")
    draw = ImageDraw.Draw(label)
    y = 30
    for i, text in enumerate(LABEL):
        size = 84 if i == 0 else (30 if text.startswith(("*", "a serving", "2,000")) else 40)
        face = "FreeSansBold.ttf" if i == 0 or text.startswith(("Calories", "Total", "Cholesterol", "Sodium",
                                                                       "Protein")) else "FreeSans.ttf"
        draw.text((30, y), text, fill="black", font=font(face, size))
        y += round(size * 1.45)
        draw.line([(30, y - 6), (1070, y - 6)], fill="black", width=2)
    img.paste(label.rotate(2.0, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(190, 60, 40)), (430, 340))
    return Page("label_photo_2000x2666", "label photo", img.filter(ImageFilter.GaussianBlur(1.0)), LABEL)


def phone_page() -> Page:
    """A 12 MP (4000x3000) phone photo of one cookbook page lying on a table, the page about 60% of the
    frame, text ~26 px high."""
    img = _paper((4000, 3000), 3, tone=(120, 95, 70))
    page = _paper((1900, 2500), 4)
    _column(ImageDraw.Draw(page), 110, 120, RECIPE_A, 34)
    img.paste(page.rotate(-1.5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(120, 95, 70)), (1000, 230))
    return Page("phone_page_4000x3000", "phone page photo", img.filter(ImageFilter.GaussianBlur(1.2)), RECIPE_A)


def all_pages() -> list[Page]:
    return [page_scan(), label_photo(), phone_page()]


def _squash(text: str) -> str:
    return "".join(text.lower().split())


def line_recall(truth: tuple[str, ...], ocr_lines: list[str], threshold: float = 0.9) -> float:
    """Share of printed lines found in the OCR text (ignoring spaces and case) with a similarity ratio of at
    least `threshold` against some OCR line, or a run of two neighbouring ones (a split line)."""
    candidates = [_squash(t) for t in ocr_lines]
    candidates += [a + b for a, b in itertools.pairwise(candidates)]
    found = 0
    for line in truth:
        want = _squash(line)
        best = max((difflib.SequenceMatcher(None, want, got).ratio() for got in candidates), default=0.0)
        found += best >= threshold
    return found / len(truth)


def char_accuracy(truth: tuple[str, ...], ocr_lines: list[str]) -> float:
    """Character similarity of all the printed text against all the OCR text, each sorted line by line
    (reading order is not what is measured here)."""
    want = "".join(sorted(_squash(t) for t in truth))
    got = "".join(sorted(_squash(t) for t in ocr_lines))
    return difflib.SequenceMatcher(None, want, got, autojunk=False).ratio()
