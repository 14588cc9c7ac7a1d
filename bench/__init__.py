"""Benchmarks: throughput and latency through the real broker, OCR speed and accuracy (see README.md)."""
