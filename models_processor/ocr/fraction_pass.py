"""RapidOCR's recogniser with the fraction re-read (ocr/fractions.py) after it, on RapidOCR's own objects.

Recognition is asked for its word boxes (`return_word_box`): the CTC decoder then keeps the time step of
every character, which gives each character's column in its crop at no extra model cost. The lines whose
text holds a confusable glyph are re-read; every other line is returned as recognised.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from models_processor.ocr.fractions import probes, reread_line

DIGITS = "0123456789"
# The score of a line holding a fraction glyph that did not read surely: above the floor under which a line
# is noise (0.5), below the one under which a recipe's line is doubtful (0.72, parsing/recipe.py), so the
# line is kept and its quantity is not reported as read (docs/parsing.md, "What neither parser can fix").
DOUBTFUL_LINE_SCORE = 0.6


class RecogniserDigits:
    """The text recogniser (RapidOCR's TextRecognizer) reading digits only: its scores over the blank and the
    ten digit classes, decoded as CTC (repeats merged, blanks dropped)."""

    def __init__(self, text_rec: Any) -> None:
        self._rec = text_rec
        characters: list[str] = list(text_rec.postprocess_op.character)
        self._classes = [0] + [characters.index(d) for d in DIGITS]

    def read_digits(self, image: np.ndarray) -> list[tuple[str, float]]:
        bgr = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
        # The strip is read at its own width, not padded to the recogniser's 320 px floor (which pages' lines
        # need, docs/ocr-speed.md): its digits have blank margins, and the call costs a third as much.
        batch = self._rec.resize_norm_img(bgr, bgr.shape[1] / bgr.shape[0])
        preds = np.asarray(self._rec.session(batch[np.newaxis].astype(np.float32)))[0][:, self._classes]
        best, probs = preds.argmax(axis=1), preds.max(axis=1)
        digits: list[tuple[str, float]] = []
        previous = 0
        for step, cls in enumerate(best):
            if cls and cls == previous:
                digits[-1] = (digits[-1][0], max(digits[-1][1], float(probs[step])))
            elif cls:
                digits.append((DIGITS[cls - 1], float(probs[step])))
            previous = int(cls)
        return digits


def char_centers(text: str, word_info: Any, crop_width: int) -> list[float] | None:
    """Column (crop pixels) of each character of `text` from the decoder's time steps; spaces get NaN.
    None when the word info does not cover the text (the decoder's layout changed)."""
    columns = [c for word in getattr(word_info, "word_cols", None) or [] for c in word]
    steps = float(getattr(word_info, "line_txt_len", 0.0) or 0.0)
    if steps <= 0 or len(columns) != sum(not c.isspace() for c in text):
        return None
    centers, it = [], iter(columns)
    for char in text:
        centers.append(math.nan if char.isspace() else (next(it) + 0.5) * crop_width / steps)
    return centers


def recognise(engine: Any, crops: Sequence[np.ndarray]) -> tuple[Any, float]:
    """RapidOCR's (`engine`'s) TextRecOutput for `crops`, with fraction glyphs re-read; and the seconds the
    re-read took (0.0 when no line was re-read). The word boxes are asked for during recognition only:
    with them on, RapidOCR's final output would also place every word on the page, which is not needed."""
    saved = engine.return_word_box
    engine.return_word_box = True
    try:
        out = engine.recognize_txt(list(crops))
    finally:
        engine.return_word_box = saved
    text_rec = engine.text_rec
    txts, scores = list(out.txts), list(out.scores)
    reader: RecogniserDigits | None = None
    started = time.perf_counter()
    reread = False
    for index, text in enumerate(txts):
        if not probes(text):
            continue
        crop = crops[index]
        info = out.word_results[index] if out.word_results else None
        centers = char_centers(text, info, crop.shape[1])
        if centers is None or crop.shape[0] > crop.shape[1]:
            continue
        reader = reader or RecogniserDigits(text_rec)
        result = reread_line(reader, crop, text, centers)
        reread = True
        txts[index] = result.text
        if result.unsure:
            scores[index] = min(float(scores[index]), DOUBTFUL_LINE_SCORE)
    out.txts, out.scores = tuple(txts), scores
    return out, (time.perf_counter() - started) if reread else 0.0
