"""Fonts and text drawing for the rendered test set.

Fonts come from Debian packages: fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf,
fonts-crosextra-carlito (`apt-get install fonts-dejavu-core fonts-liberation fonts-freefont-ttf
fonts-crosextra-carlito`). A family whose files are missing is skipped, so the set still renders (with
fewer typefaces) on a machine that lacks some of them; the image hashes, and so the OCR cache, then differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype")


@dataclass(frozen=True)
class Family:
    name: str
    regular: str
    bold: str


_FAMILIES = (
    Family("dejavu-sans", "dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    Family("dejavu-serif", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    Family("liberation-sans", "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSans-Bold.ttf"),
    Family("liberation-serif", "liberation/LiberationSerif-Regular.ttf", "liberation/LiberationSerif-Bold.ttf"),
    Family("liberation-narrow", "liberation/LiberationSansNarrow-Regular.ttf",
           "liberation/LiberationSansNarrow-Bold.ttf"),
    Family("freesans", "freefont/FreeSans.ttf", "freefont/FreeSansBold.ttf"),
    Family("freeserif", "freefont/FreeSerif.ttf", "freefont/FreeSerifBold.ttf"),
    Family("carlito", "crosextra/Carlito-Regular.ttf", "crosextra/Carlito-Bold.ttf"),
)


def families() -> list[Family]:
    return [f for f in _FAMILIES if (FONT_DIR / f.regular).is_file() and (FONT_DIR / f.bold).is_file()]


@lru_cache(maxsize=256)
def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / path), size)


def text_width(fnt: ImageFont.FreeTypeFont, text: str) -> float:
    return float(fnt.getlength(text))


def wrap(fnt: ImageFont.FreeTypeFont, text: str, width: float) -> list[str]:
    """Greedy word wrap to a pixel width."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and text_width(fnt, trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


class Pen:
    """Draws lines top to bottom on one image, tracking the y position."""

    def __init__(self, draw: ImageDraw.ImageDraw, y: float = 0.0) -> None:
        self.draw = draw
        self.y = y

    def line(self, x: float, text: str, fnt: ImageFont.FreeTypeFont, gap: float = 0.35,
             fill: tuple[int, int, int] = (20, 20, 20)) -> None:
        self.draw.text((x, self.y), text, font=fnt, fill=fill)
        self.y += fnt.size * (1.0 + gap)

    def paragraph(self, x: float, text: str, fnt: ImageFont.FreeTypeFont, width: float,
                  gap: float = 0.3, after: float = 0.5) -> None:
        for ln in wrap(fnt, text, width):
            self.line(x, ln, fnt, gap)
        self.y += fnt.size * after
