"""Scores of OCR + parsing against known truth, per field, per document family and per degradation.

Only the parsers' public API is used (classify(ocr).kind, parse_nutrition_label(ocr) and parse_recipe(ocr)
with .result and .found), so the same scorer measures an older checkout of the parsers as a baseline.

Metrics (a Tally is ok / of):
- kinds: the classifier's verdict equals the document's kind.
- nutrition_exact: printed fields read with the exact value (strings compared after normalising).
- titles: exact after normalising case, punctuation and spaces.
- ingredient_lines: printed lines matched by a parsed line (similarity >= MATCH_RATIO, one-to-one);
  ingredient_precision: parsed lines that match a printed line (intro text, headers, card rows are not).
- ingredient_fields: printed lines whose matched parse has the right quantity, unit and name.
- instruction_words: words of the printed steps found in the parsed steps (multiset recall);
  instruction_precision: parsed step words that are in the printed steps; instruction_steps: printed steps
  matched one-to-one by a parsed step (so steps run together or cut apart count as missed).
- servings / times: exact values where printed.
- ocr_wrong: fields the parser tagged as read (`found`) whose value is wrong (scalars: not equal; lists:
  precision below 0.8 or recall below 0.5); of = fields tagged as read.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MATCH_RATIO = 0.8
LIST_MIN_PRECISION = 0.8
LIST_MIN_RECALL = 0.5


@dataclass
class Tally:
    ok: float = 0.0
    of: float = 0.0

    def add(self, ok: float, of: float = 1.0) -> None:
        self.ok += ok
        self.of += of

    @property
    def ratio(self) -> float | None:
        return self.ok / self.of if self.of else None

    def __str__(self) -> str:
        return f"{self.ok:g}/{self.of:g} ({100 * self.ok / self.of:.0f}%)" if self.of else "n/a"


METRICS = ("kinds", "nutrition_exact", "titles", "ingredient_lines", "ingredient_precision", "ingredient_fields",
           "instruction_words", "instruction_precision", "instruction_steps", "servings", "times", "ocr_wrong")


@dataclass
class Scores:
    totals: dict[str, Tally] = field(default_factory=lambda: {m: Tally() for m in METRICS})
    by_group: dict[str, dict[str, Tally]] = field(default_factory=lambda: defaultdict(
        lambda: {m: Tally() for m in METRICS}))
    notes: list[str] = field(default_factory=list)

    def add(self, groups: Iterable[str], metric: str, ok: float, of: float = 1.0) -> None:
        self.totals[metric].add(ok, of)
        for g in groups:
            self.by_group[g][metric].add(ok, of)

    def as_dict(self) -> dict[str, Any]:
        def flat(t: dict[str, Tally]) -> dict[str, list[float]]:
            return {m: [v.ok, v.of] for m, v in t.items() if v.of}
        return {"totals": flat(self.totals), "groups": {g: flat(t) for g, t in sorted(self.by_group.items())},
                "notes": self.notes}


def normalize(text: str) -> str:
    text = text.lower().replace("℃", "°c").replace("½", " 1/2").replace("¼", " 1/4").replace("¾", " 3/4")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9°/ ]+", " ", text)).strip()


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, normalize(a), normalize(b)).ratio()


def match_lines(expected: list[str], got: list[str]) -> dict[int, int]:
    """Greedy one-to-one matching, best pairs first: expected index -> got index."""
    pairs = sorted(((similar(e, g), i, j) for i, e in enumerate(expected) for j, g in enumerate(got)),
                   reverse=True)
    out: dict[int, int] = {}
    used: set[int] = set()
    for ratio, i, j in pairs:
        if ratio < MATCH_RATIO:
            break
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def words(texts: Iterable[str]) -> Counter[str]:
    return Counter(w for t in texts for w in normalize(t).split())


def same_value(want: Any, have: Any) -> bool:
    if have is None:
        return want is None
    if want is None:
        return False
    if isinstance(want, str):
        return normalize(str(have)) == normalize(want)
    return abs(float(have) - float(want)) < 1e-6


def score_nutrition(scores: Scores, groups: list[str], truth: dict[str, Any], result: dict[str, Any],
                    found: set[str], name: str) -> None:
    misses = []
    for key, want in truth.items():
        ok = same_value(want, result.get(key))
        scores.add(groups, "nutrition_exact", ok)
        if not ok:
            misses.append(f"{key}: want {want!r} got {result.get(key)!r}")
    for key in found:
        if key == "serving_size" and key not in truth:
            continue  # not scored where the truth does not state it (bilingual "Per 1 cup" lines)
        wrong = not same_value(truth.get(key), result.get(key))
        scores.add(groups, "ocr_wrong", wrong)
        if wrong:
            misses.append(f"WRONG-OCR {key}={result.get(key)!r} (truth {truth.get(key)!r})")
    if misses:
        scores.notes.append(f"{name}: " + "; ".join(misses))


IngredientParser = Callable[[str], tuple[float | None, str | None, str | None]]


def ingredient_ok(want: Any, quantity: float | None, unit: str | None, name: str | None) -> bool:
    q_ok = (quantity is None) if want.quantity is None else (quantity is not None
                                                             and abs(quantity - want.quantity) < 1e-6)
    return q_ok and unit == want.unit and name is not None and normalize(name) == normalize(want.name)


def score_recipe(scores: Scores, groups: list[str], truth: Any, result: dict[str, Any], found: set[str],
                 name: str, parse_line: IngredientParser | None = None) -> None:
    notes: list[str] = []
    title_ok = result.get("title") is not None and normalize(result["title"]) == normalize(truth.title)
    scores.add(groups, "titles", title_ok)
    if not title_ok:
        notes.append(f"title {result.get('title')!r}")
    want_lines = [i.text for i in truth.ingredients]
    got = result.get("ingredients") or []
    got_lines = [i["original_text"] for i in got]
    matched = match_lines(want_lines, got_lines)
    scores.add(groups, "ingredient_lines", len(matched), len(want_lines))
    scores.add(groups, "ingredient_precision", len(matched), len(got_lines))
    fields_ok = 0
    for i, j in matched.items():
        g = got[j]
        q, u, n = (parse_line(g["original_text"]) if parse_line else (g.get("quantity"), g.get("unit"), g.get("name")))
        good = ingredient_ok(truth.ingredients[i], q, u, n)
        fields_ok += good
        if not good:
            notes.append(f"ing {g['original_text']!r} -> {q!r} {u!r} {n!r}")
    if all(i.name for i in truth.ingredients):  # real samples state the lines, not their parse
        scores.add(groups, "ingredient_fields", fields_ok, len(want_lines))
    extra = [got_lines[j] for j in range(len(got_lines)) if j not in matched.values()]
    if extra:
        notes.append(f"extra ingredients {extra}")
    missed = [want_lines[i] for i in range(len(want_lines)) if i not in matched]
    if missed:
        notes.append(f"missed ingredients {missed}")
    want_w, got_w = words(truth.instructions), words(result.get("instructions") or [])
    common = sum((want_w & got_w).values())
    scores.add(groups, "instruction_words", common, sum(want_w.values()))
    scores.add(groups, "instruction_precision", common, sum(got_w.values()))
    steps_matched = match_lines(list(truth.instructions), list(result.get("instructions") or []))
    scores.add(groups, "instruction_steps", len(steps_matched), len(truth.instructions))
    if common < sum(want_w.values()) or common < sum(got_w.values()) or len(steps_matched) < len(truth.instructions):
        notes.append(f"steps {result.get('instructions')}")
    if truth.servings is not None:
        scores.add(groups, "servings", result.get("servings") == truth.servings)
    times = result.get("times") or {}
    for key, want in truth.times.items():
        if want is not None:
            scores.add(groups, "times", times.get(key) == want)
    # Fields tagged as read and wrong.
    wrong: list[str] = []
    if "title" in found:
        wrong += [] if title_ok else ["title"]
    if "servings" in found and truth.servings is not None and result.get("servings") != truth.servings:
        wrong.append("servings")
    if "times" in found:
        wrong += [f"times.{k}" for k, v in times.items() if v is not None and truth.times.get(k) != v]
    tagged = len([f for f in ("title", "servings", "ingredients", "instructions") if f in found])
    tagged += len([v for v in times.values() if v is not None]) if "times" in found else 0
    if "ingredients" in found and got_lines and (len(matched) / len(got_lines) < LIST_MIN_PRECISION
                                                 or len(matched) / max(1, len(want_lines)) < LIST_MIN_RECALL):
        wrong.append("ingredients")
    if "instructions" in found and got_w and (common / sum(got_w.values()) < LIST_MIN_PRECISION
                                             or common / max(1, sum(want_w.values())) < LIST_MIN_RECALL):
        wrong.append("instructions")
    scores.add(groups, "ocr_wrong", len(wrong), tagged)
    if wrong:
        notes.append(f"WRONG-OCR {wrong}")
    if notes:
        scores.notes.append(f"{name}: " + " | ".join(notes))
