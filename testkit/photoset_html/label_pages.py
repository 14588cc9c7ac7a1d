"""Nutrition labels as HTML/CSS in the regulatory layouts: US 2016 (FDA bold rules), US dual column (per
serving / per container), Canadian bilingual, EU/UK back-of-pack table (per 100 g, per serving, %RI), EU
linear declaration, AU/NZ nutrition information panel (per serve / per 100 g).

Each maker returns (html, truth): truth holds the values a careful reader takes, per serving where the
label prints a serving column, else per 100 g (the schema's convention: docs/parsing.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from testkit.photoset_html.vocab import Panel, data, kj_of, metric_panel, num, scaled, us_panel

SANS = ("'Nimbus Sans', Helvetica", "'Liberation Sans', Arial", "'Nimbus Sans Narrow'", "Carlito", "'URW Gothic'",
        "'DejaVu Sans Condensed'")


def _pct(rng: random.Random) -> str:
    return f"{rng.randint(0, 38)}%"


def _us_truth(p: Panel, size: str, per: float, added: bool = True) -> dict[str, Any]:
    out = {"serving_size": size, "servings_per_container": per, "calories": p.kcal, "total_fat_g": p.fat,
           "saturated_fat_g": p.sat, "trans_fat_g": p.trans, "cholesterol_mg": p.chol, "sodium_mg": p.sodium,
           "total_carbohydrate_g": p.carbs, "dietary_fiber_g": p.fiber, "total_sugars_g": p.sugars,
           "protein_g": p.protein}
    if added:
        out["added_sugars_g"] = p.added
    return out


US_CSS = """
.nf { width: 300px; border: 1px solid #000; padding: 4px 6px; font-family: FONT; color: #000; background: #fff; }
.nf h1 { font-size: 34px; font-weight: 900; margin: 0; letter-spacing: -0.5px; line-height: 1.05; }
.nf .r { display: flex; justify-content: space-between; border-top: 1px solid #000; font-size: 13px; padding: 1px 0; }
.nf .ind { padding-left: 14px; } .nf .ind2 { padding-left: 28px; }
.nf .thick { border-top: 10px solid #000; } .nf .mid { border-top: 5px solid #000; }
.nf .cal { font-size: 28px; font-weight: 900; display: flex; justify-content: space-between; align-items: flex-end; }
.nf .cal small { font-size: 12px; font-weight: 800; display: block; }
.nf .size { font-size: 17px; font-weight: 800; display: flex; justify-content: space-between; }
.nf .foot { font-size: 9.5px; border-top: 5px solid #000; padding-top: 3px; line-height: 1.25; }
.nf b { font-weight: 800; }
"""


def us_2016(rng: random.Random) -> tuple[str, dict[str, Any]]:
    p = us_panel(rng)
    size, per = rng.choice(data("labels")["us_servings"])
    per_text = f"{per} serving{'s' if per > 1 else ''} per container"
    micro = [("Vitamin D", f"{rng.randint(0, 4)}mcg"), ("Calcium", f"{rng.randint(0, 320)}mg"),
             ("Iron", f"{rng.randint(0, 6)}.{rng.randint(0, 9)}mg"), ("Potassium", f"{p.potassium}mg")]
    rng.shuffle(micro[1:3])
    rows = [("b", "Total Fat", f"{num(p.fat)}g", True), ("ind", "Saturated Fat", f"{num(p.sat)}g", True),
            ("ind", "<i>Trans</i> Fat", f"{num(p.trans)}g", False), ("b", "Cholesterol", f"{p.chol}mg", True),
            ("b", "Sodium", f"{p.sodium}mg", True), ("b", "Total Carbohydrate", f"{num(p.carbs)}g", True),
            ("ind", "Dietary Fiber", f"{num(p.fiber)}g", True), ("ind", "Total Sugars", f"{num(p.sugars)}g", False)]
    body = []
    for kind, name, value, dv in rows:
        label = f"<b>{name}</b> {value}" if kind == "b" else f"{name} {value}"
        cls = "r ind" if kind == "ind" else "r"
        body.append(f"<div class='{cls}'><span>{label}</span><b>{_pct(rng) if dv else ''}</b></div>")
    body.append(f"<div class='r ind2'><span>Includes {num(p.added)}g Added Sugars</span><b>{_pct(rng)}</b></div>")
    body.append(f"<div class='r'><span><b>Protein</b> {num(p.protein)}g</span><b></b></div>")
    micro_html = "".join(f"<div class='r{' thick' if k == 0 else ''}'><span>{n} {v}</span><span>{_pct(rng)}</span></div>"
                         for k, (n, v) in enumerate(micro))
    html = f"""<div class='nf'><h1>Nutrition Facts</h1>
<div style='font-size:14px;border-top:1px solid #000'>{per_text}</div>
<div class='size'><span>Serving size</span><span>{size}</span></div>
<div class='thick' style='font-size:12px;font-weight:800'>Amount per serving</div>
<div class='cal'><span>Calories</span><span>{p.kcal}</span></div>
<div class='r mid' style='justify-content:flex-end'><b>% Daily Value*</b></div>
{''.join(body)}{micro_html}
<div class='foot'>* The % Daily Value (DV) tells you how much a nutrient in a serving of food contributes to a daily
diet. 2,000 calories a day is used for general nutrition advice.</div></div>"""
    truth = {**_us_truth(p, size, float(per)), "potassium_mg": p.potassium}
    return _page(US_CSS.replace("FONT", rng.choice(SANS[:3]) + ", sans-serif"), html), truth


DUAL_CSS = US_CSS + """
.nf { width: 430px; } .nf table { width: 100%; border-collapse: collapse; font-size: 13px; }
.nf td, .nf th { border-top: 1px solid #000; padding: 1px 3px; text-align: left; }
.nf th { font-size: 12px; border-left: 1px solid #000; } .nf td + td { border-left: 1px solid #000; }
.nf tr.kcal td { font-size: 22px; font-weight: 900; border-top: 5px solid #000; }
"""


def us_dual(rng: random.Random) -> tuple[str, dict[str, Any]]:
    p = us_panel(rng)
    size, per = rng.choice([s for s in data("labels")["us_servings"] if s[1] > 1])
    whole = scaled(p, per, 1)
    rows = [("Total Fat", p.fat, whole.fat, "g"), ("&nbsp;&nbsp;Saturated Fat", p.sat, whole.sat, "g"),
            ("&nbsp;&nbsp;<i>Trans</i> Fat", p.trans, whole.trans, "g"), ("Cholesterol", p.chol, whole.chol, "mg"),
            ("Sodium", p.sodium, whole.sodium, "mg"), ("Total Carb.", p.carbs, whole.carbs, "g"),
            ("&nbsp;&nbsp;Dietary Fiber", p.fiber, whole.fiber, "g"), ("&nbsp;&nbsp;Total Sugars", p.sugars, whole.sugars, "g"),
            ("Protein", p.protein, whole.protein, "g")]
    trs = "".join(f"<tr><td>{n}</td><td>{num(a)}{u} &nbsp;<b>{_pct(rng)}</b></td><td>{num(b)}{u} &nbsp;<b>{_pct(rng)}</b></td></tr>"
                  for n, a, b, u in rows)
    html = f"""<div class='nf'><h1>Nutrition Facts</h1>
<div style='font-size:14px;border-top:1px solid #000'>{per} servings per container</div>
<div class='size'><span>Serving size</span><span>{size}</span></div>
<table><tr class='thick'><th style='border-left:0'></th><th>Per serving</th><th>Per container</th></tr>
<tr class='kcal'><td>Calories</td><td>{p.kcal}</td><td>{p.kcal * per}</td></tr>{trs}</table>
<div class='foot'>* The % Daily Value (DV) tells you how much a nutrient in a serving of food contributes to a daily
diet. 2,000 calories a day is used for general nutrition advice.</div></div>"""
    truth = _us_truth(p, size, float(per), added=False)
    return _page(DUAL_CSS.replace("FONT", rng.choice(SANS[:3]) + ", sans-serif"), html), truth


CA_CSS = """
.nf { width: 330px; border: 1.5px solid #000; padding: 4px 7px; font-family: FONT; color: #000; background: #fff; }
.nf h1 { font-size: 25px; font-weight: 900; margin: 0; line-height: 1.05; }
.nf .r { display: flex; justify-content: space-between; border-top: 1px solid #000; font-size: 13.5px; padding: 1px 0; }
.nf .ind { padding-left: 14px; border-top: 0; } .nf .bar { border-top: 4px solid #000; }
.nf .cal { font-size: 24px; font-weight: 900; display: flex; justify-content: space-between; }
.nf .dv { font-size: 10.5px; font-weight: 700; text-align: right; line-height: 1.1; }
.nf .foot { font-size: 10px; border-top: 4px solid #000; padding-top: 3px; }
"""


def canadian(rng: random.Random) -> tuple[str, dict[str, Any]]:
    p = us_panel(rng)
    en, fr = rng.choice(data("labels")["ca_servings"])
    micro = [f"Potassium {p.potassium} mg", f"Calcium {rng.randint(0, 300)} mg", f"Iron / Fer {rng.randint(0, 5)} mg"]
    rows = [("<b>Fat / Lipides</b>", f"{num(p.fat)} g", True, ""),
            ("Saturated / saturés", f"{num(p.sat)} g", False, "ind"),
            ("+ Trans / trans", f"{num(p.trans)} g", True, "ind"),
            ("<b>Carbohydrate / Glucides</b>", f"{num(p.carbs)} g", False, ""),
            ("Fibre / Fibres", f"{num(p.fiber)} g", True, "ind"),
            ("Sugars / Sucres", f"{num(p.sugars)} g", True, "ind"),
            ("<b>Protein / Protéines</b>", f"{num(p.protein)} g", False, ""),
            ("<b>Cholesterol / Cholestérol</b>", f"{p.chol} mg", False, ""),
            ("<b>Sodium</b>", f"{p.sodium} mg", True, "")]
    body = "".join(f"<div class='r {cls}'><span>{n} {v}</span><b>{str(rng.randint(0, 30)) + ' %' if dv else ''}</b></div>"
                   for n, v, dv, cls in rows)
    body += "".join(f"<div class='r{' bar' if k == 0 else ''}'><span>{m}</span><b>{rng.randint(0, 25)} %</b></div>"
                    for k, m in enumerate(micro))
    html = f"""<div class='nf'><h1>Nutrition Facts<br>Valeur nutritive</h1>
<div style='font-size:14px'>{en}<br>{fr}</div>
<div class='cal bar'><span>Calories {p.kcal}</span><span class='dv'>% Daily Value*<br>% valeur quotidienne*</span></div>
{body}
<div class='foot'>*5% or less is <b>a little</b>, 15% or more is <b>a lot</b><br>
*5 % ou moins c'est <b>peu</b>, 15 % ou plus c'est <b>beaucoup</b></div></div>"""
    truth = {k: v for k, v in _us_truth(p, "", 0.0, added=False).items()
             if k not in ("serving_size", "servings_per_container")}
    truth["potassium_mg"] = p.potassium
    return _page(CA_CSS.replace("FONT", rng.choice(SANS) + ", sans-serif"), html), truth


EU_CSS = """
.t { font-family: FONT; color: #111; background: #fff; padding: 8px; width: 470px; }
.t h2 { font-size: 17px; margin: 0 0 4px 0; font-weight: 700; }
.t table { border-collapse: collapse; width: 100%; font-size: 14px; }
.t td, .t th { border: 1px solid #333; padding: 2px 5px; text-align: left; vertical-align: top; }
.t th { font-weight: 700; background: #eee; } .t .sub td:first-child { padding-left: 14px; }
.t p { font-size: 10.5px; margin: 4px 0 0 0; }
"""


def _energy_kcal(p: Panel) -> int:
    return round(9 * p.fat + 4 * p.carbs + 4 * p.protein + 2 * p.fiber)


def eu_table(rng: random.Random) -> tuple[str, dict[str, Any]]:
    hundred = metric_panel(rng)
    grams = rng.choice([30, 35, 40, 45, 125])
    serve = scaled(hundred, grams / 100.0)
    serving_col, ri_col = rng.random() < 0.7, rng.random() < 0.5
    kcal100, kcal_s = _energy_kcal(hundred), _energy_kcal(serve)
    split = rng.random() < 0.5

    def row(name: str, a: str, b: str, sub: bool = False) -> str:
        cells = [name, a] + ([b] if serving_col else []) + ([f"{rng.randint(1, 30)}%"] if serving_col and ri_col else [])
        return f"<tr{' class=sub' if sub else ''}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    head = [rng.choice(data("labels")["eu_head"]), "Per 100g"] + ([f"Per {grams}g serving"] if serving_col else [])
    head += ["%RI*"] if serving_col and ri_col else []
    if split:
        energy = row("Energy", f"{kj_of(kcal100)}kJ<br>{kcal100}kcal", f"{kj_of(kcal_s)}kJ<br>{kcal_s}kcal")
    else:
        energy = row("Energy", f"{kj_of(kcal100)}kJ/{kcal100}kcal", f"{kj_of(kcal_s)}kJ/{kcal_s}kcal")
    rows = [row("Fat", f"{num(hundred.fat)}g", f"{num(serve.fat)}g"),
            row("of which saturates", f"{num(hundred.sat)}g", f"{num(serve.sat)}g", True),
            row("Carbohydrate", f"{num(hundred.carbs)}g", f"{num(serve.carbs)}g"),
            row("of which sugars", f"{num(hundred.sugars)}g", f"{num(serve.sugars)}g", True),
            row("Fibre", f"{num(hundred.fiber)}g", f"{num(serve.fiber)}g"),
            row("Protein", f"{num(hundred.protein)}g", f"{num(serve.protein)}g"),
            row("Salt", f"{num(round(hundred.sodium * 2.5 / 1000, 2))}g", f"{num(round(serve.sodium * 2.5 / 1000, 2))}g")]
    foot = ("<p>*Reference intake of an average adult (8400kJ/2000kcal). Contains 8 servings.</p>"
            if serving_col and ri_col else "")
    html = (f"<div class='t'><h2>{rng.choice(data('labels')['eu_titles'])}</h2><table><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{energy}{''.join(rows)}</table>{foot}</div>")
    src, kcal = (serve, kcal_s) if serving_col else (hundred, kcal100)
    truth = {"calories": kcal, "total_fat_g": src.fat, "saturated_fat_g": src.sat, "total_carbohydrate_g": src.carbs,
             "total_sugars_g": src.sugars, "dietary_fiber_g": src.fiber, "protein_g": src.protein}
    return _page(EU_CSS.replace("FONT", rng.choice(SANS) + ", sans-serif"), html), truth


def eu_linear(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A linear declaration per 100 g in the ingredients panel of a small pack."""
    p = metric_panel(rng)
    kcal = _energy_kcal(p)
    text = (f"<b>Ingredients:</b> wholegrain oat flakes (62%), dried cranberries (12%), sunflower oil, honey, "
            f"almonds (4%), sea salt. <b>Nutrition declaration per 100 g:</b> energy {kj_of(kcal)} kJ / {kcal} kcal; "
            f"fat {num(p.fat)} g, of which saturates {num(p.sat)} g; carbohydrate {num(p.carbs)} g, of which sugars "
            f"{num(p.sugars)} g; fibre {num(p.fiber)} g; protein {num(p.protein)} g; salt "
            f"{num(round(p.sodium * 2.5 / 1000, 2))} g. Store in a cool dry place.")
    css = ".t { font-family: FONT; font-size: 14px; line-height: 1.35; width: 420px; padding: 10px; background: #fff; }"
    truth = {"calories": kcal, "total_fat_g": p.fat, "saturated_fat_g": p.sat, "total_carbohydrate_g": p.carbs,
             "total_sugars_g": p.sugars, "dietary_fiber_g": p.fiber, "protein_g": p.protein}
    return _page(css.replace("FONT", rng.choice(SANS) + ", sans-serif"), f"<div class='t'>{text}</div>"), truth


AU_CSS = """
.t { font-family: FONT; color: #000; background: #fff; border: 2px solid #000; padding: 6px 8px; width: 430px; }
.t h2 { font-size: 18px; margin: 0; font-weight: 800; text-align: center; }
.t .m { font-size: 14px; margin: 2px 0; }
.t table { border-collapse: collapse; width: 100%; font-size: 14px; }
.t td, .t th { padding: 1px 4px; text-align: right; } .t td:first-child, .t th:first-child { text-align: left; }
.t tr.h th { border-top: 2px solid #000; border-bottom: 1px solid #000; font-size: 12.5px; font-weight: 700; }
"""


def au_nip(rng: random.Random) -> tuple[str, dict[str, Any]]:
    hundred = metric_panel(rng)
    grams = rng.choice([25, 30, 45, 60, 150])
    serve = scaled(hundred, grams / 100.0)
    per = rng.choice([5, 6, 10, 14])
    h1, h2 = rng.choice(data("labels")["au_head"])
    kj_s, kj_100 = kj_of(_energy_kcal(serve)), kj_of(_energy_kcal(hundred))
    cal = rng.random() < 0.4
    energy = (f"<tr><td>Energy</td><td>{kj_s} kJ ({round(kj_s / 4.184)} Cal)</td><td>{kj_100} kJ ({round(kj_100 / 4.184)} Cal)</td></tr>"
              if cal else f"<tr><td>Energy</td><td>{kj_s}kJ</td><td>{kj_100}kJ</td></tr>")
    names = [("Protein", "protein"), ("Fat, total", "fat"), ("&nbsp;&nbsp;– saturated", "sat"),
             ("Carbohydrate", "carbs"), ("&nbsp;&nbsp;– sugars", "sugars"), ("Dietary fibre", "fiber")]
    body = "".join(f"<tr><td>{n}</td><td>{num(getattr(serve, k))}g</td><td>{num(getattr(hundred, k))}g</td></tr>"
                   for n, k in names)
    body += f"<tr><td>Sodium</td><td>{serve.sodium}mg</td><td>{hundred.sodium}mg</td></tr>"
    size_text = f"{grams}g" if rng.random() < 0.5 else f"{grams} g"
    html = f"""<div class='t'><h2>{rng.choice(data('labels')['au_titles'])}</h2>
<div class='m'>Servings per package: {per}</div><div class='m'>Serving size: {size_text}</div>
<table><tr class='h'><th></th><th>{h1}</th><th>{h2}</th></tr>{energy}{body}</table></div>"""
    truth = {"serving_size": size_text, "servings_per_container": float(per), "calories": round(kj_s / 4.184),
             "total_fat_g": serve.fat, "saturated_fat_g": serve.sat, "total_carbohydrate_g": serve.carbs,
             "total_sugars_g": serve.sugars, "protein_g": serve.protein, "dietary_fiber_g": serve.fiber,
             "sodium_mg": serve.sodium}
    return _page(AU_CSS.replace("FONT", rng.choice(SANS) + ", sans-serif"), html), truth


def _page(css: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>html,body{{margin:0;background:#fff}}"
            f"#doc{{display:inline-block;padding:14px;background:#fff}}{css}</style></head>"
            f"<body><div id='doc'>{body}</div></body></html>")


LabelMaker = Callable[[random.Random], tuple[str, dict[str, Any]]]
LABEL_LAYOUTS: dict[str, LabelMaker] = {"html_us2016": us_2016, "html_us_dual": us_dual, "html_ca": canadian,
                                        "html_eu_table": eu_table, "html_eu_linear": eu_linear, "html_au_nip": au_nip}
