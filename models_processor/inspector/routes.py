"""The /inspect routes, as a Flask blueprint registered on the service's own app (http.create_app)."""

from __future__ import annotations

import logging
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..config import Settings
from ..messages import RequestKind
from .recent import RecentAnswers
from .runner import Asked, Busy, InspectorRunner

log = logging.getLogger(__name__)

_STATIC = files(__package__) / "static"
_TYPES = {"html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
          "js": "text/javascript; charset=utf-8"}
_ASSETS = frozenset({"inspector.css", "inspector.js"})


def _problem(message: str, status: int) -> tuple[Response, int]:
    """An error the page shows as it is: one sentence."""
    return jsonify({"problem": message}), status


def _static(name: str) -> Response:
    body = (_STATIC / name).read_bytes()
    response = Response(body, content_type=_TYPES[name.rsplit(".", 1)[1]])
    response.headers["Cache-Control"] = "no-store"
    # Everything the page needs is its own: no other origin, no inline script (data: for the preview).
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data: blob:; "
                                                   "style-src 'self'; script-src 'self'")
    return response


def _read_asked(settings: Settings) -> Asked | tuple[Response, int]:
    """The photo is the request body as it is (never a multipart form, which Werkzeug may spool to disk);
    a prompt is a text/plain body; `kind` and `model` ride in the query string."""
    limit = settings.inspector_max_bytes
    if request.content_length is not None and request.content_length > limit:
        return _problem(f"the photo is {request.content_length} bytes; this page accepts up to {limit} bytes "
                        "(INSPECTOR_MAX_BYTES)", 413)
    try:
        kind = RequestKind(request.args.get("kind", "auto"))
    except ValueError:
        return _problem("kind must be one of: " + ", ".join(k.value for k in RequestKind), 400)
    use_model = request.args.get("model", "yes") != "no"
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _problem(f"the photo is larger than {limit} bytes, the limit of this page (INSPECTOR_MAX_BYTES)", 413)
    if not body:
        return _problem("choose a photo or type a prompt: the request was empty", 400)
    if request.mimetype == "text/plain":
        if not use_model:
            return _problem("a text prompt is answered by the text model: allow the model to use a prompt", 400)
        prompt = body.decode("utf-8", errors="replace")
        return Asked(photo=None, prompt=prompt, kind=kind, use_model=use_model)
    return Asked(photo=body, prompt=None, kind=kind, use_model=use_model)


def inspector_blueprint(settings: Settings, runner: InspectorRunner, recent: RecentAnswers) -> Blueprint:
    page = Blueprint("inspector", __name__)

    @page.get("/inspect")
    def index() -> Response:
        return _static("index.html")

    @page.get("/inspect/static/<name>")
    def asset(name: str) -> Response | tuple[Response, int]:
        if name not in _ASSETS:
            return _problem("no such file", 404)
        return _static(name)

    @page.get("/inspect/api/recent")
    def recent_route() -> Response:
        return jsonify([item.model_dump(mode="json") for item in recent.newest_first()])

    @page.get("/inspect/api/limits")
    def limits_route() -> Response:
        return jsonify({"max_bytes": settings.inspector_max_bytes, "max_prompt_chars": settings.max_prompt_chars,
                        "deadline_seconds": settings.request_deadline_seconds,
                        "offline": runner.can_run_offline, "kinds": [k.value for k in RequestKind]})

    @page.post("/inspect/api/run")
    def run_route() -> tuple[Response, int]:
        asked = _read_asked(settings)
        if not isinstance(asked, Asked):
            return asked
        if not asked.use_model and not runner.can_run_offline:
            return _problem("this service has no model-free pipeline for the page: allow the model", 400)
        try:
            inspected = runner.run(asked)
        except Busy as busy:
            return _problem(str(busy), 429)
        processed = inspected.processed
        if processed.response is None:
            return _problem("the request was skipped: its user does not match EXPECTED_USER_EMAIL", 200)
        body: dict[str, Any] = {"answer": processed.response.model_dump(mode="json", exclude_none=True),
                                "overlay": inspected.overlay.model_dump(mode="json") if inspected.overlay else None}
        return jsonify(body), 200

    return page
