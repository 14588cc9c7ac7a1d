"""HTML -> image with Debian's headless Chromium (driven by Playwright, as tests/inspector does; nothing is
downloaded). Fonts come from Debian packages: fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf,
fonts-crosextra-carlito, fonts-urw-base35, fonts-ebgaramond, fonts-comic-neue, fonts-dkg-handwriting.

Rendering is deterministic on one machine (same Chromium, same fonts: checked by
tests/unit/test_photoset_html_render.py); the OCR cache is keyed by the document's source, not its pixels
(docs/parsing.md), so scoring does not need Chromium at all.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
# Font hinting and LCD antialiasing vary with the desktop settings; fixed here so pixels repeat.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--font-render-hinting=none",
                 "--disable-lcd-text", "--force-color-profile=srgb"]


class Renderer(Protocol):
    def __call__(self, html: str, scale: float) -> Image.Image: ...


@contextmanager
def chromium() -> Iterator[Renderer]:
    """A renderer holding one headless Chromium for a batch of documents."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            def render(html: str, scale: float) -> Image.Image:
                context = browser.new_context(viewport={"width": 1000, "height": 800}, device_scale_factor=scale)
                try:
                    page = context.new_page()
                    page.set_content(html, wait_until="load")
                    page.evaluate("document.fonts.ready")
                    png = page.locator("#doc").screenshot(type="png", animations="disabled", caret="hide")
                finally:
                    context.close()
                return Image.open(io.BytesIO(png)).convert("RGB")
            yield render
        finally:
            browser.close()
