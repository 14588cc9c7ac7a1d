"""What an OCR engine returns, and the interface every engine implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class OcrLine:
    """One recognised text line. `box` is four (x, y) corners in the pixel space of the image passed in,
    clockwise from top-left."""

    text: str
    score: float
    box: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]

    @property
    def left(self) -> float:
        return min(p[0] for p in self.box)

    @property
    def right(self) -> float:
        return max(p[0] for p in self.box)

    @property
    def top(self) -> float:
        return min(p[1] for p in self.box)

    @property
    def bottom(self) -> float:
        return max(p[1] for p in self.box)

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def center_y(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(frozen=True)
class OcrResult:
    lines: Sequence[OcrLine]
    width: int
    height: int
    elapsed_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    # Counter-clockwise turn (0, 90, 180, 270 degrees) OCR gave the image to read it upright; `lines`,
    # `width` and `height` are in that upright frame (ocr/orientation.py).
    rotation: int = 0

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


class OcrEngine(Protocol):
    """Loads its models once; `recognize` is safe to call from several worker threads."""

    name: str

    def recognize(self, image: Image.Image) -> OcrResult: ...
