"""RapidOcrEngine on real photos: known text, coordinates in the caller's pixel space, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models_processor.ocr.paddle import PaddleOcrUnavailable, lines_from_predict
from tests.unit.ocr_fixtures import load_sample, ocr_results, rapid_engine  # noqa: F401

pytestmark = pytest.mark.ocr


# Strings a careful reader sees on each photo and that OCR must find (compared without spaces/case,
# since OCR sometimes drops the space between bold and regular type).
KNOWN = {
    "nutrition_cranberry_juice.jpg": ["Nutrition Facts", "Calories 110", "Sodium 15mg", "Potassium 190mg"],
    "nutrition_orange_juice.jpg": ["Nutrition Facts", "Total Carbohydrate 33g", "Protein 2g"],
    "nutrition_snack_label.jpg": ["Nutrition Facts", "Calories 155", "Sodium 148mg", "Total Fat 11g"],
    "recipe_savoury_bread.png": ["SAVOURY BREAD", "baking powder", "salt, pepper", "Preheat the oven"],
    "recipe_zucchine.png": ["ZUCCHINE ALLA SCAPECE", "SERVES 6", "white wine vinegar"],
    "recipe_pumpkin_pie.png": ["Pumpkin Pie", "Ingredients", "Directions"],
}


def _squash(text: str) -> str:
    return "".join(text.lower().split())


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_strings_found(ocr_results, name):
    text = _squash(ocr_results[name].text)
    missing = [s for s in KNOWN[name] if _squash(s) not in text]
    assert not missing, f"{name}: missing {missing}"


def test_boxes_within_image_and_sizes_match(ocr_results):
    for name, result in ocr_results.items():
        img = load_sample(name)
        assert (result.width, result.height) == img.size
        for line in result.lines:
            assert 0 <= line.left <= line.right <= result.width, (name, line)
            assert 0 <= line.top <= line.bottom <= result.height, (name, line)
            assert 0.0 <= line.score <= 1.0
        assert result.elapsed_s > 0


def test_boxes_mapped_back_after_downscale(rapid_engine, ocr_results):
    """An upscaled copy is downscaled before detection; its boxes must come back in its own pixel space,
    i.e. 8x the boxes found on the original."""
    name = "nutrition_snack_label.jpg"
    small = load_sample(name)
    big = small.resize((small.width * 8, small.height * 8), Image.Resampling.LANCZOS)  # 1792x2664 > 1600
    result = rapid_engine.recognize(big)
    assert (result.width, result.height) == big.size
    assert set(result.stage_s) >= {"det", "rec"}
    # Compare lines whose text occurs once on each side ("5%" occurs several times on a label).
    def unique(lines):
        texts = [ln.text for ln in lines]
        return {ln.text: ln for ln in lines if texts.count(ln.text) == 1}

    ref, got = unique(ocr_results[name].lines), unique(result.lines)
    matched = [(got[t], ref[t]) for t in got.keys() & ref.keys()]
    assert len(matched) >= 5
    for big_line, small_line in matched:
        assert abs(big_line.center_y - 8 * small_line.center_y) < 8 * 6  # within ~6 px of the original


def test_text_free_image_gives_no_lines(rapid_engine):
    rng = np.random.default_rng(0)
    noise = rng.normal(128, 6, size=(600, 800, 3)).clip(0, 255).astype(np.uint8)
    result = rapid_engine.recognize(Image.fromarray(noise))
    assert len(result.lines) == 0


def test_non_rgb_input_accepted(rapid_engine):
    img = load_sample("nutrition_snack_label.jpg").convert("L")
    result = rapid_engine.recognize(img)
    assert "nutritionfacts" in _squash(result.text)


def test_concurrent_recognize_matches_sequential(rapid_engine):
    names = ["nutrition_snack_label.jpg", "recipe_savoury_bread.png", "nutrition_snack_label.jpg",
             "recipe_savoury_bread.png"]
    images = [load_sample(n) for n in names]
    sequential = [[ln.text for ln in rapid_engine.recognize(img).lines] for img in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = [[ln.text for ln in r.lines] for r in pool.map(rapid_engine.recognize, images)]
    assert concurrent == sequential


# --- PaddleOCR: the mapping is tested without paddleocr installed ---

def test_paddle_mapping_from_fake_predict_result():
    fake = [{
        "rec_texts": ["Nutrition Facts", "", "Calories 110"],
        "rec_scores": np.array([0.99, 0.2, 0.95]),
        "rec_polys": [
            np.array([[10, 20], [110, 20], [110, 40], [10, 40]], dtype=np.int16),
            np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.int16),
            np.array([[10, 50], [300, 50], [300, 70], [10, 70]], dtype=np.int16),  # runs past the edge
        ],
    }]
    lines = lines_from_predict(fake, scale=0.5, width=500, height=400)
    assert [ln.text for ln in lines] == ["Nutrition Facts", "Calories 110"]  # empty text dropped
    assert lines[0].box == ((20.0, 40.0), (220.0, 40.0), (220.0, 80.0), (20.0, 80.0))  # scaled back
    assert lines[1].right == 500.0  # clamped to the image
    assert lines[1].score == pytest.approx(0.95)


def test_paddle_mapping_odd_polygon_becomes_rectangle():
    fake = [{"rec_texts": ["x"], "rec_scores": [0.9], "rec_polys": [[[0, 0], [4, 0], [5, 3], [4, 6], [0, 6]]]}]
    (line,) = lines_from_predict(fake, width=10, height=10)
    assert line.box == ((0.0, 0.0), (5.0, 0.0), (5.0, 6.0), (0.0, 6.0))


def test_paddle_engine_clear_error_without_models(tmp_path):
    from models_processor.ocr.paddle import PaddleOcrEngine

    with pytest.raises(PaddleOcrUnavailable, match="OCR_MODEL_DIR"):
        PaddleOcrEngine("")
    with pytest.raises(PaddleOcrUnavailable, match="det"):
        PaddleOcrEngine(str(tmp_path))


def test_paddle_engine_clear_error_without_paddleocr(tmp_path):
    for sub in ("det", "rec"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "inference.json").write_text("{}")
        (tmp_path / sub / "inference.pdiparams").write_bytes(b"")
    from models_processor.ocr.paddle import PaddleOcrEngine

    try:
        import paddleocr  # noqa: F401
    except ImportError:
        with pytest.raises(PaddleOcrUnavailable, match=r"requirements-paddle\.txt"):
            PaddleOcrEngine(str(tmp_path))
    else:  # pragma: no cover
        pytest.skip("paddleocr installed")


def test_factory_builds_rapidocr_and_reports_paddle_errors():
    from models_processor.config import load_settings
    from models_processor.ocr.factory import build_ocr_engine

    with pytest.raises(PaddleOcrUnavailable):
        build_ocr_engine(load_settings({"OCR_ENGINE": "paddleocr"}))
    engine = build_ocr_engine(load_settings({"OCR_ENGINE": "rapidocr", "OCR_MAX_SIDE": "1200"}))
    assert engine.name == "rapidocr"


def test_onnxruntime_telemetry_off_before_it_loads(tmp_path):
    """ORT_DISABLE_TELEMETRY is set by the package before onnxruntime is imported (it is read at import):
    a fresh process with a clean environment builds the engine, OCRs, and leaves nothing under ~/.cache."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "import models_processor.ocr.rapid as rapid\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "assert os.environ['ORT_DISABLE_TELEMETRY'] == '1'\n"
        "from PIL import Image\n"
        "rapid.RapidOcrEngine().recognize(Image.new('RGB', (200, 60), 'white'))\n"
        "assert 'onnxruntime' in sys.modules\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=str(Path(__file__).resolve().parents[2]), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / ".cache").exists() or not any((tmp_path / ".cache").rglob("*"))
