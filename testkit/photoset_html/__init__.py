"""A second, held-out test set: nutrition labels in the regulatory layouts and recipe pages written as HTML/CSS
and rendered by Debian's headless Chromium (not Pillow), from word lists apart from testkit/photoset's, then
damaged in ways that set does not draw (testkit/photoset/degrade.HELD_OUT_DEGRADATIONS).

Everything comes from a seed (build.build_set); truth sits beside each document. OCR results are cached by
each page's source (cache.py), so scoring needs neither Chromium nor OCR; bench/parse_accuracy.py prints the
scores and tests/unit/test_photoset_html_scores.py asserts them (docs/parsing.md, "The held-out set").
"""
