"""Request processing: decode and validate a request, run the text or photo pipeline, build the answer."""
