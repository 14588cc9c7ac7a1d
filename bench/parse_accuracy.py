"""Accuracy of OCR + parsing on the rendered test set (testkit/photoset), on the held-out set rendered by
Chromium (testkit/photoset_html) and on the real samples, per field, per document family and per
degradation, optionally against a baseline checkout of the parsers.

Usage: python bench/parse_accuracy.py [--baseline REV] [--notes] [--json PATH] [--seed N] [--html-seed N]
  --baseline REV  also score models_processor as it was at git revision REV (exported to a temporary
                  folder and run in a subprocess), printed side by side with the working tree
  --notes         print what went wrong per document
OCR results come from the caches in tests/fixtures/photoset_ocr (keyed by image hash) and
tests/fixtures/photoset_html_ocr (keyed by the page's source); images missing from them are rendered and
recognised with RapidOCR first (slow: seconds per image) and added.
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

import models_processor
from testkit.photoset.build import DEFAULT_SEED
from testkit.photoset.run import real_scores, rendered_scores
from testkit.photoset.score import METRICS
from testkit.photoset_html.build import DEFAULT_SEED as HTML_SEED
from testkit.photoset_html.run import html_scores

ROOT = Path(__file__).resolve().parents[1]


def measure(seed: int, html_seed: int) -> dict[str, Any]:
    return {"rendered": rendered_scores(seed).as_dict(), "held_out": html_scores(html_seed).as_dict(),
            "real": real_scores().as_dict()}


def baseline(rev: str, seed: int, html_seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="parse-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "models_processor"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        out = Path(tmp) / "scores.json"
        # Run from the extracted tree: its models_processor comes first on the path (the working directory),
        # bench and testkit come from this checkout (PYTHONPATH).
        env = {**os.environ, "PARSE_ACCURACY_TREE": tmp, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, "-m", "bench.parse_accuracy", "--seed", str(seed), "--html-seed", str(html_seed),
                        "--json", str(out)],
                       env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        scores: dict[str, Any] = json.loads(out.read_text())
        return scores


def _cell(pair: list[float] | None) -> str:
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
    ap.add_argument("--html-seed", type=int, default=HTML_SEED)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--notes", action="store_true")
    args = ap.parse_args()
    now = measure(args.seed, args.html_seed)
    if args.json is not None:
        args.json.write_text(json.dumps(now, indent=1))
    if os.environ.get("PARSE_ACCURACY_TREE"):
        tree = Path(os.environ["PARSE_ACCURACY_TREE"]).resolve()
        assert tree in Path(models_processor.__file__).resolve().parents, "baseline did not load its own parsers"
        return
    base = baseline(args.baseline, args.seed, args.html_seed) if args.baseline else None
    print_table("Rendered set (testkit/photoset, Pillow)", now["rendered"], base["rendered"] if base else None)
    print_table("Held-out set (testkit/photoset_html, Chromium)", now["held_out"],
                base.get("held_out") if base else None)
    print_table("Real samples (tests/samples, recorded OCR)", now["real"], base["real"] if base else None)
    if args.notes:
        print("\n## Notes (rendered)")
        print("\n".join(now["rendered"]["notes"]))
        print("\n## Notes (held-out)")
        print("\n".join(now["held_out"]["notes"]))
        print("\n## Notes (real)")
        print("\n".join(now["real"]["notes"]))


if __name__ == "__main__":
    main()
