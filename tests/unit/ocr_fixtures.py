"""Shared fixtures for the OCR and classifier tests: the sample photos and one RapidOCR engine per
session (loading models takes ~1 s and ~180 MB; OCR itself ~1 s a photo, so results are cached too).
Import the fixtures by name into a test module: `from tests.unit.ocr_fixtures import rapid_engine`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from models_processor.ocr.base import OcrLine, OcrResult
from tests.sample_photos import SAMPLES_DIR as SAMPLES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ocr"


def ground_truth() -> dict:
    path = SAMPLES / "ground_truth.json"
    if not path.is_file():
        return {}
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def sample_names() -> list[str]:
    return sorted(ground_truth())


def load_sample(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as raw:
        return ImageOps.exif_transpose(raw).convert("RGB")


def load_fixture(name: str) -> OcrResult:
    """Recorded OCR output (bench/dump_ocr.py) as an OcrResult."""
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    lines = [OcrLine(ln["text"], ln["score"], tuple(tuple(p) for p in ln["box"])) for ln in doc["lines"]]
    return OcrResult(lines, doc["width"], doc["height"])




@pytest.fixture(scope="session")
def rapid_engine():
    from models_processor.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine()


@pytest.fixture(scope="session")
def ocr_results(rapid_engine) -> dict[str, OcrResult]:
    """OCR of every sample, computed once per session."""
    return {name: rapid_engine.recognize(load_sample(name)) for name in sample_names()}
