"""models-processor: a Kafka stream processor for photo and text requests (OCR, parsing, Ollama)."""

import os

# onnxruntime reads this at import time; set it before anything can import onnxruntime (RapidOCR).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "1.0.0"
SCHEMA_VERSION = "2"
