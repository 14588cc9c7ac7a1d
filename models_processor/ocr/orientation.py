"""Page orientation from what the text detector and the text-direction classifier found.

Photos of pages arrive sideways or upside down: taken without an EXIF orientation flag, or with a flag
that contradicts the pixels (a phone that thought it was held in landscape). The pixels decide
(docs/photos.md): lines of text are much wider than tall, so a page whose detected lines are mostly tall
is sideways; PP-OCR's direction classifier tells a line read the right way up from one upside down.

`rotation` everywhere is the counter-clockwise turn, in degrees (0, 90, 180, 270), that makes the image
upright, as Pillow's Image.Transpose.ROTATE_90/180/270 and numpy's rot90(k = rotation // 90) apply it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

# A detected box counts as a line of text along one axis when it is at least this many times longer along
# it: short words and numbers ("0%", "4") are about square and say nothing about the page's orientation.
LINE_ASPECT = 2.0
# The page is sideways when lines along y outnumber lines along x by this factor (and there are enough).
SIDEWAYS_MAJORITY = 2.0
MIN_LINES_FOR_A_VERDICT = 2
# The direction classifier's answers that count: PP-OCR's own threshold for turning a line over.
CLS_MIN_SCORE = 0.9
# The page is turned over only when sure answers for "upside down" outnumber sure answers for "upright" by
# this factor. On printed type the answers are unanimous; on a handwriting font they split (3 sure "180"
# against 2 sure "0" on an upright index card of the held-out set, which a bare majority turned over and
# read as "pue" for "and"; docs/ocr-speed.md). A split vote leaves the page as photographed.
UPSIDE_DOWN_MAJORITY = 2.0
# The lines given to the classifier: the longest ones (most text, most reliable), at most this many.
CLS_SAMPLE = 12

_TRANSPOSE = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}


def box_extent(box: np.ndarray) -> tuple[float, float]:
    """(extent along x, extent along y) of a 4-corner box."""
    pts = np.asarray(box, dtype=np.float64).reshape(4, 2)
    return float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1]))


def is_sideways(boxes: Sequence[np.ndarray]) -> bool:
    """True when most detected lines of text run along y: the page is turned by 90 or 270 degrees."""
    along_x = along_y = 0
    for box in boxes:
        width, height = box_extent(box)
        if width >= LINE_ASPECT * height:
            along_x += 1
        elif height >= LINE_ASPECT * width:
            along_y += 1
    return along_y >= MIN_LINES_FOR_A_VERDICT and along_y >= SIDEWAYS_MAJORITY * max(along_x, 1)


def longest_lines(boxes: Sequence[np.ndarray], limit: int = CLS_SAMPLE) -> list[int]:
    """Indices of the `limit` boxes with the longest extent (the lines to ask the classifier about)."""
    lengths = [max(box_extent(box)) for box in boxes]
    return sorted(range(len(boxes)), key=lambda i: -lengths[i])[:limit]


def is_upside_down(directions: Sequence[tuple[str, float]]) -> bool:
    """True when the classifier, sure of its answer, finds clearly more lines upside down ("180") than upright."""
    flipped = sum(1 for label, score in directions if label == "180" and score >= CLS_MIN_SCORE)
    upright = sum(1 for label, score in directions if label == "0" and score >= CLS_MIN_SCORE)
    return flipped >= MIN_LINES_FOR_A_VERDICT and flipped >= UPSIDE_DOWN_MAJORITY * upright and flipped > upright


def rotate_array(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """`pixels` (H x W x C) turned counter-clockwise by `rotation` degrees, contiguous for the models."""
    if rotation % 360 == 0:
        return pixels
    return np.ascontiguousarray(np.rot90(pixels, k=(rotation // 90) % 4))


def turn_boxes(boxes: np.ndarray, rotation: int, width: int, height: int) -> np.ndarray:
    """Detected boxes (N x 4 x 2, in an image `width` x `height`) moved into the frame of that image turned
    counter-clockwise by `rotation` degrees, each with its corners in the detector's order (top-left,
    top-right, bottom-right, bottom-left). Turning by a multiple of 90 degrees maps every pixel exactly, so
    a turned page need not be detected again (docs/ocr-speed.md)."""
    pts = np.asarray(boxes, dtype=np.float32).reshape(-1, 4, 2)
    x, y = pts[..., 0], pts[..., 1]
    turns = (rotation // 90) % 4
    if turns == 1:
        x, y = y, width - x
    elif turns == 2:
        x, y = width - x, height - y
    elif turns == 3:
        x, y = height - y, x
    return np.stack([_detector_order(box) for box in np.stack([x, y], axis=-1)]) if len(pts) else pts


def _detector_order(box: np.ndarray) -> np.ndarray:
    """The corners of a box ordered as PP-OCR's DB post-processing orders them (get_mini_boxes): of the two
    leftmost points the upper is first and the lower last, of the two rightmost the upper second."""
    left_first = box[np.argsort(box[:, 0], kind="stable")]
    left = left_first[:2][np.argsort(left_first[:2, 1], kind="stable")]
    right = left_first[2:][np.argsort(left_first[2:, 1], kind="stable")]
    return np.stack([left[0], right[0], right[1], left[1]])


def upright_image(image: Image.Image, rotation: int) -> Image.Image:
    """`image` turned counter-clockwise by `rotation` degrees (what OCR found upright)."""
    turn = _TRANSPOSE.get(rotation % 360)
    return image if turn is None else image.transpose(turn)
