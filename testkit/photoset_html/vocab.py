"""The set's word lists (data/*.json) and its nutrient values, drawn from a seeded generator."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


@lru_cache(maxsize=4)
def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class Panel:
    """One serving's nutrients, consistent with each other (parts within wholes, energy from the macros)."""

    fat: float
    sat: float
    trans: float
    chol: int
    sodium: int
    carbs: float
    fiber: float
    sugars: float
    added: float
    protein: float
    potassium: int

    @property
    def kcal(self) -> int:
        raw = 9 * self.fat + 4 * self.carbs + 4 * self.protein
        return int(round(raw / 10.0) * 10) if raw > 50 else int(round(raw / 5.0) * 5)


def us_panel(rng: random.Random) -> Panel:
    """US rounding: fat in 0.5 g steps below 5 g, whole grams above; carbs and protein whole grams."""
    fat = rng.choice([0, 0.5, 1.5, 2.5, 4, 6, 9, 11, 14, 17, 24])
    sat = rng.choice([x for x in (0, 0.5, 1, 2.5, 3, 4, 6) if x <= fat])
    carbs = rng.randint(1, 48)
    fiber = rng.randint(0, min(11, carbs // 2))
    sugars = rng.randint(0, carbs - fiber)
    return Panel(fat=fat, sat=sat, trans=rng.choice([0, 0, 0, 0.5]) if fat > sat else 0,
                 chol=rng.choice([0, 0, 10, 15, 30, 45, 70, 110]), sodium=rng.choice([10, 25, 90, 170, 210, 340, 560, 720]),
                 carbs=carbs, fiber=fiber, sugars=sugars, added=rng.randint(0, sugars), protein=rng.randint(1, 30),
                 potassium=rng.choice([20, 95, 150, 310, 420, 700]))


def metric_panel(rng: random.Random) -> Panel:
    """Per 100 g, one decimal, as EU and AU/NZ tables print them."""
    carbs = round(rng.uniform(3, 72), 1)
    fiber = round(rng.uniform(0, min(12, carbs / 3)), 1)
    sugars = round(rng.uniform(0.5, carbs - fiber), 1)
    fat = round(rng.uniform(0.4, 30), 1)
    return Panel(fat=fat, sat=round(rng.uniform(0.1, fat * 0.6), 1), trans=0.0, chol=0,
                 sodium=rng.choice([40, 120, 260, 410, 590, 880]), carbs=carbs, fiber=fiber, sugars=sugars,
                 added=0.0, protein=round(rng.uniform(0.5, 24), 1), potassium=0)


def scaled(p: Panel, factor: float, digits: int = 1) -> Panel:
    def r(x: float) -> float:
        return round(x * factor, digits)
    return Panel(fat=r(p.fat), sat=r(p.sat), trans=r(p.trans), chol=round(p.chol * factor),
                 sodium=round(p.sodium * factor), carbs=r(p.carbs), fiber=r(p.fiber), sugars=r(p.sugars),
                 added=r(p.added), protein=r(p.protein), potassium=round(p.potassium * factor))


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def kj_of(kcal: float) -> int:
    return round(kcal * 4.184)
