"""Recipe pages as HTML/CSS: a cookbook page in serif type (running head, drop cap, quantities in their own
column), a two-column book spread (ingredients in a shaded sidebar), a blog recipe card (icons for servings
and times, notes and a nutrition line), a handwritten index card, and a US cookbook page with small-caps
headings and ingredient groups.

Each maker returns html; the truth comes from the content (make_content), the same for every layout.
"""

from __future__ import annotations

import html as html_lib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from testkit.photoset.truth import IngredientTruth, RecipeTruth
from testkit.photoset_html.vocab import data

SERIF = ("'EB Garamond'", "C059", "P052", "'URW Bookman'", "'Nimbus Roman'", "'DejaVu Serif'")
HAND = ("DkgHandwriting", "'Comic Neue'")
SANS = ("'Nimbus Sans'", "'URW Gothic'", "Carlito", "'Liberation Sans'")


@dataclass(frozen=True)
class Content:
    title: str
    intro: str | None
    servings: int
    times: dict[str, int | None]
    groups: list[tuple[str | None, list[IngredientTruth]]]
    steps: list[str]
    tip: str | None

    def truth(self, times: Mapping[str, int | None] | None = None) -> RecipeTruth:
        items = tuple(i for _, group in self.groups for i in group)
        return RecipeTruth(title=self.title, servings=self.servings, times=dict(times or self.times),
                           ingredients=items, instructions=tuple(self.steps))


def make_content(rng: random.Random, index: int) -> Content:
    vocab = data("recipes")
    pool = [IngredientTruth(t, q, u, n) for t, q, u, n in vocab["ingredients"]]
    rng.shuffle(pool)
    items = pool[: rng.randint(5, 10)]
    groups: list[tuple[str | None, list[IngredientTruth]]] = [(None, items)]
    if rng.random() < 0.4 and len(items) >= 6:
        cut = rng.randint(3, len(items) - 2)
        groups = [(None, items[:cut]), (rng.choice(vocab["groups"]), items[cut:])]
    prep, cook = rng.choice([10, 15, 20, 25, 30]), rng.choice([12, 25, 40, 55, 70, 95])
    return Content(title=vocab["dishes"][index % len(vocab["dishes"])],
                   intro=rng.choice(vocab["intros"]) if rng.random() < 0.6 else None,
                   servings=rng.choice([2, 3, 4, 6, 8, 10]), times={"prep_min": prep, "cook_min": cook, "total_min": None},
                   groups=groups, steps=rng.sample(vocab["steps"], rng.randint(3, 6)),
                   tip=rng.choice(vocab["tips"]) if rng.random() < 0.5 else None)


def minutes_text(m: int, rng: random.Random, short: bool) -> str:
    h, rest = divmod(m, 60)
    if not h:
        return f"{m} {rng.choice(['mins', 'min']) if short else 'minutes'}"
    hours = "hr" if short else ("hour" if h == 1 else "hours")
    return f"{h} {hours}" + (f" {rest} {'mins' if short else 'minutes'}" if rest else "")


def esc(text: str) -> str:
    return html_lib.escape(text, quote=False)


def _split_quantity(item: IngredientTruth) -> tuple[str, str]:
    """'175g/6oz unsalted butter, cubed' -> ('175g/6oz', 'unsalted butter, cubed') for a quantity column."""
    words = item.text.split()
    k = 0
    while k < len(words) and (any(c.isdigit() for c in words[k]) or words[k] in ("½", "¼", "¾", "⅓", "⅔", "x")
                              or (k and words[k] in ("tbsp", "tsp", "g", "ml", "cup", "cups", "tablespoon"))):
        k += 1
    return " ".join(words[:k]), " ".join(words[k:])


def _ingredient_rows(c: Content, table: bool) -> str:
    out = []
    for group, items in c.groups:
        if group:
            out.append(f"<div class='grp'>{esc(group)}</div>")
        if table:
            rows = "".join(f"<tr><td class='q'>{esc(q)}</td><td>{esc(n)}</td></tr>"
                           for q, n in (_split_quantity(i) for i in items))
            out.append(f"<table class='ing'>{rows}</table>")
        else:
            out.append("<ul class='ing'>" + "".join(f"<li>{esc(i.text)}</li>" for i in items) + "</ul>")
    return "".join(out)


def _steps(c: Content, numbered: bool, drop_cap: bool = False) -> str:
    if numbered:
        return "<ol class='steps'>" + "".join(f"<li>{esc(s)}</li>" for s in c.steps) + "</ol>"
    first, *rest = c.steps
    cap = f"<span class='cap'>{first[0]}</span>{esc(first[1:])}" if drop_cap else esc(first)
    return f"<p class='step'>{cap}</p>" + "".join(f"<p class='step'>{esc(s)}</p>" for s in rest)


BOOK_CSS = """
.pg { width: 720px; padding: 34px 48px 26px 48px; background: #fbf8f1; color: #222; font-family: FONT; font-size: 17px; line-height: 1.42; }
.run { display: flex; justify-content: space-between; font-size: 12px; letter-spacing: 2px; text-transform: uppercase; color: #777; }
h1 { font-size: 36px; font-weight: 600; line-height: 1.1; margin: 18px 0 8px 0; max-width: 520px; }
.intro { font-style: italic; margin: 0 0 10px 0; } .meta { font-size: 14px; letter-spacing: 1px; margin: 6px 0 12px 0; }
table.ing { border-collapse: collapse; margin: 2px 0 10px 0; } table.ing td { padding: 1px 10px 1px 0; vertical-align: top; }
table.ing td.q { text-align: right; min-width: 80px; font-weight: 600; white-space: nowrap; }
.grp { font-variant: small-caps; font-weight: 600; margin-top: 6px; letter-spacing: 1px; }
.step { margin: 0 0 8px 0; text-align: justify; } .cap { float: left; font-size: 52px; line-height: 0.9; padding: 4px 6px 0 0; }
ol.steps { padding-left: 22px; } ol.steps li { margin-bottom: 6px; }
.folio { text-align: center; font-size: 13px; color: #777; margin-top: 14px; }
.tip { font-size: 14px; border-top: 1px solid #bbb; padding-top: 6px; margin-top: 10px; }
"""


def cookbook(rng: random.Random, c: Content) -> tuple[str, RecipeTruth]:
    """One column of serif type; quantities right-aligned in their own column; method paragraphs with a drop cap
    and no header."""
    vocab = data("recipes")
    page = rng.randint(14, 260)
    meta = (f"Serves {c.servings} &nbsp;·&nbsp; Preparation {minutes_text(c.times['prep_min'] or 0, rng, False)}"
            f" &nbsp;·&nbsp; Cooking {minutes_text(c.times['cook_min'] or 0, rng, False)}")
    body = f"""<div class='pg'><div class='run'><span>{esc(rng.choice(vocab['books']))}</span><span>{esc(rng.choice(vocab['chapters']))}</span></div>
<h1>{esc(c.title)}</h1>{f"<p class='intro'>{esc(c.intro)}</p>" if c.intro else ''}<div class='meta'>{meta}</div>
{_ingredient_rows(c, table=True)}{_steps(c, numbered=False, drop_cap=True)}
{f"<div class='tip'>{esc(c.tip)}</div>" if c.tip else ''}<div class='folio'>{page}</div></div>"""
    return _page(BOOK_CSS.replace("FONT", rng.choice(SERIF) + ", serif"), body), c.truth()


SPREAD_CSS = BOOK_CSS + """
.pg { width: 960px; } .cols { display: flex; gap: 34px; } .side { width: 290px; flex: none; background: #efe7d6; padding: 10px 14px; }
.side h3, .main h3 { font-size: 15px; letter-spacing: 3px; text-transform: uppercase; margin: 4px 0 8px 0; }
ul.ing { list-style: none; padding: 0; margin: 0 0 8px 0; } ul.ing li { margin-bottom: 4px; }
"""


def spread(rng: random.Random, c: Content) -> tuple[str, RecipeTruth]:
    """A book spread: ingredients in a shaded sidebar beside the numbered method."""
    vocab = data("recipes")
    meta = (f"Serves {c.servings} | Prep {minutes_text(c.times['prep_min'] or 0, rng, True)} | "
            f"Cook {minutes_text(c.times['cook_min'] or 0, rng, True)}")
    headed = rng.random() < 0.5
    body = f"""<div class='pg'><div class='run'><span>{rng.randint(14, 260)}</span><span>{esc(rng.choice(vocab['chapters']))}</span></div>
<h1>{esc(c.title)}</h1>{f"<p class='intro'>{esc(c.intro)}</p>" if c.intro else ''}<div class='meta'>{meta}</div>
<div class='cols'><div class='side'><h3>Ingredients</h3>{_ingredient_rows(c, table=False)}</div>
<div class='main'>{"<h3>Method</h3>" if headed else ''}{_steps(c, numbered=True)}</div></div></div>"""
    return _page(SPREAD_CSS.replace("FONT", rng.choice(SERIF) + ", serif"), body), c.truth()


ICON = {"clock": "<svg width='20' height='20' viewBox='0 0 20 20'><circle cx='10' cy='10' r='8' fill='none' stroke='#c0392b' "
                 "stroke-width='2'/><path d='M10 5v5l3 2' stroke='#c0392b' stroke-width='2' fill='none'/></svg>",
        "people": "<svg width='20' height='20' viewBox='0 0 20 20'><circle cx='10' cy='6' r='4' fill='#c0392b'/>"
                  "<path d='M2 19c0-5 4-7 8-7s8 2 8 7z' fill='#c0392b'/></svg>"}
CARD_CSS = """
.card { width: 640px; background: #fff; border: 1px solid #ddd; border-radius: 10px; padding: 22px 26px; font-family: FONT; color: #333; font-size: 15px; line-height: 1.45; }
.card h2 { font-size: 28px; margin: 0 0 6px 0; color: #222; } .site { font-size: 12px; color: #999; }
.icons { display: flex; gap: 22px; border-top: 1px solid #eee; border-bottom: 1px solid #eee; padding: 8px 0; margin: 10px 0; font-size: 13px; }
.icons div { display: flex; align-items: center; gap: 6px; } .icons b { display: block; text-transform: uppercase; font-size: 11px; color: #888; }
h3 { font-size: 19px; margin: 12px 0 6px 0; color: #c0392b; } ul.ing { padding-left: 20px; margin: 0; }
ul.ing li::marker { content: '☐  '; } .grp { font-weight: 700; margin-top: 6px; } ol.steps { padding-left: 22px; } ol.steps li { margin-bottom: 6px; }
.notes, .nut { font-size: 13px; color: #555; } .nut { border-top: 1px solid #eee; margin-top: 10px; padding-top: 6px; }
"""


def blog_card(rng: random.Random, c: Content) -> tuple[str, RecipeTruth]:
    """A blog recipe card: icon strip for prep, cook, total and servings; Notes and Nutrition under it."""
    prep, cook = c.times["prep_min"] or 0, c.times["cook_min"] or 0
    strip = [("clock", "Prep Time", minutes_text(prep, rng, True)), ("clock", "Cook Time", minutes_text(cook, rng, True)),
             ("clock", "Total Time", minutes_text(prep + cook, rng, True)), ("people", "Servings", f"{c.servings} servings")]
    icons = "".join(f"<div>{ICON[i]}<span><b>{k}</b>{v}</span></div>" for i, k, v in strip)
    kcal = rng.randint(180, 720)
    nut = (f"Calories: {kcal}kcal | Carbohydrates: {rng.randint(8, 80)}g | Protein: {rng.randint(3, 40)}g | "
           f"Fat: {rng.randint(2, 35)}g | Sodium: {rng.randint(80, 900)}mg")
    body = f"""<div class='card'><div class='site'>{esc(rng.choice(data('recipes')['sites']))}</div><h2>{esc(c.title)}</h2>
{f"<div class='notes'>{esc(c.intro)}</div>" if c.intro else ''}<div class='icons'>{icons}</div>
<h3>Ingredients</h3>{_ingredient_rows(c, table=False)}<h3>Instructions</h3>{_steps(c, numbered=True)}
{f"<h3>Notes</h3><div class='notes'>{esc(c.tip)}</div>" if c.tip else ''}<div class='nut'><b>Nutrition</b><br>{nut}</div></div>"""
    times = {"prep_min": prep, "cook_min": cook, "total_min": prep + cook}
    return _page(CARD_CSS.replace("FONT", rng.choice(SANS) + ", sans-serif"), body), c.truth(times)


HAND_CSS = """
.idx { width: 680px; padding: 18px 30px; font-family: FONT; font-size: 21px; line-height: 32px; color: #1b2a6b;
  background: repeating-linear-gradient(#fffef6 0 31px, #9cc3e6 31px 32px); border-top: 3px solid #e58a8a; }
.idx h2 { font-size: 30px; margin: 0 0 4px 0; font-weight: normal; } .idx ul, .idx ol { margin: 0; padding-left: 26px; }
.idx ul { list-style: '- '; } .grp { text-decoration: underline; } .meta { font-size: 19px; }
"""


def index_card(rng: random.Random, c: Content) -> tuple[str, RecipeTruth]:
    """A handwritten index card on ruled stock."""
    meta = f"Serves {c.servings} ~ Total {minutes_text((c.times['prep_min'] or 0) + (c.times['cook_min'] or 0), rng, True)}"
    body = f"""<div class='idx'><h2>{esc(c.title)}</h2><div class='meta'>{meta}</div>{_ingredient_rows(c, table=False)}
{_steps(c, numbered=True)}</div>"""
    times = {"prep_min": None, "cook_min": None, "total_min": (c.times["prep_min"] or 0) + (c.times["cook_min"] or 0)}
    return _page(HAND_CSS.replace("FONT", rng.choice(HAND) + ", cursive"), body), c.truth(times)


US_BOOK_CSS = BOOK_CSS + """
h1 { font-variant: small-caps; letter-spacing: 1px; } .hd { font-variant: small-caps; font-weight: 700; font-size: 19px; letter-spacing: 2px; margin: 12px 0 4px 0; border-bottom: 1px solid #999; }
ul.ing { list-style: none; padding: 0; margin: 0 0 6px 0; columns: 2; column-gap: 30px; } .grp { margin-top: 8px; }
"""


def us_cookbook(rng: random.Random, c: Content) -> tuple[str, RecipeTruth]:
    """A US cookbook page: small-caps headings, ingredients in two balanced columns, DIRECTIONS."""
    meta = (f"Makes {c.servings} servings<br>Prep time: {minutes_text(c.times['prep_min'] or 0, rng, True)}<br>"
            f"Cook time: {minutes_text(c.times['cook_min'] or 0, rng, True)}")
    body = f"""<div class='pg'><h1>{esc(c.title)}</h1>{f"<p class='intro'>{esc(c.intro)}</p>" if c.intro else ''}
<div class='meta'>{meta}</div><div class='hd'>Ingredients</div>{_ingredient_rows(c, table=False)}
<div class='hd'>Directions</div>{_steps(c, numbered=rng.random() < 0.5)}<div class='folio'>{rng.randint(14, 260)}</div></div>"""
    return _page(US_BOOK_CSS.replace("FONT", rng.choice(SERIF) + ", serif"), body), c.truth()


def _page(css: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>html,body{{margin:0;background:#fff}}"
            f"#doc{{display:inline-block}}{css}</style></head><body><div id='doc'>{body}</div></body></html>")


RecipeMaker = Callable[[random.Random, Content], tuple[str, RecipeTruth]]
RECIPE_LAYOUTS: dict[str, RecipeMaker] = {"html_cookbook": cookbook, "html_spread": spread, "html_blog_card": blog_card,
                                          "html_index_card": index_card, "html_us_cookbook": us_cookbook}
