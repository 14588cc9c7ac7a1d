"""Documents added after the parsers were written, as a check on layouts they were not tuned on: a US label
with per-serving and per-container columns, a linear (running-text) label, and a recipe card in capitals
with bulleted ingredients, "Step 1" numbering, a yield and a total time, and a tip."""

from __future__ import annotations

import random
from typing import Any

from PIL import Image

from testkit.photoset.draw import Family, text_width
from testkit.photoset.labels import INK, SERVINGS, _Canvas, _footnote, _num, _nutrients, _pct
from testkit.photoset.recipes import _Page, make_content
from testkit.photoset.truth import Document, RecipeTruth


def us_dual(rng: random.Random, fam: Family) -> tuple[Image.Image, dict[str, Any]]:
    """Per serving and per container side by side; the truth is the per-serving column."""
    n = _nutrients(rng)
    size_text, per = rng.choice([s for s in SERVINGS if s[1] >= 2])
    c = _Canvas(900, 2000, fam, rng.choice([22, 24]))
    c.pen.line(c.left, "Nutrition Facts", c.f(2.0, True), gap=0.2)
    c.pen.line(c.left, f"{_num(per)} servings per container", c.f())
    c.row([("Serving size", True)], right=size_text, scale=1.1, rule=False)
    c.bar(8)
    xs = [c.left, c.left + 390, c.left + 610]
    c.cells(["", "Per serving", "Per container"], xs, bold=True)
    c.cells(["Calories", str(n.kcal), str(int(n.kcal * per))], xs, bold=True)
    for name, value, unit in (("Total Fat", n.fat, "g"), ("Saturated Fat", n.sat, "g"), ("Trans Fat", n.trans, "g"),
                              ("Cholesterol", n.chol, "mg"), ("Sodium", n.sodium, "mg"),
                              ("Total Carb.", n.carbs, "g"), ("Dietary Fiber", n.fiber, "g"),
                              ("Total Sugars", n.sugars, "g"), ("Protein", n.protein, "g")):
        whole = round(value * per, 1)
        c.cells([name, f"{_num(value)}{unit}  {_pct(rng)}", f"{_num(whole)}{unit}  {_pct(rng)}"], xs)
    _footnote(c, "* The % Daily Value (DV) tells you how much a nutrient in a serving of food contributes to a "
                 "daily diet.")
    truth = {"serving_size": size_text, "servings_per_container": per, "calories": n.kcal, "total_fat_g": n.fat,
             "saturated_fat_g": n.sat, "trans_fat_g": n.trans, "cholesterol_mg": n.chol, "sodium_mg": n.sodium,
             "total_carbohydrate_g": n.carbs, "dietary_fiber_g": n.fiber, "total_sugars_g": n.sugars,
             "protein_g": n.protein}
    return c.done(), truth


def linear(rng: random.Random, fam: Family) -> tuple[Image.Image, dict[str, Any]]:
    """A linear label: every nutrient in running text, as printed on small packs."""
    n = _nutrients(rng)
    size_text, per = rng.choice(SERVINGS)
    c = _Canvas(760, 2000, fam, 22)
    text = (f"Nutrition Facts Servings: {_num(per)}, Serv. size: {size_text}, Amount per serving: Calories "
            f"{n.kcal}, Total Fat {_num(n.fat)}g ({_pct(rng)} DV), Sat. Fat {_num(n.sat)}g ({_pct(rng)} DV), "
            f"Trans Fat {_num(n.trans)}g, Cholest. {n.chol}mg ({_pct(rng)} DV), Sodium {n.sodium}mg ({_pct(rng)} "
            f"DV), Total Carb. {n.carbs}g ({_pct(rng)} DV), Fiber {n.fiber}g ({_pct(rng)} DV), Total Sugars "
            f"{n.sugars}g, Protein {n.protein}g.")
    c.pen.paragraph(c.left, text, c.f(), c.right - c.left, after=0.2)
    truth = {"serving_size": size_text, "calories": n.kcal, "total_fat_g": n.fat, "saturated_fat_g": n.sat,
             "trans_fat_g": n.trans, "cholesterol_mg": n.chol, "sodium_mg": n.sodium,
             "total_carbohydrate_g": n.carbs, "dietary_fiber_g": n.fiber, "total_sugars_g": n.sugars,
             "protein_g": n.protein}
    return c.done(), truth


def caps_card(rng: random.Random, fam: Family, index: int) -> tuple[Image.Image, RecipeTruth]:
    content = make_content(rng, index)
    p = _Page(1240, 1600, fam, 24)
    title_font = p.f(1.8, True)
    p.pen.line(p.margin, content.title.upper(), title_font, gap=0.3)
    total = (content.times["prep_min"] or 0) + (content.times["cook_min"] or 0)
    p.pen.line(p.margin, f"MAKES {content.servings}  •  READY IN {total} MINUTES", p.f(0.9, True))
    p.pen.y += p.size * 0.5
    p.pen.line(p.margin, "INGREDIENTS", p.f(1.1, True), gap=0.4)
    for group, items in content.groups:
        if group:
            p.pen.line(p.margin, group.upper().rstrip(":"), p.f(0.95, True), gap=0.3)
        for item in items:
            p.pen.line(p.margin, f"•  {item.text}", p.f(), gap=0.3)
    p.pen.y += p.size * 0.5
    p.pen.line(p.margin, "METHOD", p.f(1.1, True), gap=0.4)
    for k, step in enumerate(content.steps, 1):
        p.pen.paragraph(p.margin, f"Step {k}: {step}", p.f(), p.width, after=0.5)
    tip = "TIP: The mixture keeps in the fridge for two days; bring it back to room temperature first."
    p.pen.paragraph(p.margin, tip, p.f(0.9), p.width, after=0.3)
    bottom = int(p.pen.y + 60)
    p.draw.text((p.image.width - p.margin - text_width(p.f(0.7), "42"), 20), "42", font=p.f(0.7), fill=INK)
    truth = content.truth()
    truth = RecipeTruth(title=_title_case(content.title.upper()),
                        servings=content.servings, times={"prep_min": None, "cook_min": None, "total_min": total},
                        ingredients=truth.ingredients, instructions=truth.instructions)
    return p.image.crop((0, 0, p.image.width, min(bottom, p.image.height))), truth


def _title_case(text: str) -> str:
    """How the parser returns an ALL-CAPS title: each word capitalised."""
    return " ".join(w[:1].upper() + w[1:].lower() for w in text.split())


def make_extra(family: str, index: int, rng: random.Random, fam: Family) -> tuple[Image.Image, Document]:
    name = f"{family}_{index}_{fam.name}"
    if family == "recipe_caps":
        image, recipe = caps_card(rng, fam, index)
        return image, Document(name=name, kind="recipe", family=family, recipe=recipe)
    image, nutrition = (us_dual if family == "us_dual" else linear)(rng, fam)
    return image, Document(name=name, kind="nutrition_label", family=family, nutrition=nutrition)


EXTRA_FAMILIES = ("us_dual", "linear", "recipe_caps")
