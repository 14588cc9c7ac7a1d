"""Vulgar fractions the recogniser has no class for (⅓ ⅔ ⅛ ⅜ ⅝ ⅞) read from their pixels by the fraction
re-read (models_processor/ocr/fractions.py, docs/parsing.md "What neither parser can fix"): lines drawn with
Pillow in the Debian fonts the photo set uses, at two sizes, read by the real RapidOCR engine and parsed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from models_processor.ocr.fraction_pass import RecogniserDigits
from models_processor.ocr.fractions import find_glyph, probes, reread_line
from models_processor.parsing.quantities import parse_ingredient
from testkit.photoset.draw import font
from tests.unit.ocr_fixtures import rapid_engine  # noqa: F401

pytestmark = pytest.mark.ocr

GLYPHS = {"½": 1 / 2, "⅓": 1 / 3, "⅔": 2 / 3, "¼": 1 / 4, "¾": 3 / 4, "⅛": 1 / 8, "⅜": 3 / 8, "⅝": 5 / 8, "⅞": 7 / 8}
# Regular and bold faces of fonts-dejavu-core, fonts-freefont-ttf, fonts-crosextra-carlito and
# fonts-liberation; Liberation has no ⅓ or ⅔ (Pillow would draw an empty box).
FONTS = {
    "dejavu/DejaVuSans.ttf": "", "dejavu/DejaVuSerif.ttf": "", "dejavu/DejaVuSans-Bold.ttf": "",
    "freefont/FreeSans.ttf": "", "freefont/FreeSerif.ttf": "", "crosextra/Carlito-Regular.ttf": "",
    "liberation/LiberationSans-Regular.ttf": "⅓⅔", "liberation/LiberationSerif-Regular.ttf": "⅓⅔",
}
SIZES = (22, 34)


def line_image(font_path: str, size: int, text: str) -> Image.Image:
    fnt = font(font_path, size)
    image = Image.new("RGB", (int(fnt.getlength(text)) + 2 * size, size * 2), "white")
    ImageDraw.Draw(image).text((size, size // 3), text, font=fnt, fill=(20, 20, 20))
    return image


def cases(font_path: str) -> list[tuple[str, int, str, float]]:
    """(text, size, glyph, quantity) for each fraction the font draws, alone and after a whole number."""
    out = []
    for size in SIZES:
        for glyph, value in GLYPHS.items():
            if glyph not in FONTS[font_path]:
                out.append((f"{glyph} cup sugar", size, glyph, value))
                out.append((f"1{glyph} cups milk", size, glyph, 1 + value))
    return out


# Glyphs only the re-read writes (the recogniser has no class for them).
REREAD_ONLY = "⅓⅔⅛⅜⅝⅞"
# Lines per font (of 28-36) that may still be misread: a glyph the recogniser read as nothing at all, or
# one of 22 px serif type read as two digits (docs/parsing.md, "What neither parser can fix").
MAX_OTHER_MISSES = 2


def misread(engine, font_path: str) -> tuple[list[str], list[str]]:
    """The rendered lines whose parsed quantity is not the one printed, and those where a glyph only the
    re-read writes is not the glyph printed."""
    wrong, wrong_glyph = [], []
    for text, size, glyph, value in cases(font_path):
        read = engine.recognize(line_image(font_path, size, text)).text
        item = parse_ingredient(read)
        note = f"{size}px {text!r} -> {read!r} ({item.quantity})"
        if item.quantity is None or abs(item.quantity - value) > 1e-6 or item.unit != "cup":
            wrong.append(note)
        if any(c in REREAD_ONLY and c != glyph for c in read):
            wrong_glyph.append(note)
    return wrong, wrong_glyph


@pytest.mark.parametrize("font_path", sorted(FONTS))
def test_every_fraction_is_read_as_printed(rapid_engine, font_path):
    wrong, wrong_glyph = misread(rapid_engine, font_path)
    thirds = [w for w in wrong if "⅓" in w.split("->")[0] or "⅔" in w.split("->")[0]]
    assert not thirds, "\n".join(thirds)
    assert not wrong_glyph, "\n".join(wrong_glyph)
    assert len(wrong) <= MAX_OTHER_MISSES, "\n".join(wrong)


@pytest.fixture(scope="module")
def engine_without_reread():
    from models_processor.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine(reread_fractions=False)


def test_the_recogniser_alone_reads_thirds_as_other_fractions(engine_without_reread):
    """Why the re-read exists, and proof the test above can fail: without it, ⅓ and ⅔ come out wrong."""
    thirds = [(f, c) for f in ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSerif.ttf", "crosextra/Carlito-Regular.ttf")
              for c in cases(f) if c[2] in "⅓⅔"]
    wrong = [text for f, (text, size, _, value) in thirds
             if parse_ingredient(engine_without_reread.recognize(line_image(f, size, text)).text).quantity != value]
    assert len(wrong) >= len(thirds) // 2, wrong


def test_the_reread_is_timed_as_its_own_stage(rapid_engine):
    """The re-read ran (and is timed apart from recognition) on a line with a fraction glyph only."""
    with_glyph = rapid_engine.recognize(line_image("dejavu/DejaVuSans.ttf", 34, "⅔ cup cream"))
    without = rapid_engine.recognize(line_image("dejavu/DejaVuSans.ttf", 34, "Preheat the oven"))
    assert with_glyph.text == "⅔ cup cream"
    assert with_glyph.stage_s.get("fractions", 0.0) > 0.0
    assert "fractions" not in without.stage_s


@pytest.mark.parametrize("text", ["1/2 cup milk", "2 eggs", "13 oz can tomatoes", "Total Fat 8g 10%",
                                  "% Daily Value*", "Sodium 140mg 6%", "Bake 25 minutes", "2 tbsp hoisin sauce",
                                  "240 ml buttermilk", "2090", "7 eggs", "27 %", "12 slices (57g)", "82 g"])
def test_lines_without_fraction_glyphs_read_the_same(rapid_engine, engine_without_reread, text):
    """A "2" is a diagonal with ink above-left and below-right of it, a "%" a slash between two rings: the
    re-read looks at them and must leave them as read (text and score)."""
    for font_path in ("dejavu/DejaVuSans.ttf", "liberation/LiberationSerif-Regular.ttf", "freefont/FreeSerif.ttf"):
        image = line_image(font_path, 30, text)
        plain = engine_without_reread.recognize(image)
        reread = rapid_engine.recognize(image)
        assert [(ln.text, ln.score) for ln in reread.lines] == [(ln.text, ln.score) for ln in plain.lines]
        assert ("fractions" in reread.stage_s) == bool(probes(text))  # looked at, and left alone


def _crop(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def test_a_smudged_glyph_is_kept_and_marked_doubtful(rapid_engine):
    """A fraction whose denominator cannot be read keeps the recogniser's character, listed as unsure."""
    image = line_image("dejavu/DejaVuSans.ttf", 34, "½ cup milk")
    crop = _crop(image)
    glyph = find_glyph(crop, 40.0)
    assert glyph is not None
    ImageDraw.Draw(image).rectangle((glyph.x1 - glyph.height // 3, 34 // 3 + glyph.height // 2, glyph.x1,
                                     34 // 3 + glyph.height), fill=(20, 20, 20))
    reader = RecogniserDigits(rapid_engine._engine.text_rec)
    centers = [40.0] + [80.0 + 15 * i for i in range(len("½ cup milk") - 1)]
    result = reread_line(reader, _crop(image), "½ cup milk", centers)
    assert result.text == "½ cup milk"
    assert result.unsure == (0,)
    clean = reread_line(reader, crop, "½ cup milk", centers)
    assert (clean.text, clean.unsure) == ("½ cup milk", ())
