"""Numbers on a nutrition label: OCR repair of label text, values with units checked against the field
they are read for, energy in kcal or kJ."""

from __future__ import annotations

import re

VALUE_RE = re.compile(r"(?P<lt><|less\s*than\s*)?(?P<num>\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:[.,]\d+)?)\s*"
                      r"(?P<unit>mcg|µg|mg|kcal|kj|cal|g)?(?P<pct>\s*%)?", re.I)
# Per-serving maxima used only to judge a bare number implausible.
PLAUSIBLE_MAX = {"g": 100.0, "mg": 5000.0, "kcal": 2000.0}
KJ_PER_KCAL = 4.184


def repair_text(text: str) -> str:
    """Undo common OCR damage on label text; lowercased."""
    s = text.replace("’", "'").replace("|", " ")
    s = re.sub(r"(?<=[A-Za-z])(?=\d)", " ", s)             # "Carbohydrate31g" -> "Carbohydrate 31g"
    s = re.sub(r"(?<=\d)(m?g|mcg)(?=[A-Z])", r"\1 ", s)     # "0gAdded" -> "0g Added"
    s = re.sub(r"\b[oO](?=\s*(?:mcg|mg|g)\b)", "0", s)      # "Og", "O mg" -> "0g", "0 mg"
    s = re.sub(r"(?<=\d)[oO]\b|(?<=\d)[oO](?=\d)", "0", s)  # "1O" -> "10"
    s = re.sub(r"\s+", " ", s)
    return s.strip().lower().lstrip("-–•·*. ")


def repair_text_keep_case(text: str) -> str:
    """Serving sizes are returned as printed; only spacing and zero/"O" damage are repaired."""
    s = re.sub(r"\b[oO](?=\s*(?:mcg|mg|g)\b)", "0", text)
    return re.sub(r"\s+", " ", s).strip()


def to_float(num: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", num):
        return float(num.replace(",", ""))
    return float(num.replace(",", "."))


def has_value(text: str) -> bool:
    return any(not m.group("pct") for m in VALUE_RE.finditer(text))


def parse_value(text: str, unit: str | None) -> float | None:
    """First non-percentage number of text, in `unit` ("g", "mg", or None for energy in kcal).

    A unit that does not fit the field makes the reading implausible (None), not a conversion: "30mg" of
    carbohydrate is a misread, not 0.03 g. Grams in a milligram field are accepted only as small decimals
    ("Sodium 0.2g"), as printed on some labels.
    """
    for m in VALUE_RE.finditer(text):
        if m.group("pct"):
            continue
        num, found_unit = m.group("num"), (m.group("unit") or "").lower()
        value = to_float(num)
        if unit is None:
            return energy_kcal(text)
        if not found_unit:
            return misread_g(num, unit)
        if found_unit in ("kcal", "kj", "cal"):
            return None
        if found_unit in ("mcg", "µg"):
            return round(value / 1000.0, 3) if unit == "mg" else None
        if found_unit == unit:
            return round(value, 3)
        if found_unit == "g" and unit == "mg" and value < 10 and not float(value).is_integer():
            return round(value * 1000.0, 3)
        return None
    return None


def energy_kcal(text: str) -> float | None:
    """Energy in kcal from a cell: the first kcal/Cal figure, else the first bare number, else the first
    kJ figure converted (a label printing energy in kJ only)."""
    bare: float | None = None
    kj: float | None = None
    for m in VALUE_RE.finditer(text):
        if m.group("pct"):
            continue
        unit = (m.group("unit") or "").lower()
        value = to_float(m.group("num"))
        if not unit and re.match(r"\s*k", text[m.end():], re.I):
            continue  # "967 k": a kJ or kcal cut short (glare, an edge): which one cannot be told
        if unit in ("kcal", "cal"):
            return value
        if unit == "kj" and kj is None:
            kj = value
        elif not unit and bare is None and kj is None:
            bare = value
    if bare is not None:
        return bare
    return float(round(kj / KJ_PER_KCAL)) if kj is not None else None


def only_kj(text: str) -> bool:
    units = [(m.group("unit") or "").lower() for m in VALUE_RE.finditer(text) if not m.group("pct")]
    return bool(units) and all(u == "kj" for u in units)


def misread_g(num: str, unit: str) -> float | None:
    """A bare number where a unit is expected. "09" is "0g"; "129" for a gram field above its maximum is
    "12g"; any other bare number is taken as printed (OCR often drops a small unit)."""
    value = to_float(num)
    if unit == "g" and num.endswith("9") and len(num) >= 2 and "." not in num and "," not in num \
            and (num.startswith("0") or value > PLAUSIBLE_MAX["g"]):
        return to_float(num[:-1])
    if value > PLAUSIBLE_MAX.get(unit, float("inf")):
        return None
    return value
