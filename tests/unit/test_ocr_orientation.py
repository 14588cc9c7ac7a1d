"""Page orientation: sideways and upside-down pages are read upright, and the pixels win over an EXIF
orientation flag that contradicts them. Real RapidOCR on a rendered recipe card (Debian's DejaVu fonts)."""

from __future__ import annotations

import base64
import difflib
import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models_processor.images import decode_photo
from models_processor.ocr.orientation import is_sideways, is_upside_down, rotate_array, upright_image
from tests.unit.photo_support import shared_rapid_engine

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
CARD_LINES = ("Savoury Cheese Scones", "Makes 8 scones", "225g self-raising flour", "1 tsp baking powder",
              "55g cold butter, cubed", "100g mature cheddar, grated", "150ml milk",
              "Heat the oven to 220C and grease a tray.", "Rub the butter into the flour until fine.",
              "Stir in the cheese, then the milk, to a soft dough.", "Cut out rounds and bake for 12 minutes.")
SIZE = (1000, 760)  # landscape, so a sideways card has a different shape


@functools.lru_cache(maxsize=1)
def card() -> Image.Image:
    image = Image.new("RGB", SIZE, (250, 248, 240))
    draw = ImageDraw.Draw(image)
    y = 40
    for i, text in enumerate(CARD_LINES):
        draw.text((50, y), text, fill=(20, 20, 20), font=ImageFont.truetype(FONT, 40 if i == 0 else 30))
        y += 62 if i == 0 else 56
    return image


def jpeg(image: Image.Image, orientation: int | None = None) -> str:
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(out, format="JPEG", quality=92, exif=exif.tobytes())
    return base64.b64encode(out.getvalue()).decode()


def lines_read(result) -> list[str]:
    """The recognised lines top to bottom (the reading order the parsers use)."""
    return [line.text for line in sorted(result.lines, key=lambda line: line.top)]


def assert_read_upright(result) -> None:
    assert (result.width, result.height) == SIZE
    read = lines_read(result)
    found = sum(max(difflib.SequenceMatcher(None, want.lower(), got.lower()).ratio() for got in read) >= 0.9
                for want in CARD_LINES)
    assert found >= len(CARD_LINES) - 1, read
    # Top to bottom as printed: the title first, the last step last.
    assert difflib.SequenceMatcher(None, read[0], CARD_LINES[0]).ratio() > 0.8, read
    assert difflib.SequenceMatcher(None, read[-1], CARD_LINES[-1]).ratio() > 0.8, read


@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_turned_page_is_read_upright(turned):
    """A card photographed turned by `turned` degrees (counter-clockwise), with no EXIF flag."""
    image = card().rotate(turned, expand=True) if turned else card()
    result = shared_rapid_engine().recognize(image)
    assert result.rotation == (360 - turned) % 360
    assert_read_upright(result)


@pytest.mark.parametrize("flag", [6, 8, 3])  # rotate 90 CW, 90 CCW, 180 to display
def test_exif_flag_contradicting_upright_pixels_loses(flag):
    """Upright pixels with an EXIF flag saying "turn me": intake applies the flag (as every viewer does),
    the page comes out turned, and OCR turns it back: the pixels win."""
    decoded = decode_photo(jpeg(card(), flag), max_bytes=8 << 20, max_pixels=40_000_000)
    assert decoded.image.size == (SIZE if flag == 3 else SIZE[::-1])  # the flag was applied
    result = shared_rapid_engine().recognize(decoded.image)
    assert result.rotation != 0
    assert_read_upright(result)


def test_exif_flag_matching_sideways_pixels_needs_no_turn():
    # Pixels stored sideways (as phone sensors do) with the right flag: intake makes them upright.
    stored = card().rotate(90, expand=True)  # turned counter-clockwise; flag 6 turns it back clockwise
    decoded = decode_photo(jpeg(stored, 6), max_bytes=8 << 20, max_pixels=40_000_000)
    result = shared_rapid_engine().recognize(decoded.image)
    assert result.rotation == 0
    assert_read_upright(result)


# ----------------------------------------------------------------------------- the decisions themselves

def box(x: float, y: float, width: float, height: float) -> np.ndarray:
    return np.array([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], dtype=float)


def test_sideways_when_most_lines_run_along_y():
    lines = [box(0, i * 40, 400, 30) for i in range(5)]
    assert not is_sideways(lines)
    assert is_sideways([box(i * 40, 0, 30, 400) for i in range(5)])
    # Square boxes ("0%", "4") say nothing; a few tall ones among many lines do not turn the page.
    assert not is_sideways(lines + [box(500, 0, 30, 30)] * 10 + [box(600, 0, 20, 90)] * 2)
    assert not is_sideways([])


def test_upside_down_needs_confident_majority():
    assert is_upside_down([("180", 0.99)] * 5 + [("0", 0.95)])
    assert not is_upside_down([("180", 0.99)] * 2 + [("0", 0.99)] * 3)
    assert not is_upside_down([("180", 0.6)] * 8)  # unsure answers do not count
    assert not is_upside_down([("180", 0.99)])  # one line is not a page


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_array_and_image_turns_agree(rotation):
    image = Image.new("RGB", (4, 3))
    image.putpixel((0, 0), (255, 0, 0))
    turned = upright_image(image, rotation)
    assert np.array_equal(np.asarray(turned), rotate_array(np.asarray(image), rotation))


@pytest.mark.parametrize("flag", [6, 3])
def test_label_with_a_wrong_exif_flag_is_parsed_through_the_pipeline(flag):
    """The whole photo path (intake, OCR, classifier, parser) on a real label whose JPEG carries a flag its
    upright pixels contradict: the kind and the values are those of the upright label."""
    from models_processor.deadline import Deadline
    from models_processor.llm.base import UnconfiguredModel
    from models_processor.messages import Request, Source
    from models_processor.metrics import Metrics
    from models_processor.pipeline.photo import PhotoPipeline
    from tests.unit.photo_support import SAMPLES, ground_truth, pipeline_settings

    name = "nutrition_cranberry_juice.jpg"
    with Image.open(SAMPLES / name) as raw:
        upright = raw.convert("RGB")
    pipeline = PhotoPipeline(pipeline_settings(None), shared_rapid_engine(), UnconfiguredModel("vision", "X", "m"),
                             Metrics(), use_llm=False)
    request = Request(user_email="u@example.com", photo=jpeg(upright, flag))
    response = pipeline.run(request, request_id="r-exif", deadline=Deadline.after(120))
    assert response.kind is not None and response.kind.value == "nutrition_label"
    for field, value in ground_truth()[name]["expected"].items():
        assert response.result[field] == value, field
        assert response.sources[field] is Source.OCR, field
