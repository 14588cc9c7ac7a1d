"""OCR results of the Chromium-rendered set, cached by the sample's source key (build.HtmlSample.key).

Keyed by source, not pixels, so the scoring test needs neither Chromium nor the fonts: the committed cache
(tests/fixtures/photoset_html_ocr) holds what the OCR engine read from the pixels this machine rendered,
and each entry records those pixels' digest (tests/unit/test_photoset_html_render.py checks that rendering
still gives them). Missing entries are rendered (one Chromium for the batch) and recognised with RapidOCR.
PHOTOSET_HTML_OCR_DIR points the cache elsewhere, e.g. an empty folder to score a changed OCR engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models_processor.ocr.base import OcrEngine, OcrResult
from testkit.photoset.ocr_cache import from_json, to_json
from testkit.photoset_html.build import HtmlSample, digest, render_sample

CACHE_DIR = Path(os.environ.get("PHOTOSET_HTML_OCR_DIR")
                 or Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "photoset_html_ocr")


def entry_path(sample: HtmlSample, directory: Path = CACHE_DIR) -> Path:
    return directory / f"{sample.key()}.json"


def read_entry(sample: HtmlSample, directory: Path = CACHE_DIR) -> dict[str, Any] | None:
    path = entry_path(sample, directory)
    if not path.is_file():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def fill(samples: Sequence[HtmlSample], directory: Path = CACHE_DIR, engine: OcrEngine | None = None) -> int:
    """Render and recognise the samples missing from the cache; returns how many were added."""
    missing = [s for s in samples if read_entry(s, directory) is None]
    if not missing:
        return 0
    from testkit.photoset_html.render import chromium
    if engine is None:
        from models_processor.ocr.rapid import RapidOcrEngine
        engine = RapidOcrEngine()
    directory.mkdir(parents=True, exist_ok=True)
    with chromium() as render:
        for sample in missing:
            image = render_sample(sample, render)
            result = engine.recognize(image)
            doc = {"name": sample.name, "image_digest": digest(image), **to_json(result)}
            entry_path(sample, directory).write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    return len(missing)


def ocr_of(sample: HtmlSample, directory: Path = CACHE_DIR) -> OcrResult:
    entry = read_entry(sample, directory)
    if entry is None:
        fill([sample], directory)
        entry = read_entry(sample, directory)
        assert entry is not None
    return from_json(entry)
