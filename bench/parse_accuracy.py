"""Accuracy of OCR + parsing on the rendered test set (tests/photoset) and on the real samples, per field,
per document family and per degradation, optionally against a baseline checkout of the parsers.

Usage: python bench/parse_accuracy.py [--baseline REV] [--notes] [--json PATH] [--seed N]
  --baseline REV  also score models_processor as it was at git revision REV (exported to a temporary
                  folder and run in a subprocess), printed side by side with the working tree
  --notes         print what went wrong per document
OCR results come from the cache in tests/fixtures/photoset_ocr (keyed by image hash); images missing
from it are recognised with RapidOCR first (slow: seconds per image) and added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if os.environ.get("PARSE_ACCURACY_TREE"):
    sys.path.insert(0, os.environ["PARSE_ACCURACY_TREE"])  # the baseline's models_processor wins
sys.path.insert(1 if os.environ.get("PARSE_ACCURACY_TREE") else 0, str(ROOT))

from models_processor.ocr.base import OcrLine, OcrResult  # noqa: E402
from models_processor.parsing.classify import classify  # noqa: E402
from models_processor.parsing.nutrition import parse_nutrition_label  # noqa: E402
from models_processor.parsing.recipe import parse_recipe  # noqa: E402
from tests.photoset.build import DEFAULT_SEED, build_set  # noqa: E402
from tests.photoset.ocr_cache import OcrCache  # noqa: E402
from tests.photoset.score import METRICS, Scores, score_nutrition, score_recipe  # noqa: E402
from tests.photoset.truth import IngredientTruth, RecipeTruth  # noqa: E402

SAMPLES = ROOT / "tests" / "samples"
FIXTURES = ROOT / "tests" / "fixtures" / "ocr"


def score_one(scores: Scores, groups: list[str], name: str, kind: str, ocr: OcrResult, nutrition: dict[str, Any],
              recipe: Any) -> None:
    got_kind = classify(ocr).kind.value
    scores.add(groups, "kinds", got_kind == kind)
    if got_kind != kind:
        scores.notes.append(f"{name}: classified {got_kind}")
    if kind == "nutrition_label":
        parsed = parse_nutrition_label(ocr)
        score_nutrition(scores, groups, nutrition, parsed.result.model_dump(), set(parsed.found), name)
    elif kind == "recipe" and recipe is not None:
        parsed_r = parse_recipe(ocr)
        score_recipe(scores, groups, recipe, parsed_r.result.model_dump(), set(parsed_r.found), name)


def rendered_scores(seed: int) -> Scores:
    scores = Scores()
    cache = OcrCache()
    for sample in build_set(seed):
        doc = sample.doc
        score_one(scores, [doc.family, sample.degradation, doc.kind], sample.name, doc.kind, cache.get(sample),
                  doc.nutrition, doc.recipe)
    return scores


def _fixture(name: str) -> OcrResult:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    lines = [OcrLine(ln["text"], float(ln["score"]), tuple(tuple(p) for p in ln["box"])) for ln in doc["lines"]]
    return OcrResult(lines=lines, width=doc["width"], height=doc["height"])


def real_scores() -> Scores:
    scores = Scores()
    truth = json.loads((SAMPLES / "ground_truth.json").read_text())
    for name, entry in sorted(truth.items()):
        if name.startswith("_") or not (FIXTURES / f"{name}.json").is_file():
            continue
        expected = entry.get("expected", {})
        recipe = None
        if entry["kind"] == "recipe" and "title" in expected:
            times = {k: expected.get("times", {}).get(k) for k in ("prep_min", "cook_min", "total_min")}
            recipe = RecipeTruth(title=expected["title"], servings=expected.get("servings"), times=times,
                                 ingredients=tuple(IngredientTruth(t, None, None, "") for t in
                                                   expected.get("ingredients", [])),
                                 instructions=tuple(expected.get("instructions", [])))
        score_one(scores, [entry["kind"]], name, entry["kind"], _fixture(name), expected, recipe)
    return scores


def measure(seed: int) -> dict[str, Any]:
    return {"rendered": rendered_scores(seed).as_dict(), "real": real_scores().as_dict()}


def baseline(rev: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="parse-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "models_processor"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        out = Path(tmp) / "scores.json"
        env = {**os.environ, "PARSE_ACCURACY_TREE": tmp}
        subprocess.run([sys.executable, __file__, "--seed", str(seed), "--json", str(out)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def _cell(pair: list[float] | None, lower_is_better: bool = False) -> str:
    if not pair or not pair[1]:
        return "-"
    return f"{100 * pair[0] / pair[1]:.0f}% ({pair[0]:g}/{pair[1]:g})"


def print_table(title: str, now: dict[str, Any], base: dict[str, Any] | None) -> None:
    print(f"\n## {title}")
    groups = ["ALL", *list(now["groups"])]
    for metric in METRICS:
        rows = []
        for g in groups:
            cur = now["totals"] if g == "ALL" else now["groups"].get(g, {})
            if metric not in cur:
                continue
            old = None
            if base is not None:
                b = base["totals"] if g == "ALL" else base["groups"].get(g, {})
                old = b.get(metric)
            rows.append(f"  {g:<14} {_cell(cur.get(metric)):>16}" + (f"   baseline {_cell(old):>16}"
                                                                      if base is not None else ""))
        if rows:
            print(f"{metric}{' (lower is better)' if metric == 'ocr_wrong' else ''}")
            print("\n".join(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--notes", action="store_true")
    args = ap.parse_args()
    now = measure(args.seed)
    if args.json is not None:
        args.json.write_text(json.dumps(now, indent=1))
    if os.environ.get("PARSE_ACCURACY_TREE"):
        return
    base = baseline(args.baseline, args.seed) if args.baseline else None
    print_table("Rendered set", now["rendered"], base["rendered"] if base else None)
    print_table("Real samples (tests/samples, recorded OCR)", now["real"], base["real"] if base else None)
    if args.notes:
        print("\n## Notes (rendered)")
        print("\n".join(now["rendered"]["notes"]))
        print("\n## Notes (real)")
        print("\n".join(now["real"]["notes"]))


if __name__ == "__main__":
    main()
