"""OCR results of rendered images, cached by image hash so parser iterations do not re-run OCR.

The committed cache (tests/fixtures/photoset_ocr) lets the scoring test run without OCR on a machine whose
fonts render the same pixels; any image not in it is recognised with RapidOCR and added. The cache holds what
the OCR engine read when it was filled: after an OCR change, score with PHOTOSET_OCR_DIR set to an empty folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from models_processor.ocr.base import OcrEngine, OcrLine, OcrResult
from testkit.photoset.build import Sample

# PHOTOSET_OCR_DIR points the cache elsewhere, e.g. an empty folder to score the current OCR engine afresh.
CACHE_DIR = Path(os.environ.get("PHOTOSET_OCR_DIR") or Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "photoset_ocr")


def to_json(result: OcrResult) -> dict[str, Any]:
    return {"width": result.width, "height": result.height, "elapsed_s": round(result.elapsed_s, 3),
            "lines": [{"text": ln.text, "score": round(ln.score, 4),
                       "box": [[round(x, 1), round(y, 1)] for x, y in ln.box]} for ln in result.lines]}


def from_json(doc: dict[str, Any]) -> OcrResult:
    lines = [OcrLine(ln["text"], float(ln["score"]), tuple(tuple(p) for p in ln["box"]))  # type: ignore[arg-type]
             for ln in doc["lines"]]
    return OcrResult(lines=lines, width=doc["width"], height=doc["height"], elapsed_s=doc.get("elapsed_s", 0.0))


class OcrCache:
    def __init__(self, directory: Path = CACHE_DIR, engine: OcrEngine | None = None) -> None:
        self.directory = directory
        self._engine = engine
        self.misses = 0

    def _path(self, sample: Sample) -> Path:
        return self.directory / f"{sample.digest()}.json"

    def get(self, sample: Sample) -> OcrResult:
        path = self._path(sample)
        if path.is_file():
            return from_json(json.loads(path.read_text()))
        if self._engine is None:
            from models_processor.ocr.rapid import RapidOcrEngine
            self._engine = RapidOcrEngine()
        self.misses += 1
        result = self._engine.recognize(sample.image)
        self.directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(result), ensure_ascii=False, separators=(",", ":")) + "\n")
        return result
