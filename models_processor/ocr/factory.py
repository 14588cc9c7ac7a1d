"""Build the configured OCR engine (OCR_ENGINE). Engines are built once at start-up and passed in."""

from __future__ import annotations

from models_processor.config import OcrEngineName, Settings
from models_processor.ocr.base import OcrEngine


def build_ocr_engine(settings: Settings) -> OcrEngine:
    # Engine modules are imported here, not at the top: each pulls in a heavy runtime (onnxruntime,
    # paddle) and only the configured one should be loaded.
    if settings.ocr_engine == OcrEngineName.RAPIDOCR:
        from models_processor.ocr.rapid import RapidOcrEngine

        return RapidOcrEngine(max_side=settings.ocr_max_side)
    if settings.ocr_engine == OcrEngineName.PADDLEOCR:
        from models_processor.ocr.paddle import PaddleOcrEngine

        return PaddleOcrEngine(settings.ocr_model_dir, max_side=settings.ocr_max_side)
    raise ValueError(f"OCR_ENGINE: unknown engine {settings.ocr_engine!r}")  # pragma: no cover - enum-checked
