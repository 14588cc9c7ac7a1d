"""The ingredient lines bench/ingredient_parsers.py scores, each with its truth (see its docstring)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
