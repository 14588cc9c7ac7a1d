"""Where OCR time goes, by page type and stage, and what each setting costs: CPU seconds of the process
(all threads) spent in detection, the direction classifier and recognition, for the current engine and for
variants that change one setting each, measured in the same run, alternating.

Variants: current; spinning (ONNX Runtime threads busy-wait, its default); threads1 (intra-op threads 1);
batch6 (recognition batches of 6, RapidOCR's default); target18 (small print enlarged to 18 px lines instead
of 22, a smaller rescan); base736 (first detection at 736 px instead of 960).

Usage: python -m bench.ocr_stages [--reps 2] [--json PATH]     (docs/ocr-speed.md has a run's figures)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.ocr_pages import all_pages, char_accuracy
from models_processor.ocr import rapid
from models_processor.ocr.rapid import RapidOcrEngine

_STAGES = {"detect_and_crop": "det", "cls_and_rotate": "cls", "recognize_txt": "rec"}


def instrument(engine: RapidOcrEngine, spent: dict[str, float]) -> None:
    """Wrap the RapidOCR stage methods the engine calls so each adds its CPU seconds to `spent`."""
    inner = engine._engine  # a benchmark looks inside on purpose
    for method, stage in _STAGES.items():
        original = getattr(inner, method)

        def timed(*args: Any, _original: Callable[..., Any] = original, _stage: str = stage) -> Any:
            started = time.process_time()
            try:
                return _original(*args)
            finally:
                spent[_stage] += time.process_time() - started
        setattr(inner, method, timed)


@contextmanager
def module_values(**values: float) -> Iterator[None]:
    """Temporarily change rapid.py's detection constants (read on every call)."""
    saved = {name: getattr(rapid, name) for name in values}
    for name, value in values.items():
        setattr(rapid, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(rapid, name, value)


VARIANTS: dict[str, tuple[dict[str, Any], dict[str, float]]] = {
    # name: (engine keyword arguments, module constants)
    "current": ({}, {}),
    "spinning": ({"allow_spinning": True}, {}),
    "threads1": ({"params": {"EngineConfig.onnxruntime.intra_op_num_threads": 1}}, {}),
    "batch6": ({"params": {"Rec.rec_batch_num": 6}}, {}),
    "target18": ({}, {"TEXT_HEIGHT_TARGET": 18.0}),
    "base736": ({}, {"DET_BASE_SIDE": 736}),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    engines = {}
    spent: dict[str, dict[str, float]] = {}
    for name in names:
        kwargs, _ = VARIANTS[name]
        engines[name] = RapidOcrEngine(**kwargs)
        spent[name] = defaultdict(float)
        instrument(engines[name], spent[name])
    rows = []
    for page in all_pages():
        runs: dict[str, list[dict[str, float]]] = defaultdict(list)
        texts: dict[str, list[str]] = {}
        for _ in range(args.reps):
            for name in names:
                spent[name].clear()
                with module_values(**VARIANTS[name][1]):
                    started = time.process_time()
                    result = engines[name].recognize(page.image)
                    total = time.process_time() - started
                runs[name].append({**spent[name], "total": total})
                texts[name] = [line.text for line in result.lines]
        for name in names:
            med = {k: statistics.median(r.get(k, 0.0) for r in runs[name]) for k in ("det", "cls", "rec", "total")}
            row = {"page": page.name, "type": page.kind, "variant": name, **med,
                   "chars": char_accuracy(page.lines, texts[name])}
            rows.append(row)
            base = next(r for r in rows if r["page"] == page.name and r["variant"] == names[0])
            print(f"{page.name:24} {name:9} CPU s: det {med['det']:5.2f} cls {med['cls']:4.2f} rec {med['rec']:5.2f} "
                  f"other {med['total'] - med['det'] - med['cls'] - med['rec']:4.2f} total {med['total']:5.2f} "
                  f"({med['total'] / base['total']:4.2f} x {names[0]})  chars {row['chars']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
