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
