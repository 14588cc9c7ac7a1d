"""Where the sample photos and their ground truth live: in the repo, so every checkout has them."""

import json
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def ground_truth() -> dict:
    return json.loads((SAMPLES_DIR / "ground_truth.json").read_text())
