"""Reading order for OCR lines: visual rows, column gutters, and fragment merging.

OCR engines return one box per detected text run, in no reliable order. Parsers want the page the way a
person reads it: top to bottom, a column at a time, with fragments of one printed line joined. Everything
here is a pure function over `OcrLine` lists; nothing depends on the parser that uses it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from statistics import median

from models_processor.ocr.base import OcrLine

# Two boxes belong to one visual row when their (de-skewed) centres differ by less than this fraction of
# the smaller box height. Half a line height separates stacked lines yet tolerates ragged baselines.
ROW_TOLERANCE = 0.5
# Fragments of one row are merged into one printed line when the horizontal gap between them is at most
# this many line heights. Word spaces are ~0.3 h; table cells and columns sit several heights apart.
MERGE_GAP = 1.5
# A column gutter must be at least this many line heights wide.
MIN_GUTTER = 1.2
# A vertical gap larger than this many line heights ends a multi-column block (a new layout region).
BLOCK_BREAK = 2.5
# Skew is corrected within this bound (radians, ~25 degrees): a label photographed at 12-15 degrees must not
# mix neighbouring rows. Sideways and upside-down pages are the OCR engine's direction handling's job.
MAX_SKEW = 0.44


def line_angle(line: OcrLine) -> float:
    """Angle of the box's top edge in radians (positive: text slopes downward to the right)."""
    (x0, y0), (x1, y1) = line.box[0], line.box[1]
    return math.atan2(y1 - y0, x1 - x0) if x1 != x0 else 0.0


def _box_size(line: OcrLine) -> tuple[float, float]:
    """Width and height of the box along its own edges (the bounding box of a tilted line is taller)."""
    (x0, y0), (x1, y1), (x2, y2) = line.box[0], line.box[1], line.box[2]
    return math.hypot(x1 - x0, y1 - y0), math.hypot(x2 - x1, y2 - y1)


def estimate_skew(lines: Sequence[OcrLine]) -> float:
    """Median angle of the wider boxes; short boxes give noisy angles so they do not vote."""
    angles = [line_angle(ln) for ln in lines for w, h in [_box_size(ln)] if w > 3 * max(h, 1.0)]
    if not angles:
        return 0.0
    angle = median(angles)
    return angle if abs(angle) <= MAX_SKEW else 0.0


def deskew(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The lines rotated about the origin so that the page's text runs horizontally: after this, rows,
    columns, indents and margins can be judged from plain x and y (a 12-degree photo shifts each lower
    line sideways by a fifth of the row spacing, enough to fake an indent or mix two rows)."""
    skew = estimate_skew(lines)
    if abs(skew) < 0.005:
        return list(lines)
    cos, sin = math.cos(skew), math.sin(skew)

    def turn(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] * cos + p[1] * sin, -p[0] * sin + p[1] * cos)

    return [OcrLine(ln.text, ln.score, (turn(ln.box[0]), turn(ln.box[1]), turn(ln.box[2]), turn(ln.box[3])))
            for ln in lines]


def _center_x(line: OcrLine) -> float:
    return (line.left + line.right) / 2


def _deskewed_cy(line: OcrLine, skew: float) -> float:
    # Project the centre onto the page's vertical axis as if the text ran horizontally.
    return line.center_y - math.tan(skew) * _center_x(line)


def _line_height(line: OcrLine, skew: float) -> float:
    # A skewed box's bounding height includes the slope; remove it to get the glyph height.
    return max(1.0, line.height - abs(math.tan(skew)) * (line.right - line.left))


def median_height(lines: Iterable[OcrLine]) -> float:
    heights = [ln.height for ln in lines]
    return median(heights) if heights else 1.0


def group_rows(lines: Sequence[OcrLine], tolerance: float = ROW_TOLERANCE) -> list[list[OcrLine]]:
    """Group boxes into visual rows, top to bottom; each row's boxes left to right (not merged)."""
    if not lines:
        return []
    skew = estimate_skew(lines)
    ordered = sorted(lines, key=lambda ln: _deskewed_cy(ln, skew))
    rows: list[list[OcrLine]] = []
    for line in ordered:
        cy, h = _deskewed_cy(line, skew), _line_height(line, skew)
        if rows:
            row = rows[-1]
            row_cy = sum(_deskewed_cy(r, skew) for r in row) / len(row)
            row_h = median(_line_height(r, skew) for r in row)
            if abs(cy - row_cy) <= tolerance * min(h, row_h):
                row.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.left) for row in rows]


def merge_lines(parts: Sequence[OcrLine]) -> OcrLine:
    """One OcrLine from fragments of a printed line: texts joined by a space, union box, lowest score."""
    if len(parts) == 1:
        return parts[0]
    parts = sorted(parts, key=lambda ln: ln.left)
    left = min(p.left for p in parts)
    right = max(p.right for p in parts)
    top = min(p.top for p in parts)
    bottom = max(p.bottom for p in parts)
    text = " ".join(p.text.strip() for p in parts if p.text.strip())
    return OcrLine(text=text, score=min(p.score for p in parts),
                   box=((left, top), (right, top), (right, bottom), (left, bottom)))


def merge_row(row: Sequence[OcrLine], max_gap: float = MERGE_GAP) -> list[OcrLine]:
    """Merge left-to-right fragments whose horizontal gap is small; distant cells stay separate."""
    cells: list[list[OcrLine]] = []
    for line in sorted(row, key=lambda ln: ln.left):
        if cells:
            prev = cells[-1]
            gap = line.left - max(p.right for p in prev)
            h = min(line.height, median_height(prev))
            if gap <= max_gap * h:
                prev.append(line)
                continue
        cells.append([line])
    return [merge_lines(c) for c in cells]


def _free_gap(row: Sequence[OcrLine], lo: float, hi: float) -> tuple[float, float] | None:
    """The part of the interval (lo, hi) that no box of the row covers, keeping the widest piece."""
    pieces = [(lo, hi)]
    for ln in row:
        nxt = []
        for a, b in pieces:
            if ln.right <= a or ln.left >= b:
                nxt.append((a, b))
                continue
            if ln.left > a:
                nxt.append((a, ln.left))
            if ln.right < b:
                nxt.append((ln.right, b))
        pieces = nxt
    if not pieces:
        return None
    return max(pieces, key=lambda p: p[1] - p[0])


def _widest_internal_gap(cells: Sequence[OcrLine]) -> tuple[float, float] | None:
    best = None
    for a, b in itertools.pairwise(cells):
        gap = (a.right, b.left)
        if best is None or gap[1] - gap[0] > best[1] - best[0]:
            best = gap
    return best


def _split_by_gutter(rows: Sequence[Sequence[OcrLine]], min_width: float) -> list[tuple[int, int, float]]:
    """Find runs of rows that share a vertical gutter: (first row, end row exclusive, gutter x).

    A run starts at a row with two separated cells; it grows downward while each next row leaves some of
    the gutter free (narrowing it) and no large vertical gap intervenes, and it is extended upward over
    single-cell rows that also leave it free. A run needs two rows with text on both sides, so a lone
    page number beside a paragraph does not make a column.
    """
    runs: list[tuple[int, int, float]] = []
    n = len(rows)
    heights = [median_height(r) for r in rows]
    i = 0
    claimed_until = 0  # rows before this index already belong to an emitted run
    while i < n:
        gutter = _widest_internal_gap(rows[i])
        if gutter is None or gutter[1] - gutter[0] < min_width:
            i += 1
            continue
        j = i + 1
        while j < n and _vgap(rows[j - 1], rows[j]) <= BLOCK_BREAK * heights[j]:
            narrowed = _free_gap(rows[j], *gutter)
            if narrowed is None or narrowed[1] - narrowed[0] < min_width:
                break
            gutter = narrowed
            j += 1
        k = i
        while k > claimed_until and _vgap(rows[k - 1], rows[k]) <= BLOCK_BREAK * heights[k]:
            narrowed = _free_gap(rows[k - 1], *gutter)
            if narrowed is None or narrowed[1] - narrowed[0] < min_width:
                break
            gutter = narrowed
            k -= 1
        mid = (gutter[0] + gutter[1]) / 2
        both = sum(1 for r in rows[k:j] if any(c.right <= mid for c in r) and any(c.left >= mid for c in r))
        if both >= 2:
            runs.append((k, j, mid))
            claimed_until = j
            i = j
        else:
            i += 1
    return runs


def _vgap(upper: Sequence[OcrLine], lower: Sequence[OcrLine]) -> float:
    return min(c.top for c in lower) - max(c.bottom for c in upper)


def reading_order(lines: Sequence[OcrLine], _depth: int = 0) -> list[OcrLine]:
    """Lines in reading order: blocks top to bottom, multi-column blocks column by column, and the
    fragments of each printed line merged left to right."""
    if not lines:
        return []
    rows = group_rows(lines)
    min_width = MIN_GUTTER * median_height(lines)
    runs = _split_by_gutter([merge_row(r) for r in rows], min_width) if _depth < 4 else []
    out: list[OcrLine] = []
    i = 0
    for start, end, x in runs:
        for row in rows[i:start]:
            out.extend(merge_row(row))
        block = [ln for row in rows[start:end] for ln in row]
        left = [ln for ln in block if _center_x(ln) < x]
        right = [ln for ln in block if _center_x(ln) >= x]
        # Each side may itself hold columns (three-column pages), hence the bounded recursion.
        out.extend(reading_order(left, _depth + 1))
        out.extend(reading_order(right, _depth + 1))
        i = end
    for row in rows[i:]:
        out.extend(merge_row(row))
    return out
