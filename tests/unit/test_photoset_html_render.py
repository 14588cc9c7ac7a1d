"""The held-out set's rendering is deterministic, and still gives the pixels its committed OCR was read from.

The OCR cache (tests/fixtures/photoset_html_ocr) is keyed by each page's source, and each entry records the
digest of the image it was read from; rendering again with Debian's Chromium and the fonts named in
testkit/photoset_html/render.py must give the same image. If this fails after a Chromium or font upgrade,
refill the cache (docs/parsing.md, "The held-out set").
"""

from __future__ import annotations

import pytest

from testkit.photoset_html.build import build_set, digest, render_sample
from testkit.photoset_html.cache import read_entry
from testkit.photoset_html.render import chromium

pytestmark = pytest.mark.browser


def test_rendering_repeats_the_cached_pixels():
    samples = build_set()
    # One label and one recipe page, each clean and damaged (the damage is seeded too).
    picked = [s for s in samples if s.doc.name in ("html_us2016_0", "html_blog_card_0")]
    assert len(picked) == 4
    with chromium() as render:
        for sample in picked:
            first, second = render_sample(sample, render), render_sample(sample, render)
            assert digest(first) == digest(second), sample.name
            entry = read_entry(sample)
            assert entry is not None, f"{sample.name} missing from the committed OCR cache"
            assert entry["image_digest"] == digest(first), f"{sample.name}: pixels differ from the cached OCR's"
