"""A rendered test set with known truth: nutrition labels and recipe pages drawn with Pillow and Debian's
fonts, then degraded like phone photos (rotation, perspective, blur, JPEG, shadows).

Everything is generated from a seed (build.build_set), so the set is the same on every machine that has the
same fonts; OCR results are cached by image hash (ocr_cache) so parser work does not re-run OCR. Scores per
field and per category come from score.py; bench/parse_accuracy.py prints them.
"""
