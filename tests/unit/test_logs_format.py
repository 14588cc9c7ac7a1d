"""The JSON log line's timestamp: the formatter keeps the last formatted second, and must never reuse it for
a record of another second."""

import json
import logging
import time

from models_processor.logs import JsonFormatter


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_each_line_carries_its_own_second_and_milliseconds():
    formatter = JsonFormatter()
    base = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    stamps = [json.loads(formatter.format(_record(t)))["ts"] for t in (base + 0.25, base + 0.75, base + 1.5,
                                                                         base - 3600 + 0.125)]
    expected = [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + f".{ms:03d}Z"
                for t, ms in ((base, 250), (base, 750), (base + 1, 500), (base - 3600, 125))]
    assert stamps == expected
    assert json.loads(formatter.format(_record(base + 0.25)))["msg"] == "hello x"


def test_configured_logging_skips_the_caller_and_process_lookups_and_the_line_is_unchanged(monkeypatch):
    import io
    import os

    from models_processor.logs import configure_logging, request_context

    for name in ("_srcfile", "logProcesses", "logMultiprocessing"):  # restored after the test
        monkeypatch.setattr(logging, name, getattr(logging, name))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    pids = []
    real_getpid = os.getpid
    monkeypatch.setattr(os, "getpid", lambda: pids.append(1) or real_getpid())
    out = io.StringIO()
    configure_logging("INFO", stream=out)
    records: list[logging.LogRecord] = []
    capture = logging.Handler()
    capture.emit = records.append  # type: ignore[method-assign]
    root.addHandler(capture)
    log = logging.getLogger("models_processor.test")
    with request_context("rid-1"):
        log.info("request answered", extra={"kind": "text", "timings_ms": {"llm": 50}})
    line = json.loads(out.getvalue())
    assert {k: line[k] for k in ("level", "logger", "msg", "request_id", "kind", "timings_ms")} == {
        "level": "INFO", "logger": "models_processor.test", "msg": "request answered", "request_id": "rid-1",
        "kind": "text", "timings_ms": {"llm": 50}}
    assert pids == []  # no getpid system call for the record
    assert (records[0].lineno, records[0].process) == (0, None)  # no stack walk for the caller
