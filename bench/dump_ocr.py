"""Run RapidOcrEngine on every sample photo and write tests/fixtures/ocr/<file>.json.

The fixtures let parser and classifier tests run on real OCR output without running OCR.
Usage: python -m bench.dump_ocr [SAMPLES_DIR] [OUT_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageOps

from models_processor.ocr.rapid import RapidOcrEngine

ROOT = Path(__file__).resolve().parents[1]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}


def main() -> None:
    samples = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(str(Path(__file__).resolve().parents[1] / "tests" / "samples"))
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "tests" / "fixtures" / "ocr"
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = RapidOcrEngine()
    for path in sorted(samples.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        with Image.open(path) as raw:
            # Same orientation/colour handling as the service's intake (images.decode_photo).
            img = ImageOps.exif_transpose(raw).convert("RGB")
        result = engine.recognize(img)
        doc = {
            "width": result.width,
            "height": result.height,
            "lines": [
                {"text": line.text, "score": round(line.score, 4), "box": [[round(x, 1), round(y, 1)] for x, y in line.box]}
                for line in result.lines
            ],
        }
        (out_dir / f"{path.name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        print(f"{path.name}: {len(result.lines)} lines, {result.elapsed_s:.2f}s")


if __name__ == "__main__":
    main()
