"""The operations endpoints (/health, /ready, /metrics): Flask routes served by waitress on a thread."""

from __future__ import annotations

import logging
import threading

from flask import Flask, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from waitress.server import create_server

from .health_state import HealthState
from .inspector import Inspector
from .metrics import Metrics

log = logging.getLogger(__name__)


def create_app(health: HealthState, metrics: Metrics, *, model_name: str, topic: str,
               inspector: Inspector | None = None) -> Flask:
    app = Flask("models_processor")
    if inspector is not None:  # INSPECTOR_ENABLED: /inspect (docs/inspector.md); otherwise it is a 404
        app.register_blueprint(inspector.blueprint())

    @app.get("/health")
    def health_route() -> tuple[Response, int]:
        live, detail = health.live()
        body: dict[str, str] = {"status": "ok" if live else "stalled", "model": model_name}
        if not live:
            body["reason"] = detail
        return jsonify(body), 200 if live else 503

    @app.get("/ready")
    def ready_route() -> tuple[Response, int]:
        reasons = health.not_ready_reasons()
        if reasons:
            return jsonify({"status": "not_ready", "topic": topic, "reasons": reasons}), 503
        return jsonify({"status": "ready", "topic": topic}), 200

    @app.get("/metrics")
    def metrics_route() -> Response:
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    return app


class HttpServer:
    """waitress on its own daemon thread; `close` stops it."""

    def __init__(self, app: Flask, *, host: str, port: int, max_body_bytes: int = 1024 * 1024,
                 extra_threads: int = 0) -> None:
        # A few threads are plenty: probes and one Prometheus scrape at a time. Bodies up to max_body_bytes
        # (the /inspect upload) stay in memory: waitress would spool larger ones to a temporary file.
        self._server = create_server(app, host=host, port=port, threads=4 + extra_threads, ident="models-processor",
                                     max_request_body_size=max_body_bytes, inbuf_overflow=max_body_bytes + 1)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.effective_port
        return port

    def start(self) -> None:
        self._thread.start()
        log.info("http server listening", extra={"port": self.port})

    def close(self, timeout: float = 2.0) -> None:
        """Stop listening and wait (up to `timeout`) for the loop thread to end."""
        self._closing.set()
        self._server.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:
            # close() shuts the listening socket under the loop's select(): EBADF there is the way it ends.
            if not self._closing.is_set():
                raise
