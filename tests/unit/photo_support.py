"""Shared parts of the photo pipeline tests (unit and e2e): samples, one RapidOCR engine per process with
an OCR cache, OCR doubles built from the recorded dumps, and a pipeline wired to a stand-in Ollama."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from PIL import Image

from models_processor.config import Settings, load_settings
from models_processor.llm.factory import build_models
from models_processor.metrics import Metrics
from models_processor.ocr.base import OcrResult
from models_processor.pipeline.photo import PhotoPipeline
from tests.unit.ocr_fixtures import load_fixture

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "samples"


def ground_truth() -> dict:
    doc = json.loads((SAMPLES / "ground_truth.json").read_text())
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def sample_b64(name: str) -> str:
    return base64.b64encode((SAMPLES / name).read_bytes()).decode()


@functools.lru_cache(maxsize=1)
def shared_rapid_engine():
    """One RapidOCR engine per test process, whichever module asks first."""
    from models_processor.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine()


class CachingOcr:
    """The real engine, with results cached by image content: each sample is OCR'd once per process."""

    name = "rapidocr-cached"
    _cache: ClassVar[dict[str, OcrResult]] = {}  # shared by every instance: one OCR per sample per run
    _lock = threading.Lock()

    def __init__(self, engine) -> None:
        self._engine = engine
        self.calls = 0

    def recognize(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        key = f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"
        with self._lock:
            hit = self._cache.get(key)
        if hit is None:
            hit = self._engine.recognize(image)
            with self._lock:
                self._cache[key] = hit
        return hit


class DumpOcr:
    """An OCR double: the recorded OCR of a sample (tests/fixtures/ocr), minus the lines `drop` selects."""

    name = "dump"

    def __init__(self, sample: str, drop: Callable[[str], bool] = lambda text: False) -> None:
        full = load_fixture(sample)
        self.result = OcrResult([line for line in full.lines if not drop(line.text)], full.width, full.height)
        self.calls = 0

    def recognize(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        return self.result


def pipeline_settings(ollama_url: str | None, **extra: str) -> Settings:
    env = {"RESULT_CACHE_SIZE": "0", **extra}
    if ollama_url:
        env["OLLAMA_HOST"] = ollama_url
    return load_settings(env)


def make_pipeline(ollama_url: str | None, ocr, *, use_llm: bool = True, **extra: str) -> PhotoPipeline:
    """A PhotoPipeline as the service builds it: build_models on Settings whose OLLAMA_HOST is `ollama_url`
    (None: no model server configured)."""
    settings = pipeline_settings(ollama_url, **extra)
    metrics = Metrics()
    vision = build_models(settings, metrics).vision
    return PhotoPipeline(settings, ocr, vision, metrics, use_llm=use_llm)


def chat_requests(standin) -> list:
    return [r for r in standin.requests if r.path == "/api/chat"]
