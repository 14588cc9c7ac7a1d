"""RapidOCR (PaddleOCR's PP-OCR models on ONNX Runtime): the default, fully offline OCR engine."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from models_processor.images import downscale_for_ocr
from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.ocr.fraction_pass import recognise as recognise_with_fractions
from models_processor.ocr.latin_head import latin_recogniser
from models_processor.ocr.orientation import (
    is_sideways,
    is_upside_down,
    longest_lines,
    rotate_array,
    turn_boxes,
)
from models_processor.ocr.sessions import rebuild_sessions

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
# - inter_op_num_threads=1: the PP-OCR graphs are sequential; extra inter-op threads only spin. The
#   intra-op threads do not spin either (ocr/sessions.py).
# - Rec.rec_batch_num=1 (default 6): the recogniser pads every crop of a batch to the widest one, and its
#   cost grows faster than linearly with width; one crop a batch did the same work in 20% less CPU (2.8 s
#   against 3.5 s for a 48-line page; docs/ocr-speed.md).
# - Rec.rec_img_shape stays [3, 48, 320]: every crop is padded to at least 320 px wide, which makes a short
#   line cost as much as a 320-px one; a floor of 48 saved 1-8% of recognition but misread the last
#   character of short crops ("16%" as "169", "6%" as "696" on a label; docs/ocr-speed.md).
# - Global.use_cls=False: the page is turned upright as a whole (ocr/orientation.py), so the per-line
#   direction classifier only costs time (and turned some upright lines over).
# - Global.log_level=warning: RapidOCR logs every model load at info.
DEFAULT_PARAMS: dict[str, Any] = {
    "Global.log_level": "warning",
    "Global.use_cls": False,
    "Det.limit_type": "max",
    "Det.limit_side_len": 960,
    "Det.unclip_ratio": 1.4,
    "Rec.rec_batch_num": 1,
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
# - TEXT_HEIGHT_TARGET 18 (was 22): the enlarged pass costs a third less detection time, and on the samples
#   that are rescanned it read as well or better ("3 eggs" for "3 oggs", "1 garlic clove" keeping its
#   quantity); rendered pages read 100% either way (docs/ocr-speed.md).
DET_BASE_SIDE = 960
DET_MAX_SIDE = 1600
TEXT_HEIGHT_TARGET = 18.0
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


@dataclass
class _Pass:
    """One detection of the image at one orientation and scale: what the recogniser will read."""

    image: np.ndarray  # BGR, turned by `rotation`
    rotation: int
    op_record: dict[str, Any]
    crops: list[np.ndarray]
    det: Any  # RapidOCR's TextDetOutput
    seconds: dict[str, float] = field(default_factory=dict)
    # Boxes detected on the page sideways and turned with it: the detector draws boxes round text running
    # along y some 5-20% taller than round the same text upright (29 against 24 px on a scanned page), so
    # they are good for the orientation and the scale, not for the crops (docs/ocr-speed.md).
    loose: bool = False


class RapidOcrEngine:
    """Loads RapidOCR once; `recognize` may be called from any thread.

    One call runs RapidOCR's stages itself (its public detect_and_crop / cls_and_rotate / recognize_txt /
    build_final_output) instead of `RapidOCR.__call__`, so that recognition, which is most of the time, runs
    once, on the detection finally chosen:
      1. detect at the base scale;
      2. lines mostly tall: the page is sideways, turn it and its boxes 90 degrees; the direction
         classifier on the longest lines says whether it is now upside down (turn it 180 degrees); a turn
         moves the boxes found with the page, it does not detect again;
      3. small print: detect again enlarged (see _detection_scale); a page turned from sideways: detect
         again upright, once (boxes drawn round sideways text are looser);
      4. recognise the crops of that detection.
    Per-line direction classification is off (Global.use_cls=False): the page is upright by then.

    Thread safety: ONNX Runtime's `InferenceSession.run` is thread-safe, but RapidOCR's pipeline object is
    not designed for it (it writes per-call options and the detector's resize settings onto itself). On a
    small node concurrent OCR calls do not finish sooner either: each call already uses every core
    (intra_op threads), so parallel calls only contend for CPU and multiply peak memory. So calls are
    serialised by a lock: bounded memory, same throughput. A caller wanting parallel OCR on a big node
    builds several engines (each holds its own sessions, ~180 MB). See docs/ocr-speed.md.
    """

    name = "rapidocr"

    def __init__(self, params: dict[str, Any] | None = None, max_side: int = 1600, *,
                 allow_spinning: bool = False, latin_only: bool = True, reread_fractions: bool = True) -> None:
        # Imported here so that importing this module (e.g. for the factory) stays cheap and so that
        # models_processor/__init__ has already set ORT_DISABLE_TELEMETRY before onnxruntime loads.
        from rapidocr import RapidOCR

        merged = {**DEFAULT_PARAMS, **(params or {})}
        self._engine = RapidOCR(params=merged)
        self._max_side = max_side
        self._lock = threading.Lock()
        self._staged = all(hasattr(self._engine, name) for name in _STAGES)
        self._reread_fractions = reread_fractions
        # RapidOCR loads its three models lazily on the first call; do it now so the first request
        # does not pay for it and readiness means "ready".
        self._warm_up()
        if self._staged:
            threads = int(merged["EngineConfig.onnxruntime.intra_op_num_threads"])
            models = self._latin_recogniser() if latin_only else {}
            if rebuild_sessions(self._engine, threads if threads > 0 else (os.cpu_count() or 1),
                                allow_spinning=allow_spinning, models=models):
                self._warm_up()

    def _latin_recogniser(self) -> dict[str, bytes]:
        """The recogniser's model bytes with Latin-script classes only, its decoder switched to their
        characters (ocr/latin_head.py); {} (the whole model kept) when RapidOCR's layout is not the known one."""
        from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

        rec = getattr(self._engine, "text_rec", None)
        path = getattr(getattr(getattr(rec, "session", None), "session", None), "_model_path", None)
        if rec is None or not isinstance(path, str) or not hasattr(rec, "postprocess_op"):
            return {}
        latin = latin_recogniser(path)
        if latin is None:
            return {}
        rec.postprocess_op = CTCLabelDecode(character=latin.characters)
        return {"text_rec": latin.model}

    def _warm_up(self) -> None:
        blank = np.full((48, 192, 3), 255, dtype=np.uint8)
        self._engine(blank, use_cls=False)  # loads the detector (nothing is found on a blank image)
        if self._staged:
            self._engine.cls_and_rotate([blank])
            try:
                self._engine.recognize_txt([blank])
            except Exception:  # noqa: BLE001 - RapidOCRError "empty result" on a blank crop; the model is loaded
                pass

    def _run(self, bgr: np.ndarray) -> tuple[Any, int, dict[str, float]]:
        """(RapidOCR output, rotation applied, seconds by stage) for a BGR image."""
        with self._lock:
            height, width = bgr.shape[:2]
            base = min(1.0, DET_BASE_SIDE / max(width, height))
            if not self._staged or not self._set_detection_scale(width, height, base):
                return self._engine(bgr, use_cls=False), 0, {}  # the library changed: fixed settings
            try:
                found = self._detect(bgr, 0, base)
                if found is None:
                    return _EMPTY, 0, {}
                found = self._upright(found, base)
                found = self._rescan_small_print(found, base)
                return self._recognise(found), found.rotation, found.seconds
            finally:
                self._set_detection_scale(width, height, base)

    def _detect(self, bgr: np.ndarray, rotation: int, scale: float,
                seconds: dict[str, float] | None = None) -> _Pass | None:
        """Detection only, on `bgr` turned by `rotation`, at `scale`. None when no text is found."""
        image = rotate_array(bgr, rotation)
        height, width = image.shape[:2]
        self._set_detection_scale(width, height, scale)
        spent = dict(seconds or {})
        started = time.perf_counter()
        resized, op_record = self._engine.preprocess_img(image)
        try:
            crops, det = self._engine.detect_and_crop(resized, op_record)
        except _rapidocr_error():
            return None
        finally:
            spent["det"] = spent.get("det", 0.0) + time.perf_counter() - started
        return _Pass(image, rotation, op_record, list(crops), det, spent)

    def _upright(self, found: _Pass, base: float) -> _Pass:
        """Turn a sideways or upside-down page upright (ocr/orientation.py). The boxes found are turned with
        the page (exact for quarter turns), so a turned page is not detected again; only crops are taken
        again, from the turned image."""
        if is_sideways(found.det.boxes):
            found = self._turn(found, 90, base)
        started = time.perf_counter()
        sample = [found.crops[i] for i in longest_lines(found.det.boxes)]
        directions = self._engine.cls_and_rotate(sample)[1].cls_res or []
        found.seconds["cls"] = found.seconds.get("cls", 0.0) + time.perf_counter() - started
        if is_upside_down(directions):
            found = self._turn(found, 180, base)
        return found

    def _turn(self, found: _Pass, rotation: int, base: float) -> _Pass:
        """`found` with its image turned counter-clockwise by `rotation` degrees, its boxes moved with it and
        cropped again. When RapidOCR resized or padded the image it detected (op_record not the identity),
        the boxes are not in the image's pixels: the turned image is detected again instead."""
        preprocess = found.op_record.get("preprocess", {})
        padding = found.op_record.get("padding_1", {})
        identity = (set(found.op_record) <= {"preprocess", "padding_1"}
                    and preprocess.get("ratio_h") == preprocess.get("ratio_w") == 1.0
                    and not padding.get("top") and not padding.get("left"))
        if not identity:
            turned = self._detect(found.image, rotation, base, found.seconds)
            if turned is None:
                return found
            turned.rotation = (found.rotation + rotation) % 360
            return turned
        started = time.perf_counter()
        height, width = found.image.shape[:2]
        image = rotate_array(found.image, rotation)
        detector: Any = self._engine.text_det
        boxes = detector.sorted_boxes(turn_boxes(found.det.boxes, rotation, width, height))
        det = type(found.det)(image, boxes, found.det.scores, found.det.elapse)
        crops = self._engine.crop_text_regions(image, boxes)
        found.seconds["det"] = found.seconds.get("det", 0.0) + time.perf_counter() - started
        return _Pass(image, (found.rotation + rotation) % 360, found.op_record, list(crops), det, found.seconds,
                     loose=found.loose or rotation % 180 == 90)

    def _rescan_small_print(self, found: _Pass, base: float) -> _Pass:
        """Detect again enlarged when the lines found are small (see _detection_scale); a page turned from
        sideways is always detected again upright, once, at the scale its turned boxes ask for."""
        height, width = found.image.shape[:2]
        scale = _detection_scale(width, height, base, _box_heights(found.det))
        if scale <= base * RESCAN_MIN_GAIN and not found.loose:
            return found
        again = self._detect(found.image, 0, scale, found.seconds)
        if again is None or not _box_heights(again.det):
            return found  # an empty answer is never the better one
        again.rotation = found.rotation
        return again

    def _recognise(self, found: _Pass) -> Any:
        started = time.perf_counter()
        if self._reread_fractions:
            rec, fraction_seconds = recognise_with_fractions(self._engine, found.crops)
        else:
            rec, fraction_seconds = self._engine.recognize_txt(found.crops), 0.0
        found.seconds["rec"] = time.perf_counter() - started - fraction_seconds
        if fraction_seconds:
            found.seconds["fractions"] = fraction_seconds
        from rapidocr.ch_ppocr_cls import TextClsOutput

        return self._engine.build_final_output(found.image, found.det, TextClsOutput(), rec, found.crops,
                                               found.op_record)

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
        small, scale = downscale_for_ocr(image.convert("RGB") if image.mode != "RGB" else image, self._max_side)
        # A numpy array is passed as-is by RapidOCR (it would fetch a str that looks like a URL, and skip
        # EXIF for bytes). It expects BGR channel order for arrays, like OpenCV.
        bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
        stages = {"resize": time.perf_counter() - start}
        out, rotation, seconds = self._run(bgr)
        stages.update(seconds)
        width, height = image.size if rotation in (0, 180) else (image.height, image.width)
        lines = _to_lines(out, scale, width, height)
        return OcrResult(lines, width, height, time.perf_counter() - start, stages, rotation=rotation)


_STAGES = ("preprocess_img", "detect_and_crop", "crop_text_regions", "cls_and_rotate", "recognize_txt",
           "build_final_output")


def _rapidocr_error() -> type[Exception]:
    from rapidocr.main import RapidOCRError

    return RapidOCRError


class _Empty:
    boxes = None
    txts = None
    scores = None


_EMPTY = _Empty()


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
