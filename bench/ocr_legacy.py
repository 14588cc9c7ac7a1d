"""The OCR engine as it was before the issue-12 speed work (commit 2f71f3c), kept as the baseline that
bench/ocr_speed.py measures the current engine against in the same run. Not used by the service.

Two full OCR passes for small print (detection + per-line direction classifier + recognition each time),
recognition batches of 6, ONNX Runtime threads spinning (RapidOCR's session defaults)."""

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
# - Det.unclip_ratio=1.4 (default 1.6): each detected region is grown by this factor before its crop is
#   recognised. On dense small print (line pitch ~1.2 text heights) 1.6 makes a crop take in strokes of
#   the lines above and below, which garbles the line ("Jtdn dsr" for "1 tsp baking powder"); 1.4 keeps
#   descenders and accents and no sample lost a character.
# - The detection resolution is chosen per image in `recognize` (see _detection_scale); the two
#   Det.limit_* values here are only the first pass.
# - intra_op_num_threads=2: one OCR call uses both cores; -1 (all cores) is the same here but would
#   oversubscribe on bigger nodes where several pods share the CPU quota.
# - inter_op_num_threads=1: the PP-OCR graphs are sequential; extra inter-op threads only spin.
# - Global.log_level=warning: RapidOCR logs every model load at info.
DEFAULT_PARAMS: dict[str, Any] = {
    "Global.log_level": "warning",
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
    "Det.unclip_ratio": 1.4,
    "EngineConfig.onnxruntime.intra_op_num_threads": 2,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
}


# Detection resolution, chosen per image. The text detector finds lines best when they are some 20-40 px
# tall in its input; the recogniser always reads crops of the image passed in (not the detector's
# resized copy), so the detection scale costs detection time only.
# - First pass: the long side capped at DET_BASE_SIDE (a 12-MP photo is not detected at full size).
# - When the median detected line is shorter than TEXT_HEIGHT_TARGET px in the detector's input (small
#   print: a scanned book page, a whole recipe page in a phone photo, a small screenshot), detection runs
#   again enlarged so that it reaches the target, at most MAX_UPSCALE times the image and DET_MAX_SIDE on
#   the long side. Without this, lines of small print are missed or two neighbouring lines are detected
#   as one (the recogniser then reads garbage). Large print is not enlarged: a detector input much larger
#   than needed merges neighbouring lines of large type on curved packaging.
DET_BASE_SIDE = 960
DET_MAX_SIDE = 1600
TEXT_HEIGHT_TARGET = 22.0
MAX_UPSCALE = 4.0
# A second pass must enlarge detection by at least this factor to be worth its time.
RESCAN_MIN_GAIN = 1.15


def _box_heights(out: Any) -> list[float]:
    """Heights (in the pixels of the image passed to RapidOCR) of the detected boxes."""
    boxes = getattr(out, "boxes", None)
    if boxes is None:
        return []
    heights = []
    for box in boxes:
        pts = np.asarray(box, dtype=np.float64)
        if pts.shape != (4, 2):
            continue
        heights.append(float(np.linalg.norm(pts[3] - pts[0]) + np.linalg.norm(pts[2] - pts[1])) / 2)
    return heights


def _detection_scale(width: int, height: int, base: float, heights: list[float]) -> float:
    """Scale for the detector's input given the line heights found at scale `base`."""
    if not heights:
        return base  # no text (or none found): enlarging a text-free photo only costs time
    typical = float(np.median(heights)) * base
    if typical >= TEXT_HEIGHT_TARGET:
        return base
    wanted = base * TEXT_HEIGHT_TARGET / max(typical, 1.0)
    return max(base, min(wanted, MAX_UPSCALE, DET_MAX_SIDE / max(width, height)))


class LegacyRapidOcrEngine:
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

    name = "rapidocr-before-issue-12"

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
        """OCR at the detection resolution chosen for this image: a first pass at the base resolution,
        then, when the text it found is small, a second pass with the detector's input enlarged."""
        with self._lock:
            height, width = bgr.shape[:2]
            base = min(1.0, DET_BASE_SIDE / max(width, height))
            if not self._set_detection_scale(width, height, base):
                return self._engine(bgr)  # the library changed: fixed settings (DEFAULT_PARAMS)
            out = self._engine(bgr)
            scale = _detection_scale(width, height, base, _box_heights(out))
            if scale <= base * RESCAN_MIN_GAIN:
                return out
            self._set_detection_scale(width, height, scale)
            try:
                again = self._engine(bgr)
            finally:
                self._set_detection_scale(width, height, base)
            # Keep the first pass when the enlarged one found nothing (it cannot be worse in general,
            # but an empty answer is never the better one).
            return again if _box_heights(again) else out

    def _set_detection_scale(self, width: int, height: int, scale: float) -> bool:
        """Make the detector resize its input by `scale` (RapidOCR reads `limit_type`/`limit_side_len`
        from its TextDetector on every call; "max" only shrinks, "min" only enlarges)."""
        det = getattr(self._engine, "text_det", None)
        if det is None or not hasattr(det, "limit_type") or not hasattr(det, "limit_side_len"):
            return False
        if scale <= 1.0:
            det.limit_type, det.limit_side_len = "max", max(32, round(max(width, height) * scale))
        else:
            det.limit_type, det.limit_side_len = "min", max(32, round(min(width, height) * scale))
        return True

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
        for stage, seconds in zip(("det", "cls", "rec"), elapse, strict=False):
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
    for box, text, score in zip(boxes, txts, scores, strict=False):
        points = tuple(
            (min(max(float(x) / scale, 0.0), float(width)), min(max(float(y) / scale, 0.0), float(height)))
            for x, y in box
        )
        lines.append(OcrLine(text=str(text), score=float(score), box=points))  # type: ignore[arg-type]
    return lines
