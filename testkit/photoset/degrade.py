"""Phone-photo damage, applied deterministically: rotation (small and over 10 degrees), perspective, blur,
JPEG artefacts, uneven light (a shadow), and a combination of them on a larger canvas."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

BACKGROUND = (128, 118, 104)  # a table top around the page


def _pad(img: Image.Image, frac: float) -> Image.Image:
    w, h = img.size
    dx, dy = int(w * frac), int(h * frac)
    out = Image.new("RGB", (w + 2 * dx, h + 2 * dy), BACKGROUND)
    out.paste(img, (dx, dy))
    return out


def rotate(img: Image.Image, degrees: float) -> Image.Image:
    return img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=BACKGROUND)


def _coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """PIL perspective coefficients mapping output points `dst` to input points `src`."""
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=False):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(rows, dtype=float)
    b = np.array([c for p in src for c in p], dtype=float)
    return [float(c) for c in np.linalg.solve(a, b)]


def perspective(img: Image.Image, rng: random.Random) -> Image.Image:
    img = _pad(img, 0.08)
    w, h = img.size
    k = 0.07
    dst = [(rng.uniform(0, k) * w, rng.uniform(0, k) * h), (w - rng.uniform(0, k) * w, rng.uniform(0, k) * h),
           (w - rng.uniform(0, k) * w, h - rng.uniform(0, k) * h), (rng.uniform(0, k) * w, h - rng.uniform(0, k) * h)]
    src = [(0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h))]
    return img.transform((w, h), Image.Transform.PERSPECTIVE, _coeffs(src, dst), Image.Resampling.BICUBIC,
                         fillcolor=BACKGROUND)


def blur(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def shadow(img: Image.Image, rng: random.Random) -> Image.Image:
    """A soft diagonal shadow: brightness falls to about half across one side of the page."""
    w, h = img.size
    xs = np.linspace(0.0, 1.0, w)[None, :]
    ys = np.linspace(0.0, 1.0, h)[:, None]
    a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
    plane = (a * xs + b * ys + rng.uniform(-0.3, 0.3)) * 1.5
    if plane.max() < 0.5:
        plane = -plane  # the shadow fell off the page: cast it from the other side
    t = np.clip(plane, 0.0, 1.0)
    light = 1.0 - 0.5 * t
    arr = np.asarray(img).astype(np.float32) * light[:, :, None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def phone(img: Image.Image, rng: random.Random) -> Image.Image:
    """Several at once, on a larger canvas, as a handheld photo of a page on a table."""
    out = rotate(_pad(img, 0.12), rng.choice([-1, 1]) * rng.uniform(4, 8))
    out = shadow(out, rng)
    out = out.resize((int(out.width * 1.4), int(out.height * 1.4)), Image.Resampling.BICUBIC)
    return jpeg(blur(out, 1.0), 55)


Degradation = Callable[[Image.Image, random.Random], Image.Image]
DEGRADATIONS: dict[str, Degradation] = {
    "clean": lambda img, rng: img,
    "rot_small": lambda img, rng: rotate(img, rng.choice([-1, 1]) * rng.uniform(2.5, 5)),
    "rot_large": lambda img, rng: rotate(img, rng.choice([-1, 1]) * rng.uniform(11, 15)),
    "perspective": perspective,
    "blur": lambda img, rng: blur(img, rng.uniform(1.2, 1.8)),
    "jpeg": lambda img, rng: jpeg(img, rng.randint(18, 30)),
    "shadow": shadow,
    "phone": phone,
}
