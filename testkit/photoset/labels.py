"""Nutrition labels: US 2016, old US, Canadian bilingual, EU/UK per 100 g, AU/NZ per serve / per 100 g.

Values are drawn at random (from a seeded generator) within the ranges real labels show, consistent with
each other (parts below wholes, calories from the macros), then laid out the way each style prints them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from testkit.photoset.draw import Family, Pen, font, text_width
from testkit.photoset.truth import Document

INK = (15, 15, 15)


@dataclass
class Nutrients:
    fat: float
    sat: float
    trans: float
    chol: int
    sodium: int
    carbs: int
    fiber: int
    sugars: int
    added: int
    protein: int
    potassium: int
    sugar_alcohol: int
    kcal: int

    @property
    def fat_kcal(self) -> int:
        return int(round(self.fat * 9 / 10.0) * 10)


def _nutrients(rng: random.Random) -> Nutrients:
    fat = rng.choice([0, 0.5, 1, 2, 3.5, 5, 7, 8, 12, 15, 18, 22])
    sat = rng.choice([x for x in (0, 0.5, 1, 1.5, 2, 3, 5, 8) if x <= fat])
    trans = rng.choice([0, 0, 0.5]) if fat >= 1 else 0
    carbs = rng.randint(2, 60)
    fiber = rng.randint(0, min(8, carbs // 3))
    sugars = rng.randint(0, carbs - fiber)
    added = rng.randint(0, sugars)
    protein = rng.randint(0, 25)
    kcal = 9 * fat + 4 * carbs + 4 * protein
    kcal = int(round(kcal / 10.0) * 10) if kcal > 50 else int(round(kcal / 5.0) * 5)
    return Nutrients(fat=fat, sat=sat, trans=trans, chol=rng.choice([0, 0, 5, 10, 20, 35, 55, 95]),
                     sodium=rng.choice([0, 5, 15, 65, 140, 160, 230, 480, 650, 890]), carbs=carbs,
                     fiber=fiber, sugars=sugars, added=added, protein=protein,
                     potassium=rng.choice([0, 45, 120, 190, 235, 380, 560]),
                     sugar_alcohol=rng.choice([0, 0, 2, 5]), kcal=max(kcal, 5))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _pct(rng: random.Random) -> str:
    return f"{rng.randint(0, 40)}%"


SERVINGS = [("2/3 cup (55g)", 8.0), ("1 cup (228g)", 2.0), ("1 bar (40g)", 6.0), ("3 cookies (34g)", 10.0),
            ("1 container (170g)", 1.0), ("2 tbsp (32g)", 15.0)]


class _Canvas:
    def __init__(self, width: int, height: int, fam: Family, size: int) -> None:
        self.image = Image.new("RGB", (width, height), (252, 252, 248))
        self.draw = ImageDraw.Draw(self.image)
        self.fam = fam
        self.size = size
        self.left = 30.0
        self.right = width - 30.0
        self.pen = Pen(self.draw, 24.0)

    def f(self, scale: float = 1.0, bold: bool = False) -> ImageFont.FreeTypeFont:
        return font(self.fam.bold if bold else self.fam.regular, int(self.size * scale))

    def bar(self, thickness: int) -> None:
        self.draw.rectangle((self.left, self.pen.y, self.right, self.pen.y + thickness), fill=INK)
        self.pen.y += thickness + self.size * 0.3

    def rule(self) -> None:
        self.bar(1)

    def row(self, parts: list[tuple[str, bool]], indent: float = 0.0, right: str = "",
            scale: float = 1.0, rule: bool = True) -> None:
        """Name/value parts drawn one after another from the left; `right` is right-aligned (a %DV)."""
        x = self.left + indent
        for text, bold in parts:
            fnt = self.f(scale, bold)
            self.draw.text((x, self.pen.y), text, font=fnt, fill=INK)
            x += text_width(fnt, text + " ")
        if right:
            fnt = self.f(scale, True)
            self.draw.text((self.right - text_width(fnt, right), self.pen.y), right, font=fnt, fill=INK)
        self.pen.y += self.size * scale * 1.3
        if rule:
            self.rule()

    def cells(self, texts: list[str], xs: list[float], bold: bool = False, rule: bool = True) -> None:
        fnt = self.f(1.0, bold)
        for text, x in zip(texts, xs, strict=False):
            self.draw.text((x, self.pen.y), text, font=fnt, fill=INK)
        self.pen.y += self.size * 1.3
        if rule:
            self.rule()

    def done(self) -> Image.Image:
        bottom = int(self.pen.y + 30)
        self.draw.rectangle((10, 10, self.image.width - 10, bottom - 10), outline=INK, width=3)
        return self.image.crop((0, 0, self.image.width, bottom))


def _footnote(c: _Canvas, text: str) -> None:
    c.pen.paragraph(c.left, text, c.f(0.75), c.right - c.left, after=0.2)


def us_2016(rng: random.Random, fam: Family, mid_row: bool) -> tuple[Image.Image, dict[str, Any]]:
    n = _nutrients(rng)
    size_text, per = rng.choice(SERVINGS)
    c = _Canvas(820, 2000, fam, rng.choice([24, 26, 28]))
    c.pen.line(c.left, "Nutrition Facts", c.f(2.0, True), gap=0.2)
    c.rule()
    c.pen.line(c.left, f"{_num(per)} servings per container", c.f())
    c.row([("Serving size", True)], right=size_text, scale=1.15, rule=False)
    c.bar(10)
    c.pen.line(c.left, "Amount per serving", c.f(0.8, True), gap=0.1)
    c.row([("Calories", True)], right=str(n.kcal), scale=1.8, rule=False)
    c.bar(6)
    c.row([], right="% Daily Value*", scale=0.8)
    c.row([("Total Fat", True), (f"{_num(n.fat)}g", False)], right=_pct(rng))
    c.row([("Saturated Fat", False), (f"{_num(n.sat)}g", False)], indent=24, right=_pct(rng))
    c.row([("Trans", False), ("Fat", False), (f"{_num(n.trans)}g", False)], indent=24)
    c.row([("Cholesterol", True), (f"{n.chol}mg", False)], right=_pct(rng))
    c.row([("Sodium", True), (f"{n.sodium}mg", False)], right=_pct(rng))
    c.row([("Total Carbohydrate", True), (f"{n.carbs}g", False)], right=_pct(rng))
    c.row([("Dietary Fiber", False), (f"{n.fiber}g", False)], indent=24, right=_pct(rng))
    c.row([("Total Sugars", False), (f"{n.sugars}g", False)], indent=24)
    c.row([("Includes", False), (f"{n.added}g", False), ("Added Sugars", False)], indent=48, right=_pct(rng))
    if n.sugar_alcohol:
        c.row([("Sugar Alcohol", False), (f"{n.sugar_alcohol}g", False)], indent=24)
    c.row([("Protein", True), (f"{n.protein}g", False)], rule=False)
    c.bar(10)
    micro = [f"Vitamin D {rng.randint(0, 5)}mcg {rng.randint(0, 30)}%", f"Calcium {rng.randint(0, 300)}mg "
             f"{rng.randint(0, 30)}%", f"Iron {rng.randint(0, 9)}mg {rng.randint(0, 45)}%",
             f"Potassium {n.potassium}mg {rng.randint(0, 15)}%"]
    if mid_row:
        c.row([(micro[0] + "  •  " + micro[1], False)])
        c.row([(micro[2] + "  •  " + micro[3], False)], rule=False)
    else:
        for m in micro:
            c.row([(m, False)])
    c.bar(6)
    _footnote(c, "* The % Daily Value (DV) tells you how much a nutrient in a serving of food contributes to "
                 "a daily diet. 2,000 calories a day is used for general nutrition advice.")
    truth = {"serving_size": size_text, "servings_per_container": per, "calories": n.kcal,
             "total_fat_g": n.fat, "saturated_fat_g": n.sat, "trans_fat_g": n.trans, "cholesterol_mg": n.chol,
             "sodium_mg": n.sodium, "total_carbohydrate_g": n.carbs, "dietary_fiber_g": n.fiber,
             "total_sugars_g": n.sugars, "added_sugars_g": n.added, "protein_g": n.protein,
             "potassium_mg": n.potassium}
    return c.done(), truth


def us_old(rng: random.Random, fam: Family, mid_row: bool) -> tuple[Image.Image, dict[str, Any]]:
    n = _nutrients(rng)
    size_text, per = rng.choice(SERVINGS)
    c = _Canvas(820, 2000, fam, rng.choice([22, 24, 26]))
    c.pen.line(c.left, "Nutrition Facts", c.f(1.9, True), gap=0.2)
    c.pen.line(c.left, f"Serving Size {size_text}", c.f())
    c.pen.line(c.left, f"Servings Per Container {_num(per)}", c.f())
    c.bar(10)
    c.row([("Amount Per Serving", True)], scale=0.85)
    # "Calories from Fat" beside the calories; with the calories misread it must not take their place.
    cx = c.left + 0.55 * (c.right - c.left)
    c.draw.text((c.left, c.pen.y), "Calories", font=c.f(1.0, True), fill=INK)
    c.draw.text((c.left + text_width(c.f(1.0, True), "Calories "), c.pen.y), str(n.kcal), font=c.f(), fill=INK)
    c.draw.text((cx, c.pen.y), f"Calories from Fat {n.fat_kcal}", font=c.f(), fill=INK)
    c.pen.y += c.size * 1.3
    c.bar(4)
    c.row([], right="% Daily Value*", scale=0.85)
    c.row([("Total Fat", True), (f"{_num(n.fat)}g", False)], right=_pct(rng))
    c.row([("Saturated Fat", False), (f"{_num(n.sat)}g", False)], indent=24, right=_pct(rng))
    c.row([("Trans Fat", False), (f"{_num(n.trans)}g", False)], indent=24)
    c.row([("Cholesterol", True), (f"{n.chol}mg", False)], right=_pct(rng))
    c.row([("Sodium", True), (f"{n.sodium}mg", False)], right=_pct(rng))
    c.row([("Total Carbohydrate", True), (f"{n.carbs}g", False)], right=_pct(rng))
    c.row([("Dietary Fiber", False), (f"{n.fiber}g", False)], indent=24, right=_pct(rng))
    c.row([("Sugars", False), (f"{n.sugars}g", False)], indent=24)
    if n.sugar_alcohol:
        c.row([("Sugar Alcohol", False), (f"{n.sugar_alcohol}g", False)], indent=24)
    c.row([("Protein", True), (f"{n.protein}g", False)], rule=False)
    c.bar(10)
    if mid_row:
        c.row([(f"Vitamin A {rng.randint(0, 20)}%   •   Vitamin C {rng.randint(0, 20)}%", False)])
        c.row([(f"Calcium {rng.randint(0, 20)}%   •   Iron {rng.randint(0, 20)}%", False)], rule=False)
    else:
        for m in ("Vitamin A", "Vitamin C", "Calcium", "Iron"):
            c.row([(m, False)], right=f"{rng.randint(0, 20)}%")
    c.bar(4)
    _footnote(c, "* Percent Daily Values are based on a 2,000 calorie diet. Your daily values may be higher "
                 "or lower depending on your calorie needs:")
    xs = [c.left, c.left + 300, c.left + 470, c.left + 620]
    c.cells(["", "Calories:", "2,000", "2,500"], xs, rule=False)
    c.cells(["Total Fat", "Less than", "65g", "80g"], xs, rule=False)
    c.cells(["Sodium", "Less than", "2,400mg", "2,400mg"], xs, rule=False)
    c.cells(["Total Carbohydrate", "", "300g", "375g"], xs, rule=False)
    truth = {"serving_size": size_text, "servings_per_container": per, "calories": n.kcal,
             "total_fat_g": n.fat, "saturated_fat_g": n.sat, "trans_fat_g": n.trans, "cholesterol_mg": n.chol,
             "sodium_mg": n.sodium, "total_carbohydrate_g": n.carbs, "dietary_fiber_g": n.fiber,
             "total_sugars_g": n.sugars, "protein_g": n.protein}
    return c.done(), truth


def canadian(rng: random.Random, fam: Family, mid_row: bool) -> tuple[Image.Image, dict[str, Any]]:
    n = _nutrients(rng)
    c = _Canvas(840, 2000, fam, rng.choice([22, 24, 26]))
    c.pen.line(c.left, "Nutrition Facts", c.f(1.6, True), gap=0.05)
    c.pen.line(c.left, "Valeur nutritive", c.f(1.6, True), gap=0.2)
    c.pen.line(c.left, "Per 1 cup (250 mL)", c.f())
    c.pen.line(c.left, "pour 1 tasse (250 mL)", c.f())
    c.bar(4)
    y = c.pen.y
    c.draw.text((c.left, y), "Calories", font=c.f(1.6, True), fill=INK)
    c.draw.text((c.left + text_width(c.f(1.6, True), "Calories "), y), str(n.kcal), font=c.f(1.6), fill=INK)
    small = c.f(0.8, True)
    for k, t in enumerate(("% Daily Value*", "% valeur quotidienne*")):
        c.draw.text((c.right - text_width(small, t), y + k * c.size * 0.9), t, font=small, fill=INK)
    c.pen.y += c.size * 2.1
    c.bar(4)
    c.row([("Fat / Lipides", True), (f"{_num(n.fat)} g", False)], right=f"{rng.randint(0, 30)} %")
    c.row([("Saturated / saturés", False), (f"{_num(n.sat)} g", False)], indent=24, right=f"{rng.randint(0, 30)} %",
          rule=False)
    c.row([("+ Trans / trans", False), (f"{_num(n.trans)} g", False)], indent=24)
    c.row([("Carbohydrate / Glucides", True), (f"{n.carbs} g", False)])
    c.row([("Fibre / Fibres", False), (f"{n.fiber} g", False)], indent=24, right=f"{rng.randint(0, 30)} %")
    c.row([("Sugars / Sucres", False), (f"{n.sugars} g", False)], indent=24, right=f"{rng.randint(0, 30)} %")
    c.row([("Protein / Protéines", True), (f"{n.protein} g", False)])
    c.row([("Cholesterol / Cholestérol", True), (f"{n.chol} mg", False)])
    c.row([("Sodium", True), (f"{n.sodium} mg", False)], right=f"{rng.randint(0, 30)} %")
    if mid_row:
        c.row([(f"Potassium {n.potassium} mg  {rng.randint(0, 15)} %   Calcium {rng.randint(0, 300)} mg  "
                f"{rng.randint(0, 20)} %", False)])
        c.row([(f"Iron / Fer {rng.randint(0, 4)} mg  {rng.randint(0, 20)} %", False)], rule=False)
    else:
        c.row([("Potassium", True), (f"{n.potassium} mg", False)], right=f"{rng.randint(0, 15)} %")
        c.row([("Calcium", True), (f"{rng.randint(0, 300)} mg", False)], right=f"{rng.randint(0, 20)} %")
        c.row([("Iron / Fer", True), (f"{rng.randint(0, 4)} mg", False)], right=f"{rng.randint(0, 20)} %",
              rule=False)
    c.bar(4)
    _footnote(c, "*5% or less is a little, 15% or more is a lot")
    _footnote(c, "*5 % ou moins c'est peu, 15 % ou plus c'est beaucoup")
    truth = {"calories": n.kcal, "total_fat_g": n.fat, "saturated_fat_g": n.sat, "trans_fat_g": n.trans,
             "cholesterol_mg": n.chol, "sodium_mg": n.sodium, "total_carbohydrate_g": n.carbs,
             "dietary_fiber_g": n.fiber, "total_sugars_g": n.sugars, "protein_g": n.protein,
             "potassium_mg": n.potassium}
    return c.done(), truth


def _per100(x: float, grams: int) -> float:
    return round(x * 100.0 / grams, 1)


def eu_table(rng: random.Random, fam: Family, serving_column: bool) -> tuple[Image.Image, dict[str, Any]]:
    """EU/UK: per 100 g first, then (optionally) per serving; energy in kJ and kcal; salt, not sodium."""
    n = _nutrients(rng)
    grams = rng.choice([25, 30, 40, 45])
    c = _Canvas(900, 2000, fam, rng.choice([22, 24, 26]))
    c.pen.line(c.left, rng.choice(["NUTRITION", "Nutrition Information", "Nutrition"]), c.f(1.4, True), gap=0.3)
    xs = [c.left, c.left + 330, c.left + 560]
    head = ["Typical values", "Per 100g", f"Per {grams}g serving"]
    c.cells(head if serving_column else head[:2], xs, bold=True)
    serve = {"fat": float(n.fat), "sat": float(n.sat), "carbs": float(n.carbs), "sugars": float(n.sugars),
             "fiber": float(n.fiber), "protein": float(n.protein)}
    hundred = {k: _per100(v, grams) for k, v in serve.items()}
    kcal100 = round(n.kcal * 100.0 / grams)
    energy_split = rng.random() < 0.5

    def row(name: str, key: str) -> None:
        vals = [f"{_num(hundred[key])}g", f"{_num(serve[key])}g"]
        c.cells([name] + (vals if serving_column else vals[:1]), xs)

    kj100, kj = round(kcal100 * 4.184), round(n.kcal * 4.184)
    if energy_split:
        c.cells(["Energy", f"{kj100}kJ", f"{kj}kJ"][: 3 if serving_column else 2], xs, rule=False)
        c.cells(["", f"{kcal100}kcal", f"{n.kcal}kcal"][: 3 if serving_column else 2], xs)
    else:
        c.cells(["Energy", f"{kj100}kJ/{kcal100}kcal", f"{kj}kJ/{n.kcal}kcal"][: 3 if serving_column else 2], xs)
    row("Fat", "fat")
    row("of which saturates", "sat")
    row("Carbohydrate", "carbs")
    row("of which sugars", "sugars")
    row("Fibre", "fiber")
    row("Protein", "protein")
    salt = round(n.sodium * 2.5 / 1000.0, 2)
    c.cells(["Salt", f"{_num(round(salt * 100 / grams, 2))}g", f"{_num(salt)}g"][: 3 if serving_column else 2],
            xs, rule=False)
    src = serve if serving_column else hundred
    truth = {"calories": n.kcal if serving_column else kcal100, "total_fat_g": src["fat"],
             "saturated_fat_g": src["sat"], "total_carbohydrate_g": src["carbs"], "total_sugars_g": src["sugars"],
             "dietary_fiber_g": src["fiber"], "protein_g": src["protein"]}
    return c.done(), truth


def au_table(rng: random.Random, fam: Family, cal_in_brackets: bool) -> tuple[Image.Image, dict[str, Any]]:
    """AU/NZ: per serve first, per 100 g second; energy in kJ (sometimes with Cal); sodium in mg."""
    n = _nutrients(rng)
    grams = rng.choice([30, 40, 50, 60])
    per = rng.choice([4, 6, 8, 12])
    c = _Canvas(900, 2000, fam, rng.choice([22, 24, 26]))
    c.pen.line(c.left, "NUTRITION INFORMATION", c.f(1.3, True), gap=0.3)
    c.pen.line(c.left, f"Servings per package: {per}", c.f())
    c.pen.line(c.left, f"Serving size: {grams}g", c.f())
    c.rule()
    xs = [c.left, c.left + 330, c.left + 580]
    c.cells(["", "Avg Quantity", "Avg Quantity"], xs, bold=True, rule=False)
    c.cells(["", "per Serving", "per 100g"], xs, bold=True)
    serve = {"fat": float(n.fat), "sat": float(n.sat), "carbs": float(n.carbs), "sugars": float(n.sugars),
             "protein": float(n.protein), "fiber": float(n.fiber)}
    hundred = {k: _per100(v, grams) for k, v in serve.items()}
    kj, kj100 = round(n.kcal * 4.184), round(n.kcal * 4.184 * 100 / grams)
    if cal_in_brackets:
        c.cells(["Energy", f"{kj}kJ ({n.kcal}Cal)", f"{kj100}kJ ({round(kj100 / 4.184)}Cal)"], xs)
    else:
        c.cells(["Energy", f"{kj}kJ", f"{kj100}kJ"], xs)
    for name, key in (("Protein", "protein"), ("Fat, total", "fat"), ("- saturated", "sat"),
                      ("Carbohydrate", "carbs"), ("- sugars", "sugars"), ("Dietary Fibre", "fiber")):
        c.cells([name, f"{_num(serve[key])}g", f"{_num(hundred[key])}g"], xs)
    c.cells(["Sodium", f"{n.sodium}mg", f"{round(n.sodium * 100 / grams)}mg"], xs, rule=False)
    truth = {"serving_size": f"{grams}g", "servings_per_container": float(per),
             "calories": n.kcal if cal_in_brackets else round(kj / 4.184), "total_fat_g": serve["fat"],
             "saturated_fat_g": serve["sat"], "total_carbohydrate_g": serve["carbs"],
             "total_sugars_g": serve["sugars"], "protein_g": serve["protein"], "dietary_fiber_g": serve["fiber"],
             "sodium_mg": n.sodium}
    return c.done(), truth


LabelMaker = Callable[[random.Random, Family, bool], tuple[Image.Image, dict[str, Any]]]
STYLES: dict[str, LabelMaker] = {"us2016": us_2016, "us_old": us_old, "ca_bilingual": canadian,
                                 "eu_100g": eu_table, "au_serve": au_table}


def make_label(style: str, index: int, rng: random.Random, fam: Family) -> tuple[Image.Image, Document]:
    variant = index % 2 == 1
    image, truth = STYLES[style](rng, fam, variant)
    name = f"label_{style}_{index}_{fam.name}"
    return image, Document(name=name, kind="nutrition_label", family=style, nutrition=truth)
