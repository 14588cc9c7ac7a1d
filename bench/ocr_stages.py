"""Where OCR time goes, by page type and stage, and what each setting costs: CPU seconds of the process
(all threads) spent in detection, the direction classifier and recognition, for the current engine and for
variants that change one setting each, measured in the same run, alternating.

Variants: current; whole_head (the recogniser's full 18,710-class output layer, not the Latin-script cut,
ocr/latin_head.py); width48 (crops padded to at least 48 px wide instead of RapidOCR's 320); redetect_turned
(a turned page detected again at the base scale after every turn, as before: the boxes are not turned with
the page); previous (both whole_head and redetect_turned: the engine before them); spinning (ONNX Runtime
threads busy-wait, its default); threads1 (intra-op threads 1); batch6
(recognition batches of 6, RapidOCR's default); base736 (first detection at 736 px instead of 960).
Pages: the rendered pages of bench/ocr_pages.py, with --turned also the page scan turned 90 and 180
degrees and the label turned 90.

Usage: python -m bench.ocr_stages [--reps 2] [--variants current,whole_head] [--turned] [--json PATH]
(docs/ocr-speed.md has a run's figures)
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

from bench.ocr_pages import Page, all_pages, char_accuracy, label_photo, page_scan
from models_processor.ocr import rapid
from models_processor.ocr.rapid import RapidOcrEngine, _Pass

# Cropping the boxes of a page turned with its boxes (RapidOcrEngine._turn) falls in "other".
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


class RedetectTurned(RapidOcrEngine):
    """The engine as it turned pages before: the turned image detected again at the base scale."""

    def _turn(self, found: _Pass, rotation: int, base: float) -> _Pass:
        turned = self._detect(found.image, rotation, base, found.seconds)
        if turned is None:
            return found
        turned.rotation = (found.rotation + rotation) % 360
        return turned


VARIANTS: dict[str, tuple[type[RapidOcrEngine], dict[str, Any], dict[str, float]]] = {
    # name: (engine class, engine keyword arguments, module constants)
    "current": (RapidOcrEngine, {}, {}),
    "whole_head": (RapidOcrEngine, {"latin_only": False}, {}),
    "width48": (RapidOcrEngine, {"params": {"Rec.rec_img_shape": [3, 48, 48]}}, {}),
    "redetect_turned": (RedetectTurned, {}, {}),
    "previous": (RedetectTurned, {"latin_only": False}, {}),  # the engine before both of the above
    "spinning": (RapidOcrEngine, {"allow_spinning": True}, {}),
    "threads1": (RapidOcrEngine, {"params": {"EngineConfig.onnxruntime.intra_op_num_threads": 1}}, {}),
    "batch6": (RapidOcrEngine, {"params": {"Rec.rec_batch_num": 6}}, {}),
    "base736": (RapidOcrEngine, {}, {"DET_BASE_SIDE": 736}),
    "no_fractions": (RapidOcrEngine, {"reread_fractions": False}, {}),  # without ocr/fractions.py's re-read
}
DEFAULT_VARIANTS = "current,whole_head,redetect_turned"


def pages(turned: bool) -> list[Page]:
    found = all_pages()
    if turned:
        scan, label = page_scan(), label_photo()
        found += [Page(f"{page.name}_turned_{turn}", f"{page.kind} turned {turn}",
                       page.image.rotate(turn, expand=True), page.lines)
                  for page, turn in ((scan, 90), (scan, 180), (label, 90))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"any of {','.join(VARIANTS)}")
    parser.add_argument("--turned", action="store_true", help="also the page scan turned 90/180, the label 90")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in args.variants.split(",") if n]
    engines = {}
    spent: dict[str, dict[str, float]] = {}
    for name in names:
        engine_class, kwargs, _ = VARIANTS[name]
        engines[name] = engine_class(**kwargs)
        spent[name] = defaultdict(float)
        instrument(engines[name], spent[name])
    rows = []
    for page in pages(args.turned):
        runs: dict[str, list[dict[str, float]]] = defaultdict(list)
        texts: dict[str, list[str]] = {}
        for _ in range(args.reps):
            for name in names:
                spent[name].clear()
                with module_values(**VARIANTS[name][2]):
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
            print(f"{page.name:34} {name:15} CPU s: det {med['det']:5.2f} cls {med['cls']:4.2f} rec {med['rec']:5.2f} "
                  f"other {med['total'] - med['det'] - med['cls'] - med['rec']:4.2f} total {med['total']:5.2f} "
                  f"({med['total'] / base['total']:4.2f} x {names[0]})  chars {row['chars']:.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
