"""Deterministic parsing of OCR output: what kind of photo it is, and recipe / nutrition-label fields."""
