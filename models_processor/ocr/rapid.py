"""RapidOCR (PaddleOCR's PP-OCR models on ONNX Runtime): the default, fully offline OCR engine."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from PIL import Image

from models_processor.images import downscale_for_ocr
from models_processor.ocr.base import OcrLine, OcrResult

# Tuned on a 2-core machine (see bench/ocr_speed.py). Why each one:
# - Det.limit_type/limit_side_len: the default ("min", 736) *enlarges* the short side to 736 and never
#   shrinks a large image, so a 12-MP photo is detected at full size (about 3 s). "max" 960 caps the
#   detector input; text on phone photos of labels and recipe cards is still 15+ px tall at that size.
# - intra_op_num_threads=2: one OCR call uses both cores; -1 (all cores) is the same here but would
#   oversubscribe on bigger nodes where several pods share the CPU quota.
# - inter_op_num_threads=1: the PP-OCR graphs are sequential; extra inter-op threads only spin.
# - Global.log_level=warning: RapidOCR logs every model load at info.
DEFAULT_PARAMS: dict[str, Any] = {
    "Global.log_level": "warning",
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
    "EngineConfig.onnxruntime.intra_op_num_threads": 2,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}


class RapidOcrEngine:
    """Loads RapidOCR once; `recognize` may be called from any thread.

    Thread safety: ONNX Runtime's `InferenceSession.run` is thread-safe, but RapidOCR's pipeline object
    is not designed for it: `RapidOCR.__call__` writes per-call options onto the instance
    (`update_params`) and `TextDetector.__call__` replaces `self.preprocess_op` on every call. Those
    writes are benign with our fixed options, but relying on that ties us to library internals. More
    importantly, on a small node concurrent OCR calls do not finish sooner: each call already uses
    every core (intra_op threads), so parallel calls only contend for CPU and multiply peak memory
    (a 960-px detection plus its crops is ~100-200 MB of activations per call). So calls are
    serialised by a lock: bounded memory, same throughput. A caller wanting parallel OCR on a big node
    builds several engines (each holds its own sessions, ~180 MB).
    """

    name = "rapidocr"

    def __init__(self, params: dict[str, Any] | None = None, max_side: int = 1600) -> None:
        # Imported here so that importing this module (e.g. for the factory) stays cheap and so that
        # models_processor/__init__ has already set ORT_DISABLE_TELEMETRY before onnxruntime loads.
        from rapidocr import RapidOCR

        merged = {**DEFAULT_PARAMS, **(params or {})}
        self._engine = RapidOCR(params=merged)
        self._max_side = max_side
        self._lock = threading.Lock()
        # RapidOCR loads its three models lazily on the first call; do it now so the first request
        # does not pay for it and readiness means "ready".
        self._run(np.full((64, 256, 3), 255, dtype=np.uint8))

    def _run(self, bgr: np.ndarray) -> Any:
        with self._lock:
            return self._engine(bgr)

    def recognize(self, image: Image.Image) -> OcrResult:
        start = time.perf_counter()
        width, height = image.size
        small, scale = downscale_for_ocr(image.convert("RGB") if image.mode != "RGB" else image, self._max_side)
        # A numpy array is passed as-is by RapidOCR (it would fetch a str that looks like a URL, and skip
        # EXIF for bytes). It expects BGR channel order for arrays, like OpenCV.
        bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
        resize_s = time.perf_counter() - start
        out = self._run(bgr)
        lines = _to_lines(out, scale, width, height)
        elapse = list(getattr(out, "elapse_list", None) or [])
        stages = {"resize": resize_s}
        for stage, seconds in zip(("det", "cls", "rec"), elapse):
            stages[stage] = float(seconds or 0.0)
        return OcrResult(lines, width, height, time.perf_counter() - start, stages)


def _to_lines(out: Any, scale: float, width: int, height: int) -> list[OcrLine]:
    """Map RapidOCR's output (boxes in the downscaled image) to OcrLines in the caller's pixel space."""
    boxes = getattr(out, "boxes", None)
    txts = getattr(out, "txts", None)
    scores = getattr(out, "scores", None)
    if boxes is None or txts is None or scores is None:
        return []  # RapidOCROutput() with no text
    lines = []
    for box, text, score in zip(boxes, txts, scores):
        points = tuple(
            (min(max(float(x) / scale, 0.0), float(width)), min(max(float(y) / scale, 0.0), float(height)))
            for x, y in box
        )
        lines.append(OcrLine(text=str(text), score=float(score), box=points))  # type: ignore[arg-type]
    return lines
