"""Recipe pages and cards: one and two columns, wrapped titles, intros, running headers and footers, card
rows, ingredient groups, numbered or paragraph steps with and without a Method header, nutrition lines
under the recipe, and the ingredient forms that trouble parsers (fractions, dual units, "2 x 400g")."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from testkit.photoset.draw import Family, Pen, font, wrap
from testkit.photoset.truth import Document, IngredientTruth, RecipeTruth

Ing = IngredientTruth
INGREDIENTS: tuple[IngredientTruth, ...] = (
    Ing("200g/7oz plain flour", 200, "g", "plain flour"),
    Ing("1-1/2 cups milk", 1.5, "cup", "milk"),
    Ing("2 x 400g cans chopped tomatoes", 2, "can", "chopped tomatoes"),
    Ing("1,000 g potatoes", 1000, "g", "potatoes"),
    Ing("2 tbsp + 1 tsp olive oil", 2, "tbsp", "olive oil"),
    Ing("4 eggs, beaten", 4, None, "eggs"),
    Ing("3 ½ cups chicken stock", 3.5, "cup", "chicken stock"),
    Ing("½ cup sugar", 0.5, "cup", "sugar"),
    Ing("1½ tsp baking powder", 1.5, "tsp", "baking powder"),
    Ing("2-3 cloves garlic, crushed", 2, "clove", "garlic"),
    Ing("1 (14 oz) can coconut milk", 1, "can", "coconut milk"),
    Ing("salt and pepper to taste", None, None, "salt and pepper"),
    Ing("a pinch of nutmeg", None, "pinch", "nutmeg"),
    Ing("100g butter, softened", 100, "g", "butter"),
    Ing("1 large onion, finely chopped", 1, None, "onion"),
    Ing("250ml/9fl oz double cream", 250, "ml", "double cream"),
    Ing("1 tsp vanilla extract", 1, "tsp", "vanilla extract"),
    Ing("3 tbsp honey", 3, "tbsp", "honey"),
    Ing("500 g minced beef", 500, "g", "minced beef"),
    Ing("2 carrots, peeled and diced", 2, None, "carrots"),
    Ing("150g/5½oz caster sugar", 150, "g", "caster sugar"),
    Ing("¼ tsp ground cinnamon", 0.25, "tsp", "ground cinnamon"),
    Ing("1 cup (240ml) warm water", 1, "cup", "warm water"),
    Ing("¾ cup brown sugar, packed", 0.75, "cup", "brown sugar"),
    Ing("2 tablespoons soy sauce", 2, "tbsp", "soy sauce"),
    Ing("1 bunch coriander, chopped", 1, "bunch", "coriander"),
    Ing("6 slices bacon", 6, "slice", "bacon"),
    Ing("1.5 kg lamb shoulder", 1.5, "kg", "lamb shoulder"),
    Ing("50g dark chocolate, melted", 50, "g", "dark chocolate"),
    Ing("400ml coconut milk", 400, "ml", "coconut milk"),
    Ing("1 red pepper, deseeded and sliced", 1, None, "red pepper"),
    Ing("2 cups all-purpose flour, sifted", 2, "cup", "all-purpose flour"),
    Ing("1 1/2 teaspoons salt", 1.5, "tsp", "salt"),
    Ing("1 lemon, zested and juiced", 1, None, "lemon"),
    Ing("300g/10½oz self-raising flour", 300, "g", "self-raising flour"),
    Ing("2 x 200g packs halloumi", 2, "package", "halloumi"),
)
GROUP_HEADERS = ("For the sauce:", "For the topping:", "For the dough", "For the filling:", "To serve")
TITLES = ("Lemon Drizzle Traybake", "Sticky Toffee Pudding with Salted Caramel Sauce", "Chicken and Leek Pie",
          "Slow-Roasted Lamb Shoulder with Garlic and Rosemary Potatoes", "Spiced Carrot Soup",
          "Chocolate Fudge Brownies", "Tomato and Coconut Dal with Crispy Onions", "Classic Shortbread",
          "Beef and Ale Stew with Herb Dumplings", "Halloumi Traybake")
INTROS = ("This is the kind of bake that disappears from the tin within a day. It keeps well for a week in an "
          "airtight container, if it gets the chance.",
          "A weeknight favourite in our house: everything goes into one pan, and the oven does the rest while "
          "you lay the table.",
          "My grandmother made this every Sunday and the smell still takes me straight back to her kitchen.")
STEPS = ("Preheat the oven to 180C/160C fan/gas 4 and line a 20cm square tin with baking paper.",
         "Heat the oil in a large pan over a medium heat and cook the onion for 10 minutes, stirring often, "
         "until soft and golden.",
         "Add the garlic and spices and fry for a minute more, then tip in the tomatoes and stock.",
         "Bring to the boil, then reduce the heat and simmer for 25 minutes until thickened.",
         "Beat the butter and sugar together until pale and fluffy, then add the eggs one at a time.",
         "Fold in the flour and baking powder, then spoon the mixture into the tin and level the top.",
         "Bake for 35-40 minutes until risen and a skewer inserted into the middle comes out clean.",
         "Leave to cool in the tin for 15 minutes before turning out onto a wire rack.",
         "Season well with salt and pepper and scatter over the coriander just before serving.",
         "Meanwhile, whisk the cream until it holds soft peaks and keep it in the fridge until needed.",
         "Roast the lamb for 4 hours, basting every hour, until the meat falls away from the bone.",
         "Transfer to a serving dish and drizzle with the remaining honey.")
CHAPTERS = ("Traybakes", "Weeknight Dinners", "Sunday Roasts", "Soups & Stews", "Baking")
INK = (25, 22, 20)


@dataclass
class RecipeContent:
    title: str
    intro: str | None
    servings: int | None
    times: dict[str, int | None]
    groups: list[tuple[str | None, list[IngredientTruth]]]
    steps: list[str]
    nutrition_line: str | None

    def truth(self) -> RecipeTruth:
        ingredients = tuple(i for _, items in self.groups for i in items)
        return RecipeTruth(title=self.title, servings=self.servings, times=dict(self.times),
                           ingredients=ingredients, instructions=tuple(self.steps))


def _fmt_minutes(m: int) -> str:
    if m >= 60:
        h, rest = divmod(m, 60)
        return f"{h} hour{'s' if h > 1 else ''}" + (f" {rest} minutes" if rest else "")
    return f"{m} minutes"


def make_content(rng: random.Random, index: int) -> RecipeContent:
    title = TITLES[index % len(TITLES)]
    pool = list(INGREDIENTS)
    rng.shuffle(pool)
    count = rng.randint(6, 11)
    items = pool[:count]
    groups: list[tuple[str | None, list[IngredientTruth]]]
    if rng.random() < 0.4:
        cut = rng.randint(3, count - 2)
        groups = [(None, items[:cut]), (rng.choice(GROUP_HEADERS), items[cut:])]
    else:
        groups = [(None, items)]
    steps = rng.sample(STEPS, rng.randint(3, 6))
    prep = rng.choice([5, 10, 15, 20, 25])
    cook = rng.choice([20, 30, 45, 60, 75, 90])
    times = {"prep_min": prep, "cook_min": cook, "total_min": None}
    kcal = rng.randint(180, 650)
    nutrition = (f"Per serving: {kcal} kcal, {rng.randint(3, 30)}g fat, {rng.randint(10, 70)}g carbs, "
                 f"{rng.randint(2, 40)}g protein") if rng.random() < 0.4 else None
    return RecipeContent(title=title, intro=rng.choice(INTROS) if rng.random() < 0.6 else None,
                         servings=rng.choice([2, 4, 6, 8, 12, 18]), times=times, groups=groups, steps=steps,
                         nutrition_line=nutrition)


class _Page:
    def __init__(self, width: int, height: int, fam: Family, size: int) -> None:
        self.image = Image.new("RGB", (width, height), (250, 247, 240))
        self.draw = ImageDraw.Draw(self.image)
        self.fam = fam
        self.size = size
        self.margin = 70.0
        self.pen = Pen(self.draw, 60.0)

    def f(self, scale: float = 1.0, bold: bool = False) -> ImageFont.FreeTypeFont:
        return font(self.fam.bold if bold else self.fam.regular, int(self.size * scale))

    @property
    def width(self) -> float:
        return self.image.width - 2 * self.margin


def _running_header(p: _Page, rng: random.Random) -> None:
    fnt = p.f(0.7)
    number, chapter = rng.randint(12, 240), rng.choice(CHAPTERS)
    text = f"{number} {chapter}" if rng.random() < 0.5 else f"{chapter} {number}"
    p.draw.text((p.margin, 20), text, font=fnt, fill=(90, 90, 90))


def _footer(p: _Page, rng: random.Random) -> None:
    fnt = p.f(0.7)
    p.draw.text((p.image.width / 2, p.image.height - 45), str(rng.randint(12, 240)), font=fnt, fill=(90, 90, 90))


def _title(p: _Page, c: RecipeContent, x: float, width: float) -> None:
    fnt = p.f(2.0, True)
    for ln in wrap(fnt, c.title, width):
        p.pen.line(x, ln, fnt, gap=0.15)
    p.pen.y += p.size * 0.4


def _meta(p: _Page, c: RecipeContent, x: float, stacked: bool) -> None:
    parts = [f"Serves {c.servings}", f"Prep {_fmt_minutes(c.times['prep_min'] or 0)}",
             f"Cook {_fmt_minutes(c.times['cook_min'] or 0)}"]
    fnt = p.f(0.9, True)
    if stacked:
        for t in parts:
            p.pen.line(x, t, fnt, gap=0.25)
    else:
        p.pen.line(x, "   |   ".join(parts), fnt)
    p.pen.y += p.size * 0.4


def _ingredients(p: _Page, c: RecipeContent, x: float, width: float, header: bool) -> None:
    if header:
        p.pen.line(x, "Ingredients", p.f(1.2, True), gap=0.4)
    body = p.f()
    for group, items in c.groups:
        if group:
            p.pen.y += p.size * 0.3
            p.pen.line(x, group, p.f(1.0, True), gap=0.3)
        for item in items:
            lines = wrap(body, item.text, width)
            for k, ln in enumerate(lines):
                p.pen.line(x + (p.size * 1.2 if k else 0), ln, body, gap=0.3)
    p.pen.y += p.size * 0.6


def _steps(p: _Page, c: RecipeContent, x: float, width: float, header: bool, numbered: bool,
           y_limit: float | None = None, next_x: float | None = None, top: float = 0.0) -> None:
    if header:
        p.pen.line(x, "Method", p.f(1.2, True), gap=0.4)
    body = p.f()
    for k, step in enumerate(c.steps, 1):
        text = f"{k}. {step}" if numbered else step
        lines = wrap(body, text, width)
        if y_limit is not None and next_x is not None and p.pen.y + len(lines) * p.size * 1.3 > y_limit:
            x, p.pen.y, y_limit = next_x, top, None  # flow into the next column
        p.pen.paragraph(x, text, body, width, after=0.6)
    if c.nutrition_line:
        p.pen.paragraph(x, c.nutrition_line, p.f(0.8), width, after=0.3)


def one_column(rng: random.Random, fam: Family, c: RecipeContent) -> Image.Image:
    p = _Page(1240, 1754, fam, rng.choice([24, 26, 28]))
    _running_header(p, rng)
    _title(p, c, p.margin, p.width * 0.8)
    if c.intro:
        p.pen.paragraph(p.margin, c.intro, p.f(0.95), p.width, after=0.6)
    _meta(p, c, p.margin, stacked=False)
    _ingredients(p, c, p.margin, p.width, header=rng.random() < 0.7)
    _steps(p, c, p.margin, p.width, header=rng.random() < 0.5, numbered=rng.random() < 0.5)
    _footer(p, rng)
    return p.image


def two_column(rng: random.Random, fam: Family, c: RecipeContent) -> Image.Image:
    """Ingredients in a narrow left column, the method in a wide right one."""
    p = _Page(1500, 1300, fam, rng.choice([22, 24]))
    _running_header(p, rng)
    _title(p, c, p.margin, p.width * 0.7)
    if c.intro:
        p.pen.paragraph(p.margin, c.intro, p.f(0.95), p.width, after=0.6)
    _meta(p, c, p.margin, stacked=False)
    top = p.pen.y
    left_w = p.width * 0.34
    _ingredients(p, c, p.margin, left_w, header=True)
    p.pen.y = top
    _steps(p, c, p.margin + left_w + 60, p.width - left_w - 60, header=rng.random() < 0.5,
           numbered=rng.random() < 0.6)
    return p.image


def flowing_columns(rng: random.Random, fam: Family, c: RecipeContent) -> Image.Image:
    """A magazine page: ingredients then method in column one, the method continuing in column two."""
    p = _Page(1500, 900, fam, rng.choice([22, 24]))
    _running_header(p, rng)
    _title(p, c, p.margin, p.width * 0.7)
    _meta(p, c, p.margin, stacked=False)
    top = p.pen.y
    col_w = (p.width - 60) / 2
    _ingredients(p, c, p.margin, col_w, header=True)
    _steps(p, c, p.margin, col_w, header=True, numbered=rng.random() < 0.5, y_limit=p.image.height - 90,
           next_x=p.margin + col_w + 60, top=top)
    _footer(p, rng)
    return p.image


def card(rng: random.Random, fam: Family, c: RecipeContent) -> Image.Image:
    """A recipe card: title, stacked "Serves / Prep / Cook" rows, ingredients left of the method."""
    p = _Page(1400, 1000, fam, 22)
    p.margin = 50.0
    p.pen.y = 40.0
    _title(p, c, p.margin, p.width * 0.8)
    top = p.pen.y
    _meta(p, c, p.margin, stacked=True)
    left_w = p.width * 0.36
    _ingredients(p, c, p.margin, left_w, header=False)
    p.pen.y = top
    _steps(p, c, p.margin + left_w + 60, p.width - left_w - 60, header=False, numbered=rng.random() < 0.5)
    bottom = int(max(p.pen.y, 600) + 40)
    return p.image.crop((0, 0, p.image.width, min(bottom, p.image.height)))


LAYOUTS = {"recipe_1col": one_column, "recipe_2col": two_column, "recipe_flow": flowing_columns,
           "recipe_card": card}


def make_recipe(layout: str, index: int, rng: random.Random, fam: Family) -> tuple[Image.Image, Document]:
    content = make_content(rng, index)
    image = LAYOUTS[layout](rng, fam, content)
    name = f"{layout}_{index}_{fam.name}"
    return image, Document(name=name, kind="recipe", family=layout, recipe=content.truth())

