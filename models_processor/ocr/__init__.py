"""OCR behind a small engine interface (RapidOCR by default, PaddleOCR optional)."""
