"""OCR speed and memory figures for RapidOcrEngine.

Prints, for every sample photo and for a synthesized 12-MP phone-like photo:
  - median seconds with our tuned engine (downscale to OCR_MAX_SIDE, Det.limit_type=max 960, 2 threads)
  - median seconds with a baseline measured in the same run: RapidOCR with its defaults, full-size image
  - the ratio tuned/baseline
and the peak RSS of a separate process that OCRs 5 photos from 5 threads at once.

Usage: python -m bench.ocr_speed [--reps 3] [--samples /work/shared/samples] [--json PATH]
  --json  also write the figures to PATH (read by bench/report.py)
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from models_processor.images import decode_photo
from models_processor.ocr.rapid import RapidOcrEngine

ROOT = Path(__file__).resolve().parents[1]

TARGET_12MP_S = 1.5
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic"}


def synth_phone_jpeg(samples: Path) -> bytes:
    """A 4000x3000 JPEG like a phone shot of a label on a table: textured, slightly blurred background,
    the label filling about 60% of the height, then sent through the service's intake."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:3000, 0:4000]
    table = np.stack([120 + 40 * np.sin(x / 230.0), 90 + 30 * np.sin(y / 170.0), 70 + 0 * x], axis=-1).astype(np.float32)
    table += rng.normal(0, 12, size=table.shape).astype(np.float32)
    canvas = Image.fromarray(table.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))
    with Image.open(samples / "nutrition_orange_juice.jpg") as raw:
        label = ImageOps.exif_transpose(raw).convert("RGB")
    label = label.resize((round(label.width * 1800 / label.height), 1800), Image.Resampling.LANCZOS)
    canvas.paste(label, ((4000 - label.width) // 2, 600))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=90)
    return out.getvalue()


def synth_phone_photo(samples: Path) -> Image.Image:
    data = synth_phone_jpeg(samples)
    return decode_photo(base64.b64encode(data).decode(), max_bytes=20 << 20, max_pixels=40_000_000).image


def median_seconds(fn, image: Image.Image, reps: int) -> tuple[float, int]:
    times, lines = [], 0
    for _ in range(reps):
        start = time.perf_counter()
        lines = fn(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times), lines


def baseline_fn():
    """RapidOCR exactly as its README shows it, on the full-size image (as BGR array)."""
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error"})

    def run(image: Image.Image) -> int:
        out = engine(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))
        return len(out.txts or ()) if getattr(out, "txts", None) is not None else 0

    run(Image.new("RGB", (256, 64), "white"))  # load models outside the timing
    return run


def concurrent_rss_child(samples: str, phone_jpeg: str) -> None:
    """Runs in a fresh process, as a worker would: decode 5 photos through images.decode_photo (one the
    12-MP phone JPEG), load the engine, OCR them from 5 threads at once; report peak RSS (sampled)."""
    import psutil

    proc = psutil.Process()
    peak = [0]
    stop = threading.Event()

    def sample_rss() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    paths = [Path(phone_jpeg)] * 2 + sorted(p for p in Path(samples).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:3]
    images = [decode_photo(base64.b64encode(p.read_bytes()).decode(), max_bytes=20 << 20, max_pixels=40_000_000).image
              for p in paths]
    engine = RapidOcrEngine()
    loaded = proc.memory_info().rss
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(engine.recognize, images))
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    print(json.dumps({"peak_rss_mb": max(peak[0], proc.memory_info().rss) / 2**20, "loaded_rss_mb": loaded / 2**20,
                      "wall_s": wall, "photos": len(results)}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--samples", default=str(Path(__file__).resolve().parents[1] / "tests" / "samples"))
    parser.add_argument("--rss-child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.rss_child:
        concurrent_rss_child(args.samples, args.rss_child)
        return

    samples = Path(args.samples)
    images = {p.name: ImageOps.exif_transpose(Image.open(p)).convert("RGB")
              for p in sorted(samples.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    images["synthetic_12mp_phone.jpg"] = synth_phone_photo(samples)

    tuned = RapidOcrEngine()
    baseline = baseline_fn()
    print(f"{'image':32} {'size':>10} {'tuned s':>8} {'base s':>8} {'ratio':>6} {'lines t/b':>9}")
    rows = []
    for name, image in images.items():
        t, tl = median_seconds(lambda im, engine=tuned: len(engine.recognize(im).lines), image, args.reps)
        b, bl = median_seconds(baseline, image, args.reps)
        size = f"{image.width}x{image.height}"
        target = f"  target < {TARGET_12MP_S} s: {'OK' if t < TARGET_12MP_S else 'MISSED'}" if "12mp" in name else ""
        print(f"{name:32} {size:>10} {t:8.2f} {b:8.2f} {t / b:6.2f} {tl:>4}/{bl:<4}{target}")
        rows.append({"image": name, "size": size, "tuned_s": t, "baseline_s": b, "ratio": t / b,
                     "lines_tuned": tl, "lines_baseline": bl})

    del tuned, baseline, images
    with tempfile.NamedTemporaryFile(suffix=".jpg") as phone:
        phone.write(synth_phone_jpeg(samples))
        phone.flush()
        child = subprocess.run([sys.executable, __file__, "--rss-child", phone.name, "--samples", args.samples],
                               capture_output=True, text=True, check=True)
    rss = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"5 photos (2 of them 12 MP) OCR'd from 5 threads at once (1 engine, calls serialised): peak RSS "
          f"{rss['peak_rss_mb']:.0f} MB (after decode + engine load {rss['loaded_rss_mb']:.0f} MB), "
          f"wall {rss['wall_s']:.1f} s")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"reps": args.reps, "target_12mp_s": TARGET_12MP_S, "images": rows,
                                         "concurrent_rss": rss}, indent=2))


if __name__ == "__main__":
    main()
