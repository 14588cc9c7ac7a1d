"""Ingredient units: canonical short names, their aliases, and a lookup that tolerates OCR damage to the unit
token right after a quantity. Used by the ingredient line parser (quantities.py)."""

from __future__ import annotations

import difflib
import re

# alias -> canonical unit. Matching is case-insensitive; a trailing "." is stripped before lookup.
UNIT_ALIASES: dict[str, str] = {}
for _canon, _aliases in {
    "g": ["g", "gr", "grs", "gram", "grams", "gramme", "grammes"],
    "kg": ["kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"],
    "mg": ["mg", "milligram", "milligrams"],
    "ml": ["ml", "mls", "millilitre", "millilitres", "milliliter", "milliliters"],
    "l": ["l", "ltr", "litre", "litres", "liter", "liters"],
    "dl": ["dl", "decilitre", "decilitres", "deciliter", "deciliters"],
    "cl": ["cl", "centilitre", "centilitres", "centiliter", "centiliters"],
    "tsp": ["tsp", "tsps", "t", "teaspoon", "teaspoons", "teasp"],
    "tbsp": ["tbsp", "tbsps", "tbs", "tbl", "tbls", "tblsp", "T", "tablespoon", "tablespoons", "tablesp"],
    "cup": ["cup", "cups", "c"],
    "oz": ["oz", "ozs", "ounce", "ounces"],
    "fl oz": ["fl oz", "fl. oz", "fluid ounce", "fluid ounces"],
    "lb": ["lb", "lbs", "pound", "pounds"],
    "pint": ["pint", "pints", "pt"],
    "quart": ["quart", "quarts", "qt"],
    "gallon": ["gallon", "gallons", "gal"],
    "pinch": ["pinch", "pinches"],
    "dash": ["dash", "dashes"],
    "clove": ["clove", "cloves"],
    "can": ["can", "cans", "tin", "tins"],
    "jar": ["jar", "jars"],
    "slice": ["slice", "slices"],
    "piece": ["piece", "pieces", "pc", "pcs"],
    "bunch": ["bunch", "bunches"],
    "handful": ["handful", "handfuls"],
    "sprig": ["sprig", "sprigs"],
    "stick": ["stick", "sticks"],
    "package": ["package", "packages", "pkg", "packet", "packets", "pack", "packs", "envelope", "envelopes",
                "sachet", "sachets"],
    "bottle": ["bottle", "bottles"],
    "head": ["head", "heads"],
    "stalk": ["stalk", "stalks"],
    "sheet": ["sheet", "sheets"],
    "drop": ["drop", "drops"],
}.items():
    for _a in _aliases:
        UNIT_ALIASES[_a] = _canon

# Single-letter aliases are only trusted in their conventional case ("t" tsp, "T" tbsp, "c"/"C" cup, "l").
_CASE_SENSITIVE = {"t": "tsp", "T": "tbsp", "c": "cup", "C": "cup"}
# Long unit words that OCR often damages ("toblespcons"); matched by similarity, never short ones.
_FUZZY_UNITS = {"tablespoon": "tbsp", "tablespoons": "tbsp", "teaspoon": "tsp", "teaspoons": "tsp"}


def lookup_unit(word: str) -> str | None:
    """Canonical unit of a word, or None. Case matters only for the one-letter aliases."""
    word = word.strip().rstrip(".")
    if word in _CASE_SENSITIVE:
        return _CASE_SENSITIVE[word]
    if len(word) == 1 and word.lower() != "l" and word.lower() != "g":
        return None
    low = re.sub(r"[.\s]+", " ", word.lower()).strip()  # "fl. oz" -> "fl oz", "tbsp." -> "tbsp"
    if low in UNIT_ALIASES:
        return UNIT_ALIASES[low]
    if len(low) >= 7:
        close = difflib.get_close_matches(low, list(_FUZZY_UNITS), n=1, cutoff=0.8)
        if close:
            return _FUZZY_UNITS[close[0]]
    return None


# Glyphs OCR confuses in small print: thin vertical strokes (I l 1 | i ! t), round ones (0 o O), 5/s and
# rn/m. Used only on the token right after a quantity (the unit slot), never on ingredient names.
# "t" is a target only: a real "t" read as such is common ("4 ct", count), a "t" that is really an "l" rare.
_THIN = "Il1|i!"
_OCR_CONFUSIONS: dict[str, str] = {ch: _THIN.replace(ch, "") + "t" for ch in _THIN}
_OCR_CONFUSIONS.update({"0": "o", "O": "o", "5": "s", "S": "s"})
_SPOONS = frozenset({"tsp", "tbsp"})
_MULTI_CONFUSIONS = (("rn", "m"), ("vv", "w"), ("cl", "d"))


def lookup_unit_ocr(word: str) -> str | None:
    """`lookup_unit`, tolerating one OCR glyph confusion in a unit token ("Isp" tsp, "mI" ml, "0z" oz,
    "tbsp" read "tbIsp"): the token is taken as a unit only when exactly one unit is one confusion away.
    One-letter results are not accepted (too easy to reach by accident)."""
    unit = lookup_unit(word)
    if unit is not None:
        return unit
    word = word.strip().rstrip(".")
    if not 2 <= len(word) <= 6 or not re.search(r"[A-Za-z]", word):
        return None
    variants: set[str] = set()
    for k, ch in enumerate(word):
        for alt in _OCR_CONFUSIONS.get(ch, ""):
            variants.add(word[:k] + alt + word[k + 1:])
    for wrong, right in _MULTI_CONFUSIONS:
        for m in re.finditer(re.escape(wrong), word):
            variants.add(word[:m.start()] + right + word[m.end():])
    found = {u for v in variants if len(v) >= 2 and re.fullmatch(r"[A-Za-z]+", v)
             for u in [UNIT_ALIASES.get(v.lower())] if u is not None}
    if len(found) == 1:
        return found.pop()
    lost_t = UNIT_ALIASES.get("t" + word.lower()) if len(word) >= 3 else None  # "bsp": a thin "t" lost
    if not found and lost_t in _SPOONS:
        return lost_t
    return "cup" if not found and _near_cup(word) else None


# Letters OCR reads in place of the letters of "cups" in small print ("cip", "cuos", "cupa"); a letter
# that makes another word ("cut", "cap", "caps") is not among them.
_CUP_CONFUSIONS = {"u": "iovn", "p": "oqn", "s": "aezo"}


def _near_cup(word: str) -> bool:
    """"cup" or "cups" with exactly one letter that OCR confuses with the printed one."""
    low = word.lower()
    for target in ("cup", "cups"):
        if len(low) != len(target) or low == target:
            continue
        wrong = [(got, want) for got, want in zip(low, target, strict=True) if got != want]
        if len(wrong) == 1 and wrong[0][0] in _CUP_CONFUSIONS.get(wrong[0][1], ""):
            return True
    return False
