"""The operations HTTP server stops cleanly: closing it while its loop waits in select() is not an error."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from flask import Flask

from models_processor.http import HttpServer


def test_close_while_serving_stops_the_loop_without_an_error(monkeypatch):
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    app = Flask("t")
    app.get("/ping")(lambda: "pong")
    server = HttpServer(app, host="127.0.0.1", port=0)
    server.start()
    url = f"http://127.0.0.1:{server.port}/ping"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read() == b"pong"  # the loop is running, and now idle in select()
    server.close()  # returns once the loop has ended
    assert [t for t in threading.enumerate() if t.name == "http"] == []
    assert errors == []
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
