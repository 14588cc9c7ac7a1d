"""Accuracy of OCR + deterministic parsers (no LLM) on sample photos with a ground_truth.json.

Usage: python -m bench.accuracy [--samples DIR] [--fixtures DIR] [--json PATH]
  --samples   folder with the photos and ground_truth.json (default: tests/samples in the repo)
  --fixtures  read OCR from <DIR>/<photo>.json dumps instead of running the engine (fast)
  --json      also write the totals and per-photo lines to PATH (read by bench/report.py)

Metrics:
- nutrition: % of ground-truth fields read exactly (numbers equal; serving_size equal after lowercasing
  and collapsing whitespace).
- recipe: title found (normalised equality), % of ground-truth ingredient lines matched, % of
  instruction steps matched. A ground-truth line is matched when some parsed line has a normalised
  similarity >= MATCH_RATIO (difflib ratio over lowercase alphanumerics and single spaces), each parsed
  line used at most once. The ratio tolerates OCR letter damage ("oll" for "oil") but not a different
  line. Order is not required.
- the classification of each photo when models_processor.parsing.classify exists.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import json
import re
from pathlib import Path
from typing import Any

from models_processor.ocr.base import OcrLine, OcrResult
from models_processor.parsing.nutrition import parse_nutrition_label
from models_processor.parsing.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1]

MATCH_RATIO = 0.8
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def normalize(text: str) -> str:
    text = text.lower().replace("℃", "°c")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9° ]+", " ", text)).strip()


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalize(a), normalize(b)).ratio()


def count_matched(expected: list[str], got: list[str], ratio: float = MATCH_RATIO) -> int:
    """Greedy one-to-one matching of expected lines to parsed lines by similarity."""
    free = list(got)
    matched = 0
    for line in expected:
        scores = [(similar(line, g), k) for k, g in enumerate(free)]
        best = max(scores, default=(0.0, -1))
        if best[0] >= ratio:
            matched += 1
            free.pop(best[1])
    return matched


def load_fixture(path: Path) -> OcrResult:
    doc = json.loads(path.read_text())
    lines = [OcrLine(ln["text"], float(ln["score"]), tuple(tuple(p) for p in ln["box"])) for ln in doc["lines"]]
    return OcrResult(lines=lines, width=doc["width"], height=doc["height"])


def nutrition_score(expected: dict[str, Any], got: dict[str, Any]) -> tuple[int, int, list[str]]:
    ok, misses = 0, []
    for key, want in expected.items():
        have = got.get(key)
        if isinstance(want, str):
            good = have is not None and normalize(str(have)) == normalize(want)
        else:
            good = have is not None and abs(float(have) - float(want)) < 1e-6
        ok += good
        if not good:
            misses.append(f"{key}: want {want!r} got {have!r}")
    return ok, len(expected), misses


def classify(ocr: OcrResult) -> str | None:
    try:
        module = importlib.import_module("models_processor.parsing.classify")
    except ImportError:
        return None
    for name in ("classify", "classify_ocr", "classify_kind"):
        fn = getattr(module, name, None)
        if callable(fn):
            try:
                out = fn(ocr)
            except Exception as exc:  # the classifier is another module's work; report, do not stop
                return f"error: {exc}"
            out = getattr(out, "kind", out)
            return str(getattr(out, "value", out))
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT / "tests" / "samples")
    ap.add_argument("--fixtures", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    truth = json.loads((args.samples / "ground_truth.json").read_text())
    engine = None
    totals = {"nut": [0, 0], "ing": [0, 0], "steps": [0, 0], "titles": [0, 0]}
    photos = []
    for path in sorted(args.samples.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if args.fixtures is not None:
            ocr = load_fixture(args.fixtures / f"{path.name}.json")
        else:
            if engine is None:
                from models_processor.ocr.rapid import RapidOcrEngine
                engine = RapidOcrEngine()
            from PIL import Image, ImageOps
            with Image.open(path) as raw:
                ocr = engine.recognize(ImageOps.exif_transpose(raw).convert("RGB"))
        entry = truth.get(path.name, {})
        kind = entry.get("kind", "?")
        expected = entry.get("expected", {})
        line = f"{path.name}: kind={kind} classified={classify(ocr)}"
        if kind == "nutrition_label":
            got = parse_nutrition_label(ocr).result.model_dump()
            ok, n, misses = nutrition_score(expected, got)
            totals["nut"][0] += ok
            totals["nut"][1] += n
            line += f" nutrition {ok}/{n}" + (f" misses={misses}" if misses else "")
        elif kind == "recipe":
            parsed = parse_recipe(ocr).result
            line += f" title={parsed.title!r} ingredients={len(parsed.ingredients)} steps={len(parsed.instructions)}"
            if "title" in expected:
                hit = parsed.title is not None and normalize(parsed.title) == normalize(expected["title"])
                totals["titles"][0] += hit
                totals["titles"][1] += 1
                line += f" title_ok={hit}"
            for key, attr in (("ingredients", "ing"), ("instructions", "steps")):
                if key in expected:
                    got_lines = ([i.original_text for i in parsed.ingredients] if key == "ingredients"
                                 else parsed.instructions)
                    m = count_matched(expected[key], got_lines)
                    totals[attr][0] += m
                    totals[attr][1] += len(expected[key])
                    line += f" {key}_matched={m}/{len(expected[key])}"
        print(line)
        photos.append(line)

    def pct(k: str) -> str:
        ok, n = totals[k]
        return f"{ok}/{n} ({100.0 * ok / n:.0f}%)" if n else "n/a"

    print(f"OVERALL nutrition fields exact {pct('nut')} | recipe titles {pct('titles')} | "
          f"ingredient lines matched {pct('ing')} | instruction steps matched {pct('steps')}")
    if args.json is not None:
        names = {"nut": "nutrition_fields_exact", "titles": "recipe_titles", "ing": "ingredient_lines_matched",
                 "steps": "instruction_steps_matched"}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "ocr": "fixtures" if args.fixtures is not None else "engine", "match_ratio": MATCH_RATIO,
            "totals": {names[k]: {"ok": ok, "of": n, "ratio": (ok / n if n else None)}
                       for k, (ok, n) in totals.items()},
            "photos": photos}, indent=2))


if __name__ == "__main__":
    main()
