"""Ingredient lines -> quantity, unit and name.

Rules (deterministic, no dependency):
- quantity: integers, decimals with "." or ",", fractions "1/2", mixed numbers "1 1/2", unicode vulgar
  fractions ("½", "1½"). A range ("2-3", "2 to 3", "2 or 3") gives its LOWER bound: the schema holds one
  number, the lower bound is what the recipe asks for at least, and it never invents a value that is
  not printed. "a pinch", "to taste", and lines without a number give quantity None ("a"/"an" are not
  counted as 1: the result schema wants None, and "a handful" is not a measured amount). Numbers written
  as words ("two cups", "a dozen eggs") count, "about 1 cup" is 1 cup; "1 lb 4 oz" is 1.25 lb; a size alone
  ("400g can", "1-inch piece") is one can or piece.
- unit: canonical short names (g, kg, ml, tsp, tbsp, cup, oz, lb, clove, can, ...) from aliases with or
  without a trailing dot or plural s, attached ("200g") or separate, tolerating one OCR glyph confusion
  in the unit token ("1 Isp" tsp, "100 mI" ml, "2 0z" oz, "1/2 cip" cup: see lookup_unit_ocr); a
  parenthesised size after the number ("1 (14 oz) can tomatoes"), or a size before a pack ("1 14-ounce can",
  "2 x 400g cans"), is skipped and the unit after it is used; so are qualifiers ("1 heaped tbsp").
- name: the remaining noun phrase, without a leading "of", leading size words (large, small, ...),
  trailing preparation notes after a comma (", sifted", ", thinly sliced", ", to serve", ", skin removed"),
  trailing parentheses and "to taste"/"to serve". original_text is always the line as given.
ingredient-parser-nlp was measured against these rules and not adopted (docs/parsing.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models_processor.parsing.ingredient_units import UNIT_ALIASES, lookup_unit, lookup_unit_ocr
from models_processor.schemas import Ingredient

# The unit lookups are re-exported: the recipe readers take them from here with the quantity parser.
__all__ = ["UNIT_ALIASES", "QuantityMatch", "clean_name", "lookup_unit", "lookup_unit_ocr", "normalize_fractions",
           "parse_ingredient", "parse_number", "repair_glyphs", "repair_quantity", "split_quantity",
           "starts_with_quantity", "thin_one", "written_numbers"]

VULGAR_FRACTIONS = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5",
    "⅘": "4/5", "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8",
}

# "1,000" is a thousand (a comma before exactly three digits), "1,5" one and a half.
_THOUSANDS = r"\d{1,3}(?:,\d{3})+(?![\d.,])"
_NUM = rf"(?:{_THOUSANDS}|\d+(?:[.,]\d+)?)"
_FRAC = r"\d+\s*/\s*\d+"
_MIXED = rf"\d+\s+{_FRAC}"
_ONE_QTY = rf"(?:{_MIXED}|{_FRAC}|{_NUM})"
# A quantity, optionally a range; the lower bound is kept.
QTY_RE = re.compile(rf"^(?P<q1>{_ONE_QTY})(?:\s*(?:-|–|—|to|or)\s*(?P<q2>{_ONE_QTY}))?(?![\d/])")
PAREN_RE = re.compile(r"^\(([^)]*)\)\s*")
# List bullets OCR keeps in front of a line; a letter "o" only before a space, a capital "O" (box) before a number.
BULLET_RE = re.compile(r"^\s*(?:[•·\-–—*›>»▪■□●◦]|o(?=\s)|O(?=\s+\d))\s*")
UNIT_WORD_RE = re.compile(r"^(fl\.?\s*oz\.?|fluid\s+ounces?|[A-Za-z]+)\.?(?=$|[\s,(/+]|\d)")
# A unit token with OCR damage: letters mixed with glyphs read for letters ("m1", "0z", "tb|sp").
OCR_UNIT_WORD_RE = re.compile(r"^([A-Za-z0|!][A-Za-z01|!]{1,5})\.?(?=$|[\s,(])")
TO_TASTE_RE = re.compile(r"\b(to taste|as needed|as required|to serve|for serving|optional)\b", re.I)
A_UNIT_RE = re.compile(r"^(?:a|an|one)\s+(?P<unit>[A-Za-z]+)\b(?:\s+of\b)?", re.I)
SIZE_WORDS = re.compile(r"^(?:(?:extra[- ])?large|medium|small|big|lg|med|sm|[a-z]+-sized|heaped|heaping|rounded|level|"
                        r"scant|generous)\s+",
                        re.I)
# A comma clause that describes preparation, not the ingredient ("sifted", "thinly sliced", "to serve").
NOTE_CLAUSE_RE = re.compile(
    r",\s*(?:(?:finely|thinly|roughly|coarsely|freshly|lightly|well|very|cut|plus|to|for|at|about|"
    r"optional|divided|or more|if|such as|preferably|room|beaten|torn|ground|frozen|thawed|halved|"
    r"quartered|zest|juice)\b|\w+ed\b|\w+ly\b).*$", re.I)
# A last comma clause of two or three words ending in a participle ("skin removed", "leaves picked").
TRAILING_PARTICIPLE_RE = re.compile(r",\s*(?:[A-Za-z-]+\s+){1,2}[A-Za-z-]+ed\s*$")
_UNIT_TOKEN = r"(?:fl\.?\s*oz|[A-Za-z]+)\.?"
_AMOUNT = r"(?:\d+(?:[.,]\d+)?(?:\s+\d+/\d+)?|\d+/\d+)"
# What follows a unit and only restates or adds to the amount: "200g/7oz", "2 tbsp + 1 tsp", "plus 2 tsp".
# The slash form tolerates OCR damage in its amount ("/5 1/2/2oz": dropped anyway) and two parts ("/2lb 4oz").
_SECOND_PART = r"(?:\s+\d+(?:[.,]\d+)?\s*(?:fl\.?\s*oz|oz|lb|ml|g)\b\.?)?"
ALT_MEASURE_RE = re.compile(rf"^(?:/\s*\d[\d/.,\s]*?\s*{_UNIT_TOKEN}{_SECOND_PART}|(?:\+|plus)\s*{_AMOUNT}\s*{_UNIT_TOKEN})\s*",
                            re.I)
# OCR around fraction glyphs: "½2" / "½/2" / "½4" (a glyph and a denominator), superscript digits
# before a slash ("³/4"), the cube-root sign read for a ¾ ("∛/4"), "11/2" for 1 1/2 (no improper
# fractions in recipes: 11/2 cups would be written 5 1/2).
_GLYPH_ECHO = re.compile(r"(\d?)\s?([½¼¾])/?([248])(?!\d)")
_GLYPH_NUMERATOR = {"½": "1", "¼": "1", "¾": "3"}
_SUPERSCRIPT = str.maketrans("¹²³∛", "1233")
_GLUED_MIXED = re.compile(r"^(\d{1,2})(\d)/([2348])(?!\d)")
# "2 x 400g cans": a count of packs of a stated size; the size is skipped and the pack is the unit.
MULTIPLIER_RE = re.compile(rf"^\s*[x×]\s*{_AMOUNT}\s*{_UNIT_TOKEN}\s+", re.I)
# "1 14-ounce can", "2 15-oz cans", "1 400g tin": a size between a count and a pack unit is skipped.
PACK_SIZE_RE = re.compile(rf"^\s*\d+(?:[.,]\d+)?\s*-?\s*(?P<size>{_UNIT_TOKEN})\s+(?P<pack>[A-Za-z]+)\b")
PACK_UNITS = frozenset({"can", "jar", "package", "bottle", "stick", "piece"})
# Weights and volumes: "400g can chickpeas" is one can of that size.
MEASURE_UNITS = frozenset({"g", "kg", "mg", "ml", "l", "cl", "dl", "oz", "fl oz", "lb"})
# "1-inch piece", "5cm/2in piece": a length is the size of one piece, not a count.
LENGTH_RE = re.compile(r"^\s*-?\s*(?:inch(?:es)?|in|cm|mm)\b\.?(?:\s*/\s*\d+(?:[.,]\d+)?\s*(?:inch(?:es)?|in|cm)\b\.?)?\s*",
                       re.I)
# "about 1 cup", "approx. 200ml": the amount printed, approximate or not.
APPROX_RE = re.compile(r"^(?:about|approx\.?|approximately|around|roughly|up to)\s+(?=[\d½¼¾⅓⅔⅛⅜⅝⅞])", re.I)
# "1 lb 4 oz": the ounces after pounds are a part of the pounds.
OUNCES_AFTER_POUNDS_RE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(?:oz|ounces?)\b\.?\s*", re.I)
NUMBER_WORDS = {w: i for i, w in enumerate(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                            "ten", "eleven", "twelve"], start=1)}
_NUMBER_WORD_RE = re.compile(rf"^({'|'.join(NUMBER_WORDS)})(?=\s)", re.I)
_DOZEN_RE = re.compile(r"^(?:(\d+)\s+|an?\s+)?dozen\b", re.I)
# Fractions damaged by OCR: "1% cups" (1½), "3 12 cups" (3½), "12 cup" (½ cup: twelve would be "cups").
_OCR_HALF_PERCENT = re.compile(r"^(\d+)\s?%(?=\s*[A-Za-z])")
_OCR_SPLIT_FRACTION = re.compile(r"^(\d+)\s+(12|13|14|23|34)(?=\s*[A-Za-z])")
_OCR_BARE_FRACTION = re.compile(r"^(12|13|14|23|34)(?=\s*(?:cup|teaspoon|tablespoon)\b)", re.I)
_OCR_FRACTIONS = {"12": "1/2", "13": "1/3", "14": "1/4", "23": "2/3", "34": "3/4"}
# "5o g", "10og": zeros read as the letter o inside a metric amount.
_OCR_LETTER_ZERO = re.compile(r"^(\d+)([oO]+)(?=\s?(?:g|kg|ml)\b)")
# "I tsp", "l cup": a "1" read as a thin letter, where a unit follows.
_THIN_ONE = re.compile(r"^[Iilı|]\s+(?=\S)")
# "k cup", "so g": one or two letters of OCR debris where the amount was, before a unit (short words are not).
_DEBRIS = re.compile(r"^\s*(?!(?:a|an|of|or|to|x|in|on|at|as|by|if|is|it|no|up)\s)[A-Za-z]{1,2}\s+(?=[A-Za-z])", re.I)
# "3/ cup": a fraction whose denominator was lost; the unit and name stand, the amount is unknown.
_BROKEN_FRACTION = re.compile(r"^\d+\s*/\s+(?=[A-Za-z])")
# Units measured in halves and quarters, where "3 12 cups" can only be 3½ ("2 14 oz cans" is two cans).
SPOON_AND_CUP = frozenset({"cup", "tsp", "tbsp"})
# "1-1/2 cups": a whole number and a fraction joined by a hyphen, not a range.
_HYPHEN_MIXED = re.compile(r"^(\d+)\s*-\s*(\d)/(\d)(?!\d)")


@dataclass(frozen=True)
class QuantityMatch:
    quantity: float | None
    unit: str | None
    rest: str


def normalize_fractions(text: str) -> str:
    """Replace unicode vulgar fractions by ASCII ones, keeping "1½" as the mixed number "1 1/2"."""
    out = text.replace("⁄", "/")
    for glyph, ascii_frac in VULGAR_FRACTIONS.items():
        out = re.sub(rf"(\d)\s*{glyph}", rf"\1 {ascii_frac}", out)
        out = out.replace(glyph, ascii_frac)
    return out


def parse_number(text: str) -> float | None:
    """Value of one quantity token: "3", "1.5", "1,5", "1/2", "1 1/2". None when not a number."""
    text = text.strip()
    m = re.fullmatch(rf"(\d+)\s+({_FRAC})", text)
    if m:
        whole, frac = m.groups()
        f = parse_number(frac)
        return None if f is None else int(whole) + f
    m = re.fullmatch(r"(\d+)\s*/\s*(\d+)", text)
    if m:
        num, den = int(m.group(1)), int(m.group(2))
        return num / den if den else None
    if re.fullmatch(_THOUSANDS, text):
        return float(text.replace(",", ""))
    if re.fullmatch(_NUM, text):
        return float(text.replace(",", "."))
    return None


def _take_unit(text: str) -> tuple[str | None, str]:
    """A unit at the start of text (after an optional parenthesised size) and the text after it."""
    rest = text.lstrip()
    paren = PAREN_RE.match(rest)
    after_paren = rest[paren.end():] if paren else rest
    for pattern in (UNIT_WORD_RE, OCR_UNIT_WORD_RE):
        m = pattern.match(after_paren)
        unit = lookup_unit_ocr(m.group(1)) if m else None
        if m and unit is not None:
            tail = after_paren[m.end():].lstrip(". ")
            # "100ml (scant 1/2 cup) vegetable oil": an alternative measure after the unit is skipped.
            tail = PAREN_RE.sub("", tail, count=1) if tail.startswith("(") else tail
            return unit, tail
    return None, rest


def repair_glyphs(text: str) -> str:
    """Fraction glyph damage, before the glyphs are turned into ASCII fractions."""
    # "3 1½", "2 1½4": no mixed number has two whole parts; the "1" is the glyph's numerator read twice.
    s = re.sub(r"^(\d+)\s+1\s?([½¼])", r"\1 \2", text)
    # "½4" and "½/4" are a ¼ read as the wrong glyph plus its denominator; "½2" is a ½ with its own.
    s = _GLYPH_ECHO.sub(lambda m: f"{m.group(1)} " * bool(m.group(1)) + f"{_GLYPH_NUMERATOR[m.group(2)]}/{m.group(3)}",
                        s)
    s = re.sub(r"([½¼¾])/(?!\d)", r"\1", s)
    s = re.sub(r"∛(?!/\d)", "¾", s)  # the cube-root sign is OCR's reading of a ¾ glyph
    return re.sub(r"[¹²³∛](?=/\d)", lambda m: m.group(0).translate(_SUPERSCRIPT), s)


def repair_quantity(text: str) -> str:
    """Undo OCR damage to a leading fraction and write "1-1/2" as the mixed number "1 1/2"."""
    s = _OCR_HALF_PERCENT.sub(r"\1 1/2", text)
    s = _OCR_LETTER_ZERO.sub(lambda z: z.group(1) + "0" * len(z.group(2)), s)
    g = _GLUED_MIXED.match(s)
    if g and int(g.group(2)) < int(g.group(3)):
        s = f"{g.group(1)} {g.group(2)}/{g.group(3)}{s[g.end():]}"
    m = _OCR_SPLIT_FRACTION.match(s)
    if m and _starts_with_unit(s[m.end():], SPOON_AND_CUP):
        s = f"{m.group(1)} {_OCR_FRACTIONS[m.group(2)]}{s[m.end():]}"
    s = _OCR_BARE_FRACTION.sub(lambda b: _OCR_FRACTIONS[b.group(1)], s)
    h = _HYPHEN_MIXED.match(s)
    if h and int(h.group(2)) < int(h.group(3)):
        s = f"{h.group(1)} {h.group(2)}/{h.group(3)}{s[h.end():]}"
    return s


def _starts_with_unit(text: str, units: frozenset[str]) -> bool:
    m = UNIT_WORD_RE.match(text.lstrip())
    return bool(m and lookup_unit(m.group(1)) in units)


def thin_one(text: str) -> str:
    """A lone thin letter is a 1 when a unit (or a size and a unit) follows: "I tsp vanilla" is 1 tsp."""
    m = _THIN_ONE.match(text)
    if m and _take_unit(SIZE_WORDS.sub("", text[m.end():]))[0] is not None:
        return "1 " + text[m.end():]
    return text


def written_numbers(text: str) -> str:
    """Numbers written as words at the start of a line: "two cups" -> "2 cups", "a dozen eggs" -> "12 eggs"."""
    s = _NUMBER_WORD_RE.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()]), text)
    return _DOZEN_RE.sub(lambda m: str(12 * int(m.group(1) or 1)), s)


def _skip_size(after: str) -> str:
    """The text after a quantity without a pack's stated size ("x 400g cans", "14-ounce can")."""
    mult = MULTIPLIER_RE.match(after)
    if mult:
        return after[mult.end():]
    pack = PACK_SIZE_RE.match(after)
    if pack and lookup_unit(pack.group("size")) and lookup_unit(pack.group("pack")) in PACK_UNITS:
        return after[pack.start("pack"):]
    return after


def _unit_after_quantity(after: str) -> tuple[str | None, str]:
    """The unit after a quantity, also behind a hyphen ("8-ounce") or a spoon or size qualifier ("1 heaped
    tbsp", "1 large can")."""
    unit, rest = _take_unit(after)
    if unit is None and after.startswith("-"):
        unit, rest = _take_unit(after[1:])
        rest = rest if unit is not None else after
    if unit is None:
        unqualified = SIZE_WORDS.sub("", after.lstrip())
        if unqualified != after.lstrip():
            q_unit, q_rest = _take_unit(unqualified)
            if q_unit is not None:
                return q_unit, q_rest
    return unit, rest


def _measured(quantity: float | None, after: str) -> QuantityMatch:
    """Unit and rest after a leading number: lengths and pack sizes, dual measures, pounds and ounces."""
    length = LENGTH_RE.match(after)
    if length:
        sized = after[length.end():]
        unit, rest = _take_unit(sized)
        return QuantityMatch(1.0, unit, rest) if unit in PACK_UNITS else QuantityMatch(1.0, None, sized)
    unit, rest = _unit_after_quantity(_skip_size(after))
    if unit is None:
        return _after_debris(after) or QuantityMatch(quantity, None, rest)
    rest = ALT_MEASURE_RE.sub("", rest.lstrip(), count=1)
    if unit in MEASURE_UNITS:
        pack, after_pack = _take_unit(rest)
        if pack in PACK_UNITS:
            return QuantityMatch(1.0, pack, after_pack)
    ounces = OUNCES_AFTER_POUNDS_RE.match(rest) if unit == "lb" else None
    if ounces and quantity is not None:
        return QuantityMatch(quantity + float(ounces.group(1).replace(",", ".")) / 16, unit, rest[ounces.end():])
    return QuantityMatch(quantity, unit, rest)


def _after_debris(text: str) -> QuantityMatch | None:
    """A unit (by its exact name) behind OCR debris: the amount is unknown, the unit and the rest stand."""
    debris = _DEBRIS.match(text)
    if debris is None or lookup_unit_ocr(text[:debris.end()].strip()) is not None:
        return None
    word = UNIT_WORD_RE.match(text[debris.end():])
    unit = lookup_unit(word.group(1)) if word else None
    return QuantityMatch(None, unit, text[debris.end() + word.end():]) if word and unit else None


def split_quantity(text: str) -> QuantityMatch:
    """Leading quantity and unit of an ingredient line; the rest is what remains after them."""
    s = normalize_fractions(repair_glyphs(text)).strip()
    s = BULLET_RE.sub("", s) if not re.match(r"^\d", s) else s
    s = repair_quantity(written_numbers(thin_one(APPROX_RE.sub("", s))))
    m = QTY_RE.match(s)
    if m:
        return _measured(parse_number(m.group("q1")), s[m.end():])
    debris = _after_debris(s)
    if debris is not None:
        return debris
    broken = _BROKEN_FRACTION.match(s)
    if broken:
        unit, rest = _take_unit(s[broken.end():])
        if unit is not None:
            return QuantityMatch(None, unit, rest)
    a = A_UNIT_RE.match(s)
    if a:
        unit = lookup_unit(a.group("unit"))
        if unit is not None:
            return QuantityMatch(None, unit, s[a.end():])
    # "pinch of salt", "large handful of mint": a unit with no number, recognised only before "of".
    unit, rest = _take_unit(SIZE_WORDS.sub("", s))
    if unit is not None and re.match(r"^\s*of\b", rest):
        return QuantityMatch(None, unit, rest)
    return QuantityMatch(None, None, s)


def clean_name(rest: str) -> str | None:
    """The ingredient noun phrase from the text after quantity and unit."""
    name = re.sub(r"^\s*(?:of|each)\s+", "", rest.strip(), flags=re.I)
    name = re.sub(r"^\([^)]*\)\s*", "", name)  # "(about 1 lb) tomatoes": the size is not the name
    name = SIZE_WORDS.sub("", name)
    name = re.sub(r"^\([^)]*\)\s*", "", name)  # "medium (about 1 lb) potatoes"
    name = NOTE_CLAUSE_RE.sub("", name)
    name = TRAILING_PARTICIPLE_RE.sub("", name)
    name = TO_TASTE_RE.split(name)[0]
    name = re.sub(r"\s*\([^)]*\)?\s*$", "", name)  # trailing "(optional)", "(I used ...)", unclosed
    name = re.sub(r"\s+", " ", name).strip(" ,;:-.")
    return name or None


def parse_ingredient(text: str) -> Ingredient:
    """One ingredient line -> Ingredient; never raises, original_text kept verbatim."""
    q = split_quantity(text)
    return Ingredient(original_text=text, name=clean_name(q.rest), quantity=q.quantity, unit=q.unit)


def starts_with_quantity(text: str) -> bool:
    """True when the line opens with a number (digits or a vulgar fraction) or "a/an <unit>"."""
    s = normalize_fractions(repair_glyphs(text)).strip()
    if QTY_RE.match(s):
        return True
    a = A_UNIT_RE.match(s)
    return bool(a and lookup_unit(a.group("unit")))
