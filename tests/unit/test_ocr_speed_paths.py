"""The OCR engine's shortcuts (docs/ocr-speed.md) keep what it reads: boxes turned with the page instead of a
second detection, and the recogniser cut down to Latin-script classes. Real RapidOCR on a rendered card."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from models_processor.ocr.latin_head import is_kept, latin_recogniser
from models_processor.ocr.orientation import box_extent, is_upside_down, rotate_array, turn_boxes
from models_processor.ocr.rapid import RapidOcrEngine
from tests.unit.photo_support import shared_rapid_engine
from tests.unit.test_ocr_orientation import CARD_LINES, assert_read_upright, card

pytestmark = pytest.mark.ocr


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_turned_boxes_cover_the_turned_pixels(rotation):
    """A box drawn into an image and the same box turned by turn_boxes cover the same pixels once the image
    is turned, and the corners come in the detector's order (top-left, top-right, bottom-right, bottom-left)."""
    height, width = 60, 100
    pixels = np.zeros((height, width, 1), dtype=np.uint8)
    pixels[10:20, 30:80] = 1  # a line of "text" 50 px wide, 10 px tall
    box = np.array([[[30, 10], [80, 10], [80, 20], [30, 20]]], dtype=np.float32)
    turned = turn_boxes(box, rotation, width, height)[0]
    ys, xs = np.nonzero(rotate_array(pixels, rotation)[:, :, 0])
    assert (turned[:, 0].min(), turned[:, 0].max()) == (xs.min(), xs.max() + 1)
    assert (turned[:, 1].min(), turned[:, 1].max()) == (ys.min(), ys.max() + 1)
    top_left, top_right, bottom_right, bottom_left = turned
    assert top_left[0] <= top_right[0] and bottom_left[0] <= bottom_right[0]
    assert top_left[1] <= bottom_left[1] and top_right[1] <= bottom_right[1]
    assert box_extent(turned) == ((50.0, 10.0) if rotation == 180 else (10.0, 50.0))


def count_calls(engine: RapidOcrEngine, method: str, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    inner: Any = engine._engine
    original: Callable[..., Any] = getattr(inner, method)
    calls = [0]

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return original(*args)

    monkeypatch.setattr(inner, method, counted)
    return calls


def test_upside_down_page_is_detected_once(monkeypatch):
    """An upside-down card is turned with its boxes: one detection (the engine before detected it again once
    turned), and it is read upright."""
    engine = shared_rapid_engine()
    detections = count_calls(engine, "detect_and_crop", monkeypatch)
    result = engine.recognize(card().rotate(180))
    assert result.rotation == 180
    assert detections[0] == 1
    assert_read_upright(result)


def test_sideways_page_is_detected_again_upright_once(monkeypatch):
    """A sideways card: its turned boxes decide the orientation, then it is detected once upright (boxes drawn
    round sideways text are looser than upright ones): two detections in all, read upright."""
    engine = shared_rapid_engine()
    detections = count_calls(engine, "detect_and_crop", monkeypatch)
    result = engine.recognize(card().rotate(90, expand=True))
    assert result.rotation == 270
    assert detections[0] == 2
    assert_read_upright(result)


@functools.lru_cache(maxsize=1)
def whole_model_engine() -> RapidOcrEngine:
    return RapidOcrEngine(latin_only=False)


def rec_classes(engine: RapidOcrEngine) -> int:
    session = engine._engine.text_rec.session.session
    return int(session.get_outputs()[0].shape[-1])


def test_latin_recogniser_reads_what_the_whole_model_reads():
    """The recogniser with only Latin-script classes (1,725 of 18,710) reads the card exactly as the whole
    multilingual model does, with the same confidence to 1%."""
    latin, whole = shared_rapid_engine(), whole_model_engine()
    assert rec_classes(whole) == 18710
    assert rec_classes(latin) == 1725
    image = card()
    read_latin, read_whole = latin.recognize(image), whole.recognize(image)
    assert [ln.text for ln in read_latin.lines] == [ln.text for ln in read_whole.lines]
    assert len(read_latin.lines) >= len(CARD_LINES) - 1
    for a, b in zip(read_latin.lines, read_whole.lines, strict=True):
        assert a.score == pytest.approx(b.score, abs=0.01)
        assert a.box == b.box


def test_latin_recogniser_keeps_latin_and_drops_ideographs():
    path = shared_rapid_engine()._engine.text_det.session.session._model_path
    assert latin_recogniser(path) is None  # the detector has no character list: nothing is cut
    rec_path = whole_model_engine()._engine.text_rec.session.session._model_path
    latin = latin_recogniser(rec_path)
    assert latin is not None
    assert set("½¼¾°µéèçàüöß€£%/()-.,:•□☐✓") <= set(latin.characters)
    assert "的" not in latin.characters
    assert all(is_kept(c) for c in latin.characters)


def test_text_free_image_still_reads_nothing():
    assert shared_rapid_engine().recognize(Image.new("RGB", (640, 480), "white")).lines == []


def test_split_direction_vote_leaves_the_page_as_photographed():
    """The classifier's sure answers on the 12 longest lines of an upright handwritten index card of the
    held-out set (a bare majority for "180" turned it over and it read "pue" for "and"), and on the same
    card truly upside down."""
    upright_card = [("180", 0.66), ("180", 0.99), ("0", 0.59), ("180", 0.7), ("0", 1.0), ("0", 0.69), ("0", 1.0),
                    ("180", 0.95), ("180", 0.99), ("0", 0.87), ("0", 0.86), ("0", 0.87)]
    assert not is_upside_down(upright_card)
    upside_down_card = [("180", 0.51), ("180", 0.78), ("0", 0.51), ("180", 0.99), ("180", 0.56), ("0", 0.5),
                        ("180", 0.98), ("180", 0.63), ("180", 0.77), ("180", 0.84), ("0", 0.9), ("180", 1.0)]
    assert is_upside_down(upside_down_card)
