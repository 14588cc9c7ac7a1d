"""Vulgar-fraction glyphs read again from their pixels: numerator and denominator, each as a digit.

The recogniser's character set has ½, ¼ and ¾ but not ⅓, ⅔, ⅛, ⅜, ⅝ or ⅞, so a printed ⅓ or ⅔ comes out
as "½", ⅛ as "½8", ⅜ as "38" or "13", ¾ as "3" or "%" (docs/parsing.md, "What neither parser can fix"). No
rule on the text can tell those apart. So where a line's text may hold a misread fraction (a ½, ¼ or ¾, or
a leading quantity token before a word), the glyph is looked for in the line's crop near the character's column (the
CTC decoder's time step): a straight stroke rising left to right across the text's height with a part
above-left of its middle and one below-right is a fraction's slash, numerator and denominator (the way the
fonts on the test pages and in Debian's font packages draw them; parts touching the slash are split off
along it). The two parts are copied, alone, onto a blank strip and read by the same recogniser restricted
to digits. When both read as single digits with high confidence and make a known fraction, that fraction
replaces the characters read from the glyph ("½4" -> "¼", "13" -> "⅜" under a ⅜); when a glyph's parts do
not read surely, a ½ ¼ ¾ or digit read from it is listed as unsure (the caller lowers the line's score).
Ordinary digits, ASCII fractions ("1/2": full-height digits) and percent signs ("00") are left as read.
Cost: connected components of the crop per probed line, and one recogniser call per glyph found
(docs/ocr-speed.md, "Fraction glyphs").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

# Glyphs the recogniser has, which a fraction it lacks is read as.
CONFUSABLE = frozenset("½¼¾")
# What the recogniser reads a fraction glyph as: the characters that may be replaced by the fraction.
GLYPH_READINGS = frozenset("0123456789½¼¾%/³²¹ºε⁄∛")
# A line's leading quantity token, after a bullet, before a word: digits and the signs fractions are read as
# ("3 cup", "38 cup", "% cup" for ¾, ⅜, ¾ cup). A label's "10%" or "200" alone is not looked at: each glyph
# found costs a recogniser call, and a percent sign has the shape of a fraction.
LEADING_TOKEN = re.compile(r"^[^\w½¼¾%]{0,2}([\d½¼¾%/³²¹ºε∛]+)(?=\s+[^\W\d_])")
FRACTIONS: dict[tuple[str, str], str] = {
    ("1", "2"): "½", ("1", "3"): "⅓", ("2", "3"): "⅔", ("1", "4"): "¼", ("3", "4"): "¾", ("1", "5"): "⅕",
    ("2", "5"): "⅖", ("3", "5"): "⅗", ("4", "5"): "⅘", ("1", "6"): "⅙", ("5", "6"): "⅚", ("1", "8"): "⅛",
    ("3", "8"): "⅜", ("5", "8"): "⅝", ("7", "8"): "⅞",
}
# Both digits must be read at least this sure (softmax probability at the digit's time step) to replace
# the glyph; most rendered fractions read at 0.97 and more, small serif ones at 0.75 and more.
MIN_DIGIT_PROB = 0.7
# A digit class winning a time step below this probability is the slash's debris (the whole model reads
# something else there), not a digit.
NOISE_PROB = 0.05
# The strip the two parts are drawn on: recogniser height, each part scaled to PART_HEIGHT, GAP between.
STRIP_HEIGHT = 48
# Line crops lower than SMALL_CROP are enlarged to CROP_HEIGHT before the glyph is looked for.
SMALL_CROP = 34
CROP_HEIGHT = 48
PART_HEIGHT = 28
GAP = 20


class DigitReader(Protocol):
    """Reads the digits on a small grey image (the text recogniser restricted to digits)."""

    def read_digits(self, image: np.ndarray) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int  # exclusive
    label: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Glyph:
    """A fraction found in a line crop: its ink's columns and its two parts (white ink-free strips)."""

    x0: int
    x1: int
    height: int  # the slash's
    numerator: np.ndarray
    denominator: np.ndarray


@dataclass(frozen=True)
class Reread:
    """A line's text after the re-read; `unsure` lists the indexes, in the text read before, of glyphs kept
    unread."""

    text: str
    unsure: tuple[int, ...]


def ink_mask(crop: np.ndarray) -> np.ndarray:
    """Dark-on-light ink of a BGR or grey crop as a 0/1 mask (Otsu's threshold; light text is inverted)."""
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    _, binary = cv2.threshold(gray, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if binary.mean() > 0.5:  # more "ink" than paper: light text on a dark ground
        binary = 1 - binary
    return binary.astype(np.uint8)


def _components(mask: np.ndarray) -> tuple[np.ndarray, list[Box]]:
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = [Box(int(x), int(y), int(x + w), int(y + h), i)
             for i, (x, y, w, h, area) in enumerate(stats) if i and area >= 4]
    return labels, boxes


@dataclass(frozen=True)
class Stroke:
    """A straight stroke across a component's height, in the component's columns."""

    bottom: float  # column at the bottom row
    top: float  # column at the top row
    run: float  # ink run across the stroke, along a row

    def column(self, rows: np.ndarray, height: int) -> np.ndarray:
        return self.bottom + (self.top - self.bottom) * (height - 1 - rows) / max(height - 1, 1)


def slash_stroke(own: np.ndarray) -> Stroke | None:
    """The straight stroke rising left to right across the whole height of a component (a fraction's slash,
    alone or touching the digits beside it), or None. Every (bottom, top) pair of columns is tried at once;
    the stroke is the one whose line stays in ink on the most rows (90% at least, a pixel's slack)."""
    height, width = own.shape
    if height < 6 or width < 3:
        return None
    slack = own.copy()
    slack[:, 1:] |= own[:, :-1]
    slack[:, :-1] |= own[:, 1:]
    rows = np.arange(height)
    bottoms, tops = np.arange(width)[:, None, None], np.arange(width)[None, :, None]
    cols = np.rint(bottoms + (tops - bottoms) * ((height - 1 - rows) / (height - 1))[None, None, :]).astype(int)
    cover = slack[rows[None, None, :], cols].mean(axis=2)
    cover[tops[:, :, 0] - bottoms[:, :, 0] < 0.4 * height] = 0.0  # a digit's upright stem is no slash
    bottom, top = np.unravel_index(int(cover.argmax()), cover.shape)
    if cover[bottom, top] < 0.9:
        return None
    line = np.rint(Stroke(float(bottom), float(top), 0.0).column(rows, height)).astype(int)
    runs = [_run_at(own[r], int(c)) for r, c in zip(rows, line, strict=True)]
    return Stroke(float(bottom), float(top), float(np.median([r for r in runs if r] or [1])))


def _run_at(row: np.ndarray, col: int) -> int:
    """Length of the ink run of `row` through `col` (0 when `col` is paper)."""
    if not row[col]:
        return 0
    paper = np.flatnonzero(~row)
    left = paper[paper < col]
    right = paper[paper > col]
    return int((right[0] if right.size else row.size) - (left[-1] + 1 if left.size else 0))


def _split_off(own: np.ndarray, stroke: Stroke) -> tuple[np.ndarray, np.ndarray]:
    """Ink of a slash's component off its stroke: left of it in its upper part and right of it in its lower
    part, i.e. a numerator or denominator drawn touching the slash (small Liberation type)."""
    height, width = own.shape
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    line = stroke.column(rows, height)
    off = own & (np.abs(cols - line) > stroke.run / 2 + 1)
    upper = off & (cols < line) & (rows < 0.6 * height)
    lower = off & (cols > line) & (rows > 0.4 * height)
    least = 0.015 * height * height  # stray edge pixels of the stroke are not a digit
    return (upper if upper.sum() >= least else upper & False), (lower if lower.sum() >= least else lower & False)


def _parts(slash: Box, boxes: Sequence[Box]) -> tuple[list[Box], list[Box]]:
    """Components above-left of the slash's middle (numerator) and below-right of it (denominator)."""
    # A part touches the slash's columns (give or take a fifth of its height): the word after a fraction
    # is as short as a denominator, and a space away.
    mid, reach = slash.cy, 0.2 * slash.height
    small = [b for b in boxes if b.label != slash.label and b.height < 0.75 * slash.height
             and b.y0 >= slash.y0 - reach and b.y1 <= slash.y1 + reach]
    upper = [b for b in small if b.cy < mid and b.y0 <= slash.y0 + 0.25 * slash.height
             and b.x1 > slash.x0 - reach and b.cx < slash.cx + 0.1 * slash.width]
    lower = [b for b in small if b.cy > mid and b.y1 >= slash.y1 - 0.25 * slash.height
             and b.x0 < slash.x1 + reach and b.cx > slash.cx - 0.1 * slash.width]
    return upper, lower


def _part_mask(labels: np.ndarray, boxes: Sequence[Box], split: np.ndarray, slash: Box) -> np.ndarray:
    """The components `boxes` and the pixels split off the slash, as one mask of the crop."""
    mask = np.isin(labels, [b.label for b in boxes])
    mask[slash.y0:slash.y1, slash.x0:slash.x1] |= split
    return mask


def _tall_enough(part: np.ndarray, slash: Box) -> bool:
    """A numerator or denominator is a third of the slash's height or more (a serif or a stray pixel less)."""
    rows = np.flatnonzero(part.any(axis=1))
    return bool(rows.size) and rows[-1] - rows[0] + 1 >= 0.35 * slash.height


def _part_image(mask: np.ndarray) -> np.ndarray:
    """A part, alone, black on white, cropped to its ink."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    window = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return np.where(window, 0, 255).astype(np.uint8)


def find_glyph(crop: np.ndarray, x_center: float) -> Glyph | None:
    """The fraction glyph whose slash is nearest column `x_center` of the line crop, or None. A crop of small
    type is enlarged first (to CROP_HEIGHT), so that thresholding keeps a small digit's strokes apart from
    the slash they nearly touch; the glyph's columns are given in the crop's own pixels. A numerator or
    denominator touching the slash is split off it along the stroke (small type)."""
    scale = CROP_HEIGHT / crop.shape[0] if 0 < crop.shape[0] < SMALL_CROP else 1.0
    if scale > 1.0:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    glyph = _find_glyph(crop, x_center * scale)
    if glyph is None or scale == 1.0:
        return glyph
    return Glyph(int(glyph.x0 / scale), int(np.ceil(glyph.x1 / scale)), round(glyph.height / scale),
                 glyph.numerator, glyph.denominator)


def _find_glyph(crop: np.ndarray, x_center: float) -> Glyph | None:
    mask = ink_mask(crop)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    text_height = int(rows[-1] - rows[0] + 1)
    labels, boxes = _components(mask)
    near = sorted((b for b in boxes if abs(b.cx - x_center) <= 0.8 * text_height),
                  key=lambda b: abs(b.cx - x_center))
    for slash in near:
        if slash.height < 0.5 * text_height or not 0.25 * slash.height <= slash.width <= 1.3 * slash.height:
            continue
        own = labels[slash.y0:slash.y1, slash.x0:slash.x1] == slash.label
        stroke = slash_stroke(own)
        if stroke is None:
            continue
        upper, lower = _parts(slash, boxes)
        split_upper, split_lower = _split_off(own, stroke)
        top = _part_mask(labels, upper, split_upper, slash)
        bottom = _part_mask(labels, lower, split_lower, slash)
        if _tall_enough(top, slash) and _tall_enough(bottom, slash):
            columns = np.flatnonzero((top | bottom).any(axis=0))
            return Glyph(min(slash.x0, int(columns[0])), max(slash.x1, int(columns[-1]) + 1), slash.height,
                         _part_image(top), _part_image(bottom))
    return None


def digit_strip(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """The two parts scaled to one height, side by side on a white strip the recogniser's height."""
    scaled = []
    for part in (numerator, denominator):
        height, width = part.shape
        new_width = max(1, round(width * PART_HEIGHT / height))
        scaled.append(cv2.resize(part, (new_width, PART_HEIGHT), interpolation=cv2.INTER_AREA))
    top = (STRIP_HEIGHT - PART_HEIGHT) // 2
    width = GAP + scaled[0].shape[1] + GAP + scaled[1].shape[1] + GAP
    strip = np.full((STRIP_HEIGHT, width), 255, dtype=np.uint8)
    x = GAP
    for part in scaled:
        strip[top:top + PART_HEIGHT, x:x + part.shape[1]] = part
        x += part.shape[1] + GAP
    return strip


def read_fraction(reader: DigitReader, glyph: Glyph) -> str | None:
    """The fraction the glyph's parts spell; "" when they read surely as digits that spell none (the rings
    of a "%"); None when they do not read surely."""
    digits = [d for d in reader.read_digits(digit_strip(glyph.numerator, glyph.denominator)) if d[1] >= NOISE_PROB]
    if len(digits) != 2 or min(p for _, p in digits) < MIN_DIGIT_PROB:
        return None
    return FRACTIONS.get((digits[0][0], digits[1][0]), "")


def probes(text: str) -> list[list[int]]:
    """Groups of character indexes where a fraction glyph may have been read: each confusable glyph, and
    the leading quantity token."""
    groups = [[i] for i, c in enumerate(text) if c in CONFUSABLE]
    lead = LEADING_TOKEN.match(text)
    token = list(range(lead.start(1), lead.end(1))) if lead else []
    if token and token not in groups:
        groups.append(token)
    return groups


def _found(reader: DigitReader, crop: np.ndarray, text: str, centers: Sequence[float],
           group: list[int]) -> tuple[Glyph, str | None] | None:
    """The glyph under the probed characters and what it reads as (None: not surely a fraction)."""
    columns = [centers[i] for i in group if not math.isnan(centers[i])]
    if not columns:
        return None
    glyph = find_glyph(crop, sum(columns) / len(columns))
    return None if glyph is None else (glyph, read_fraction(reader, glyph))


def _echo(text: str, centers: Sequence[float], after: int, glyph: Glyph, fraction: str) -> list[int]:
    """The denominator read a second time just after the glyph ("¼4"): the decoder's step for it can fall a
    little right of the glyph's ink."""
    denominator = next(d for (_, d), f in FRACTIONS.items() if f == fraction)
    if after < len(text) and text[after] == denominator and centers[after] < glyph.x1 + 0.5 * glyph.height:
        return [after]
    return []


def _with_numerator(text: str, centers: Sequence[float], glyph: Glyph, inside: list[int]) -> list[int]:
    """`inside` with the digit just before a slash read from the glyph ("1/4"): the decoder's step for the
    numerator can fall a little left of the glyph's ink, a whole number's ("1/" for 1⅝) further."""
    slash = next((i for i in inside if text[i] == "/"), None)
    if slash is None or slash == 0 or not text[slash - 1].isdigit() or slash - 1 in inside:
        return inside
    if centers[slash - 1] < glyph.x0 - 0.2 * glyph.height:
        return inside
    return sorted([slash - 1, *inside])


def reread_line(reader: DigitReader, crop: np.ndarray, text: str, centers: Sequence[float]) -> Reread:
    """`text` with the fraction glyphs of `crop` read again. `centers[i]` is the column (crop pixels) of
    character `text[i]` (NaN for spaces)."""
    replaced: dict[int, str] = {}  # index of the first character read from a glyph -> the fraction
    dropped: set[int] = set()
    unsure: list[int] = []
    spans: list[tuple[int, int]] = []
    for group in probes(text):
        if any(x0 <= centers[i] < x1 for i in group for x0, x1 in spans):
            continue  # already read as part of a glyph found before
        found = _found(reader, crop, text, centers, group)
        if found is None:
            continue
        glyph, fraction = found
        spans.append((glyph.x0, glyph.x1))
        # The decoder's step for a character can fall a little right of its ink, never a word's width.
        # Letters are never read from a fraction glyph (a squeezed "cup" can start within that margin).
        inside = [i for i, c in enumerate(text)
                  if c in GLYPH_READINGS and glyph.x0 <= centers[i] < glyph.x1 + 0.3 * glyph.height]
        inside = _with_numerator(text, centers, glyph, inside)
        if not fraction:  # a fraction's shape that did not read as one: a ½ ¼ ¾ read from it is doubtful
            # where it is the line's amount (before any word; not "300g/10½oz", a second measure)
            unsure += [i for i in (inside or group) if text[i] in CONFUSABLE and not re.search("[^\\W\\d_]", text[:i])]
        if not fraction or not inside:
            continue
        replaced[inside[0]] = fraction
        dropped.update(inside[1:])
        dropped.update(_echo(text, centers, inside[-1] + 1, glyph, fraction))
    out = "".join(replaced.get(i, c) for i, c in enumerate(text) if i not in dropped)
    return Reread(out, tuple(unsure))
