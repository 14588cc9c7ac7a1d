"""PaddleOCR 3.x as an OCR engine: an optional extra (requirements-paddle.txt), never imported unless
OCR_ENGINE=paddleocr.

PaddleOCR downloads models from the internet by default; here it only loads local model folders:

    <model_dir>/det/   a PP-OCR text-detection model (inference.json or .pdmodel + inference.pdiparams)
    <model_dir>/rec/   a PP-OCR text-recognition model (same files)

e.g. the PP-OCRv5_server_det / PP-OCRv5_server_rec inference folders renamed to det and rec.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from models_processor.images import downscale_for_ocr
from models_processor.ocr.base import OcrLine, OcrResult

Point = tuple[float, float]
Quad = tuple[Point, Point, Point, Point]  # OcrLine.box: four corners clockwise from top-left

# A model folder holds the graph in one of these files, next to inference.pdiparams.
_GRAPH_FILES = ("inference.json", "inference.pdmodel")


class PaddleOcrUnavailable(RuntimeError):
    """paddleocr is not installed, or the model folder is missing or incomplete. Raised at start-up."""


def _model_folder(model_dir: Path, sub: str) -> Path:
    folder = model_dir / sub
    has_graph = any((folder / name).is_file() for name in _GRAPH_FILES)
    if not (has_graph and (folder / "inference.pdiparams").is_file()):
        raise PaddleOcrUnavailable(
            f"OCR_MODEL_DIR: {folder} must hold a Paddle inference model "
            f"(inference.pdiparams and one of {', '.join(_GRAPH_FILES)})"
        )
    return folder


class PaddleOcrEngine:
    """PaddleOCR pipeline from local model folders. Calls are serialised (Paddle's predictor objects
    are not documented as thread-safe, and one call already uses every core)."""

    name = "paddleocr"

    def __init__(self, model_dir: str, max_side: int = 1600) -> None:
        if not model_dir:
            raise PaddleOcrUnavailable("OCR_MODEL_DIR must be set when OCR_ENGINE=paddleocr")
        root = Path(model_dir)
        det_dir = _model_folder(root, "det")
        rec_dir = _model_folder(root, "rec")
        # Without this PaddleX contacts model hosting sites at start-up even for local folders.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        try:
            from paddleocr import PaddleOCR  # lazy: the optional extra is 1.4 GB
        except ImportError as exc:
            raise PaddleOcrUnavailable(
                "OCR_ENGINE=paddleocr needs the optional extra: pip install -r requirements-paddle.txt "
                f"({exc})"
            ) from None
        self._ocr = PaddleOCR(
            text_detection_model_dir=str(det_dir),
            text_recognition_model_dir=str(rec_dir),
            # Document unwarping/orientation models would be downloaded; photos are upright after EXIF.
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
        )
        self._max_side = max_side
        self._lock = threading.Lock()

    def recognize(self, image: Image.Image) -> OcrResult:
        start = time.perf_counter()
        width, height = image.size
        small, scale = downscale_for_ocr(image.convert("RGB") if image.mode != "RGB" else image, self._max_side)
        bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])  # PaddleX reads arrays as BGR (OpenCV)
        with self._lock:
            results = list(self._ocr.predict(bgr))
        lines = lines_from_predict(results, scale=scale, width=width, height=height)
        return OcrResult(lines, width, height, time.perf_counter() - start, {})


def lines_from_predict(
    results: Iterable[Mapping[str, Any]], *, scale: float = 1.0, width: int, height: int
) -> list[OcrLine]:
    """Map PaddleOCR `predict()` results (dict-like, with rec_texts, rec_scores, rec_polys) to OcrLines
    in the caller's pixel space. Pure function: unit-tested without paddleocr."""
    lines: list[OcrLine] = []
    for res in results:
        texts = list(res.get("rec_texts") or [])
        raw_scores = res.get("rec_scores")
        scores = list(raw_scores) if raw_scores is not None else []
        polys = res.get("rec_polys")
        polys = list(polys) if polys is not None else []
        for text, score, poly in zip(texts, scores, polys, strict=False):
            if not str(text).strip():
                continue
            points = [
                (min(max(float(x) / scale, 0.0), float(width)), min(max(float(y) / scale, 0.0), float(height)))
                for x, y in np.asarray(poly, dtype=float).reshape(-1, 2)
            ]
            lines.append(OcrLine(text=str(text), score=float(score), box=_four_corners(points)))
    return lines


def _four_corners(points: list[tuple[float, float]]) -> Quad:
    """OcrLine wants four corners clockwise from top-left; rec_polys are usually exactly that, but a
    polygon of another length is reduced to its bounding rectangle."""
    if len(points) == 4:
        return points[0], points[1], points[2], points[3]
    xs = [p[0] for p in points] or [0.0]
    ys = [p[1] for p in points] or [0.0]
    return ((min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys)))
