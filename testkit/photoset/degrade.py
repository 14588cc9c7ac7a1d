"""Phone-photo damage, applied deterministically: rotation (small and over 10 degrees), perspective, blur,
JPEG artefacts, uneven light (a shadow), and a combination of them on a larger canvas.

HELD_OUT_DEGRADATIONS (added later, for the Chromium-rendered set in testkit/photoset_html; kept out of
DEGRADATIONS so this set's images, and so its OCR cache, do not change): a label on a curved bottle or can,
bag creases, glare, uneven lighting, a hand-held photo with background clutter, low resolution."""

from __future__ import annotations

import io
import random
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

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



# Added for the held-out set (testkit/photoset_html). Geometry goes through cv2.remap: each output pixel
# samples the flat page at a computed point (inverse mapping), with the table colour outside the page.

def _remap(img: Image.Image, map_x: np.ndarray, map_y: np.ndarray) -> Image.Image:
    out = cv2.remap(np.asarray(img), map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=BACKGROUND)
    return Image.fromarray(out)


def cylinder(img: Image.Image, rng: random.Random) -> Image.Image:
    """A label wrapped round a bottle or can: text squeezed toward the left and right edges, the sides darker,
    and rows bowed as a camera sees circles round a cylinder: straight at the eye's height, curving more the
    further above (ends lower) or below (ends higher) it. The label spans 100-140 degrees of the cylinder."""
    w, h = img.size
    half = np.radians(rng.uniform(50, 70))
    radius = (w / 2) / half
    out_w = int(2 * radius * np.sin(half))
    eye = h * rng.uniform(0.3, 0.7)
    bow = rng.uniform(0.06, 0.1)  # a row at the label's top or bottom edge sags by this share of its distance off the eye
    margin = int(bow * h) + 2
    us, vs = np.meshgrid(np.arange(out_w + 0.0), np.arange(h + 2.0 * margin))
    theta = np.arcsin(np.clip((us - out_w / 2) / radius, -1, 1))
    sag = (1 - np.cos(theta)) / (1 - np.cos(half))  # 0 in the middle, 1 at the label's edges
    map_x = w / 2 + radius * theta
    # Output row v shows source row y with v = y + bow * (y - eye) * sag (rows above the eye: ends pulled up).
    map_y = eye + (vs - margin - eye) / (1 + bow * sag)
    out = np.asarray(_remap(img, map_x, map_y)).astype(np.float32)
    light = 0.55 + 0.45 * np.cos(theta) ** 0.7
    return _pad(Image.fromarray(np.clip(out * light[:, :, None], 0, 255).astype(np.uint8)), 0.05)


def creases(img: Image.Image, rng: random.Random) -> Image.Image:
    """A crumpled bag: a few crease lines across the print, each displacing the print a little and
    leaving a bright and a dark band along its fold."""
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xs.copy(), ys.copy()
    light = np.ones((h, w), np.float32)
    for _ in range(rng.randint(3, 6)):
        angle = rng.uniform(0, np.pi)
        nx, ny = np.cos(angle), np.sin(angle)
        offset = rng.uniform(0.2, 0.8) * (abs(nx) * w + abs(ny) * h)
        dist = xs * nx + ys * ny - offset
        width = rng.uniform(8, 22)
        push = rng.uniform(2, 5) * np.tanh(dist / width)
        map_x += push * nx
        map_y += push * ny
        light += rng.choice([-1, 1]) * rng.uniform(0.12, 0.28) * dist / width * np.exp(-(dist / width) ** 2)
    out = np.asarray(_remap(img, map_x, map_y)).astype(np.float32) * np.clip(light, 0.5, 1.3)[:, :, None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def glare(img: Image.Image, rng: random.Random) -> Image.Image:
    """A specular highlight (glossy film under a lamp): an elongated bright blob that washes the ink out
    to near white at its core, over about a fifth of the page."""
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h
    angle = rng.uniform(0, np.pi)
    a, b = rng.uniform(0.16, 0.26) * max(w, h), rng.uniform(0.06, 0.1) * max(w, h)
    dx, dy = xs - cx, ys - cy
    u, v = dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)
    blob = np.clip(1.6 * np.exp(-((u / a) ** 2 + (v / b) ** 2) * 1.5), 0.0, rng.uniform(0.9, 1.0))
    out = arr + (255.0 - arr) * blob[:, :, None]
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def uneven_light(img: Image.Image, rng: random.Random) -> Image.Image:
    """A lamp to one side: a radial fall-off to about 45 % brightness in the far corner, a warm cast, and
    the lower contrast of a dim photo."""
    arr = np.asarray(img).astype(np.float32)
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = rng.choice([-0.2, 1.2]) * w, rng.uniform(-0.2, 1.2) * h
    d = np.hypot(xs - cx, ys - cy) / np.hypot(w, h)
    light = np.clip(1.05 - 0.6 * d, 0.45, 1.0)
    tint = np.array([1.0, 0.93, 0.8], np.float32)
    out = (arr * 0.8 + 30) * light[:, :, None] * tint
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _clutter(w: int, h: int, rng: random.Random) -> Image.Image:
    """A table with things on it: wood-like stripes, a few coloured shapes (a mug, a phone, a cloth)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = 0.5 + 0.5 * np.sin(xs / rng.uniform(9, 20) + 3 * np.sin(ys / rng.uniform(40, 90)))
    base = np.array([120, 86, 60], np.float32)[None, None, :] * (0.8 + 0.3 * grain[:, :, None])
    canvas = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.randint(3, 6)):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        size = rng.uniform(0.08, 0.2) * min(w, h)
        colour = tuple(rng.randint(20, 230) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + size, y + size), fill=colour)
        else:
            draw.rectangle((x, y, x + size * 1.8, y + size), fill=colour)
    return canvas


def handheld(img: Image.Image, rng: random.Random) -> Image.Image:
    """A hand-held photo: the page small in a frame of table and clutter, tilted in perspective and
    rotated a few degrees, slightly soft, saved as a phone JPEG."""
    w, h = img.size
    cw, ch = int(w * 1.5), int(h * 1.45)
    canvas = _clutter(cw, ch, rng)
    x0, y0 = int(w * rng.uniform(0.15, 0.35)), int(h * rng.uniform(0.15, 0.3))
    mask = Image.new("L", img.size, 255)
    angle = rng.uniform(-6, 6)
    page = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    mask = mask.rotate(angle, expand=True)
    canvas.paste(page, (x0 - (page.width - w) // 2, y0 - (page.height - h) // 2), mask)
    k = 0.09
    dst = [(rng.uniform(0, k) * cw, rng.uniform(0, k) * ch), (cw - rng.uniform(0, k) * cw, rng.uniform(0, k) * ch),
           (cw - rng.uniform(0, k) * cw, ch - rng.uniform(0, k) * ch), (rng.uniform(0, k) * cw, ch - rng.uniform(0, k) * ch)]
    src = [(0.0, 0.0), (float(cw), 0.0), (float(cw), float(ch)), (0.0, float(ch))]
    out = canvas.transform((cw, ch), Image.Transform.PERSPECTIVE, _coeffs(src, dst), Image.Resampling.BICUBIC,
                           fillcolor=BACKGROUND)
    return jpeg(blur(out, 0.8), 70)


def low_res(img: Image.Image, rng: random.Random) -> Image.Image:
    """A small or far-away picture: the page brought down to 40-55 % of its size (body text 8-11 px high),
    then JPEG."""
    f = rng.uniform(0.4, 0.55)
    small = img.resize((max(1, int(img.width * f)), max(1, int(img.height * f))), Image.Resampling.BILINEAR)
    return jpeg(small, 75)

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

HELD_OUT_DEGRADATIONS: dict[str, Degradation] = {
    "clean": lambda img, rng: img,
    "cylinder": cylinder,
    "creases": creases,
    "glare": glare,
    "uneven_light": uneven_light,
    "handheld": handheld,
    "low_res": low_res,
}
