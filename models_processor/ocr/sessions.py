"""ONNX Runtime session options RapidOCR does not expose: thread pools that sleep instead of spinning.

ONNX Runtime's intra-op worker threads spin (busy-wait) between operators by default, which buys a little
latency on an idle machine and burns a core on a shared one: measured on the 2-core node, recognition of a
page took 5.0-5.5 s of CPU with spinning and 3.1-4.1 s without, for the same work (bench/ocr_speed.py,
docs/ocr-speed.md). The service shares its cores between OCR, the parsers and the Kafka client, so spinning
is turned off ("session.intra_op.allow_spinning" = 0) by rebuilding RapidOCR's three sessions. The rebuild
can also load a stage from other model bytes (the Latin-script recogniser, ocr/latin_head.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_STAGE_ATTRS = ("text_det", "text_cls", "text_rec")


def rebuild_sessions(engine: Any, intra_op_threads: int, *, allow_spinning: bool = False,
                     models: Mapping[str, bytes] | None = None) -> bool:
    """Replace the loaded ONNX Runtime sessions of a RapidOCR engine by ones with `intra_op_threads` threads
    that do not spin (unless `allow_spinning`), each with the same model or the bytes `models` gives for its
    stage ("text_det", "text_cls", "text_rec"). False (and nothing changed) when RapidOCR's layout is not the
    one this was written for (rapidocr 3.x: engine.text_det.session.session)."""
    import onnxruntime as ort

    wrappers: list[Any] = [getattr(getattr(engine, attr, None), "session", None) for attr in _STAGE_ATTRS]
    sessions: list[Any] = [getattr(wrapper, "session", None) for wrapper in wrappers]
    paths = [getattr(session, "_model_path", None) for session in sessions]
    if not all(isinstance(p, str) for p in paths):
        log.warning("RapidOCR's sessions are not where expected; ONNX Runtime threads keep spinning")
        return False
    spin = "1" if allow_spinning else "0"
    for attr, wrapper, session, path in zip(_STAGE_ATTRS, wrappers, sessions, paths, strict=True):
        options = ort.SessionOptions()
        options.log_severity_level = 4
        options.enable_cpu_mem_arena = False
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        source = (models or {}).get(attr, path)
        wrapper.session = ort.InferenceSession(source, sess_options=options, providers=session.get_providers())
    return True
