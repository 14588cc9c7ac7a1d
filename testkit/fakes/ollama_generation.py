"""Generate and chat (and the other model endpoints) of the Ollama stand-in: a mixin of OllamaStandIn
(ollama_server.py), whose state and scheduler it uses. Split out of ollama_server.py; its docstring says
what follows the real v0.17.4 server and where."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from testkit.fakes.ollama_wire import (
    _CHUNK_CHARS,
    _DEFAULT_TAG,
    _FOREVER,
    ERR_IMAGE_FORMAT,
    ERR_INPUT_TOO_LONG,
    ERR_NO_VISION,
    ERR_PULL_MANIFEST,
    ERR_RUNNER,
    ERR_RUNNER_CRASH,
    IMAGE_TOKENS,
    RUNNER_OPTIONS,
    Reply,
    _check_fields,
    _faulty_text,
    _HTTPError,
    _json_type,
    _key,
    _now_rfc3339,
    _type_error,
    check_options,
    decode_images,
    default_responder,
    display_name,
    is_image,
    parse_keep_alive,
    parse_model_name,
)

if TYPE_CHECKING:
    from testkit.fakes.ollama_http import _Handler
    from testkit.fakes.ollama_server import _Model


class GenerationEndpoints:
    """/api/generate, /api/chat, /api/tags, /api/ps, /api/show and /api/pull on OllamaStandIn's state."""

    # Set by OllamaStandIn.
    _lock: Any
    _models: Any
    _replies: Any
    _fail_503: int
    _stats: Any
    _pullable: Any
    responder: Any
    keep_alive_s: float
    default_num_ctx: int
    aliases: dict[str, str]
    pre_stream_error_mode: str
    latency_s: float
    latency_for: Any

    # ------------------------------------------------------------------ generate / chat

    def handle_generation(self, h: _Handler, endpoint: str, raw: bytes) -> None:
        arrival = time.monotonic()
        chat = endpoint == "/api/chat"
        struct = "ChatRequest" if chat else "GenerateRequest"
        body = h.decode_body(raw, struct)

        # Binding (all 400): field types, images, keep_alive.
        _check_fields(body, struct)
        if chat:
            all_images = []
            for msg in body.get("messages") or []:
                if not isinstance(msg, dict):
                    raise _type_error(_json_type(msg), struct, "messages", "api.Message")
                _check_fields(msg, "Message", "messages.")
                all_images += decode_images(msg.get("images") or [], "Message", "messages.images")
        else:
            all_images = decode_images(body.get("images") or [], struct, "images")
        keep_alive = (parse_keep_alive(body["keep_alive"]) if body.get("keep_alive") is not None
                      else self.keep_alive_s)
        think = body.get("think")
        if think is not None and not isinstance(think, (bool, str)):
            raise _HTTPError(400, f"invalid think value: {json.dumps(think)}")

        as_sent = body.get("model") or ""
        parts = parse_model_name(as_sent)
        if parts is None:
            if chat:
                raise _HTTPError(400, "model is required")
            raise _HTTPError(404, f"model '{as_sent}' not found")  # generate is odd (routes.go)
        if not chat and body.get("raw") and (body.get("template") or body.get("system")
                                             or body.get("context")):
            raise _HTTPError(400, "raw mode does not support template, system, or context")
        model = self._find(as_sent) or self._find(self._alias_target(as_sent))
        if model is None:
            raise _HTTPError(404, f"model '{as_sent}' not found")
        if think is True and not model.thinking:
            raise _HTTPError(400, f"{json.dumps(as_sent)} does not support thinking")
        thinks = model.thinking and think is not False  # absent means on for a thinking model

        load_only = not (body.get("messages") if chat else body.get("prompt"))
        if load_only and keep_alive == 0:
            with self._lock:
                if model.users == 0:
                    model.loaded_until = None
            h.send_json(200, self._final(chat, as_sent, "unload", None))
            return

        # Scheduling: options, 503s, the load (§5).
        options = body.get("options") or {}
        check_options(options)
        runner = {k: options.get(k) for k in RUNNER_OPTIONS if options.get(k) is not None}
        runner.setdefault("num_ctx", self.default_num_ctx)
        with self._lock:
            reply = None if load_only or not self._replies else self._replies.popleft()
            forced_503 = self._fail_503 > 0
            self._fail_503 -= 1 if forced_503 else 0
        if forced_503 or (reply and reply.fault == "status_503"):
            raise self._count_503()
        self._ensure_loaded(model, h, runner)
        try:
            loaded_at = time.monotonic()
            if not load_only:
                self._fit_context(body, chat, model, runner["num_ctx"], len(all_images))
            self._after_load(h, chat, body, as_sent, model, reply, all_images, load_only, (arrival, loaded_at),
                             thinks)
        finally:
            self._release_model(model, keep_alive)

    def _alias_target(self, name: str) -> str:
        """server/aliases.go ResolveName, exact aliases (keys without `:latest`), followed in a chain."""
        by_key = {self._alias_key(a): t for a, t in self.aliases.items()}
        current, seen = name, set()
        while self._alias_key(current) in by_key and self._alias_key(current) not in seen:
            seen.add(self._alias_key(current))
            current = by_key[self._alias_key(current)]
        return current

    def _alias_key(self, name: str) -> str:
        parts = parse_model_name(name)
        if parts is None:
            return name.lower()
        shown = display_name(parts)
        return (shown.rsplit(":", 1)[0] if parts[3].lower() == _DEFAULT_TAG else shown).lower()

    def _fit_context(self, body: dict, chat: bool, model: _Model, num_ctx: int, images: int) -> None:
        """Prompt over num_ctx: 400 with truncate:false (the runner), else chat drops its oldest
        non-system messages silently (server/prompt.go chatPrompt) and generate keeps the end."""
        def tokens(messages: list) -> int:
            return sum(len(m.get("content") or "") // 4 + IMAGE_TOKENS * len(m.get("images") or [])
                       for m in messages)
        if not chat:
            need = len(body.get("prompt") or "") // 4 + len(body.get("system") or "") // 4 + IMAGE_TOKENS * images
            if need > num_ctx and body.get("truncate") is False:
                raise _HTTPError(400, ERR_INPUT_TOO_LONG)
            return
        messages = list(body.get("messages") or [])
        if tokens(messages) <= num_ctx:
            return
        if body.get("truncate") is False:
            raise _HTTPError(400, ERR_INPUT_TOO_LONG)
        system = [m for m in messages if m.get("role") == "system"]
        rest = [m for m in messages if m.get("role") != "system"]
        while len(rest) > 1 and tokens(system + rest) > num_ctx:
            rest.pop(0)
            with self._lock:
                self._stats.truncated_messages += 1
        body["messages"] = system + rest

    def _after_load(self, h, chat, body, as_sent, model, reply, images, load_only, times, thinks) -> None:
        arrival, loaded_at = times
        reply = reply or Reply()
        if reply.delay_s is None and self.latency_for is not None:  # a per-request time (benchmarks' mixes)
            reply = dataclasses.replace(reply, delay_s=self.latency_for(body))
        if reply.fault == "status_500":
            raise _HTTPError(500, reply.error or ERR_RUNNER_CRASH)
        if load_only:
            h.send_json(200, self._final(chat, as_sent, "load", None))
            return
        stream = body.get("stream") is not False  # absent or null => stream
        fmt = body.get("format")
        if not (fmt is None or fmt in ("json", "") or isinstance(fmt, dict)):
            raw_fmt = json.dumps(fmt, ensure_ascii=False)
            self._pre_stream_error(h, stream, f"invalid format: {json.dumps(raw_fmt)}; "
                                              f'expected "json" or a valid JSON Schema object')
            return
        token = self._hold_slot(model, h)
        try:
            slot_at = time.monotonic()
            if images and not model.vision:
                self._pre_stream_error(h, stream, ERR_NO_VISION)
                return
            if any(not is_image(im) for im in images):
                self._pre_stream_error(h, stream, ERR_IMAGE_FORMAT)
                return
            if reply.fault == "hang":
                self._wait(_FOREVER, h)
            if reply.fault == "error_before":
                self._wait(self._latency(reply) / 2, h)
                self._pre_stream_error(h, stream, reply.error or ERR_RUNNER)
                return
            text = reply.text
            if text is None:
                text = (self.responder or default_responder)(h.path_only, body)
            text, done_reason = _faulty_text(reply, text)
            thinking = ""
            if thinks:  # the model spends its num_predict thinking: no answer left
                thinking, text, done_reason = "Let me think about this. " + text, "", "length"
            self._generate(h, chat, stream, as_sent, (text, thinking), done_reason, reply, (arrival, loaded_at),
                           slot_at)
        finally:
            self._free_slot(model, token)

    def _latency(self, reply: Reply) -> float:
        return self.latency_s if reply.delay_s is None else reply.delay_s

    def _generate(self, h, chat, stream, as_sent, texts, done_reason, reply, times, slot_at) -> None:
        text, thinking = texts
        arrival, loaded_at = times
        latency = self._latency(reply)
        pieces = [("", thinking[i:i + _CHUNK_CHARS]) for i in range(0, len(thinking), _CHUNK_CHARS)]
        pieces += [(text[i:i + _CHUNK_CHARS], "") for i in range(0, len(text), _CHUNK_CHARS)]
        pieces = pieces or [("", "")]
        if reply.fault == "error_after":
            pieces = pieces[:1]

        def metrics() -> dict:
            end = time.monotonic()
            gen_ns = max(2, int((end - slot_at) * 1e9))
            # load_duration is taken when the runner is ready, before the wait for a slot (routes.go).
            return {"total_duration": max(1, int((end - arrival) * 1e9)),
                    "load_duration": max(1, int((loaded_at - arrival) * 1e9)),
                    "prompt_eval_count": reply.prompt_eval_count,
                    "prompt_eval_duration": gen_ns // 5,
                    "eval_count": reply.eval_count, "eval_duration": gen_ns - gen_ns // 5}

        if not stream:
            self._wait(latency, h)
            if reply.fault == "error_after":
                raise _HTTPError(500, reply.error or ERR_RUNNER)  # non-stream: any runner error is 500
            if reply.fault == "repeat_cut":  # the collected chunks, and no final one: done stays false
                h.send_json(200, self._chunk(chat, as_sent, text, thinking))
                return
            h.send_json(200, self._final(chat, as_sent, done_reason, metrics(), text, thinking))
            return
        h.start_stream()
        # Each chunk leaves at its own point of the call's time line, not after a relative sleep: a
        # runner produces tokens at a steady rate, and sleep overshoot summed over the chunks would
        # stretch a call past latency_s (by ~5 ms for 15 chunks on a busy 2-core box).
        started = time.monotonic()
        for i, (content, thought) in enumerate(pieces, 1):
            self._wait(started + latency * i / len(pieces) - time.monotonic(), h)
            h.write_line(self._chunk(chat, as_sent, content, thought))
        if reply.fault == "error_after":
            h.write_line({"error": reply.error or ERR_RUNNER})  # status stays 200 (routes.go streamResponse)
        elif reply.fault != "repeat_cut":  # the repeat guard ends the stream without a final chunk
            h.write_line(self._final(chat, as_sent, done_reason, metrics(), ""))
        h.end_stream()

    def _pre_stream_error(self, h, stream: bool, message: str) -> None:
        if stream and self.pre_stream_error_mode == "ndjson":  # <= v0.12.5: 200 + one error line
            h.start_stream()
            h.write_line({"error": message})
            h.end_stream()
        else:
            raise _HTTPError(500, message)

    @staticmethod
    def _chunk(chat: bool, as_sent: str, content: str, thinking: str = "") -> dict:
        out: dict = {"model": as_sent, "created_at": _now_rfc3339()}
        if chat:
            out["message"] = {"role": "assistant", "content": content}
            if thinking:
                out["message"]["thinking"] = thinking
        else:
            out["response"] = content
            if thinking:
                out["thinking"] = thinking
        out["done"] = False
        return out

    def _final(self, chat: bool, as_sent: str, done_reason: str, metrics: dict | None,
               content: str = "", thinking: str = "") -> dict:
        out = self._chunk(chat, as_sent, content, thinking)
        out["done"] = True
        out["done_reason"] = done_reason
        if metrics is not None:
            if not chat:
                out["context"] = [1, 2, 3]
            out.update(metrics)
        return out

    # ------------------------------------------------------------------ other endpoints

    def handle_tags(self, h: _Handler) -> None:
        with self._lock:
            models = sorted(self._models.values(), key=lambda m: m.modified_at, reverse=True)
            rows = [{"name": m.name, "model": m.name, "modified_at": m.modified_at, "size": m.size,
                     "digest": m.digest, "details": m.details()} for m in models]
        h.send_json(200, {"models": rows})

    def handle_ps(self, h: _Handler) -> None:
        now_m, now_w = time.monotonic(), datetime.now().astimezone()
        rows = []
        with self._lock:
            for m in self._models.values():
                if not self._loaded(m, now_m):
                    continue
                left = (m.loaded_until or now_m + self.keep_alive_s) - now_m
                expires = (now_w + timedelta(seconds=left) if left != _FOREVER
                           else now_w.replace(year=2318))
                rows.append({"name": m.name, "model": m.name, "size": m.size, "digest": m.digest,
                             "details": m.details(), "expires_at": expires.isoformat(),
                             "size_vram": m.size,
                             "context_length": (m.runner or {}).get("num_ctx", self.default_num_ctx)})
        rows.sort(key=lambda r: r["expires_at"], reverse=True)
        h.send_json(200, {"models": rows})

    def handle_show(self, h: _Handler, raw: bytes) -> None:
        body = h.decode_body(raw, "ShowRequest")
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HTTPError(400, "model is required")
        if parse_model_name(name) is None:
            raise _HTTPError(400, "invalid model name")
        model = self._find(name)
        if model is None:
            raise _HTTPError(404, f"model '{name}' not found")
        info = {"general.architecture": "llama", "general.parameter_count": 6_738_415_616,
                "llama.context_length": 32768, "llama.embedding_length": 4096}
        out = {"license": "stand-in license", "parameters": 'stop "[INST]"\nstop "[/INST]"',
               "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
               "template": "[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]",
               "details": model.details(), "model_info": info,
               "capabilities": ["completion"] + (["vision"] if model.vision else [])
                               + (["thinking"] if model.thinking else []),
               "modified_at": model.modified_at}
        if model.vision:
            out["projector_info"] = {"clip.has_vision_encoder": True}
        h.send_json(200, out)

    def handle_pull(self, h: _Handler, raw: bytes) -> None:
        body = h.decode_body(raw, "PullRequest")
        name = body.get("model") or body.get("name") or ""
        parts = parse_model_name(name)
        if parts is None:
            raise _HTTPError(400, "invalid model name")
        known = ("missing" not in name.lower() if self._pullable is None
                 else _key(parts) in self._pullable)
        digest = "sha256:" + hashlib.sha256(_key(parts).encode()).hexdigest()
        total = 4_108_916_384
        progress = [{"status": "pulling manifest"}]
        if known:
            progress += [{"status": f"pulling {digest[7:19]}", "digest": digest, "total": total},
                         {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total // 2},
                         {"status": f"pulling {digest[7:19]}", "digest": digest, "total": total,
                          "completed": total},
                         {"status": "verifying sha256 digest"}, {"status": "writing manifest"},
                         {"status": "success"}]
        if body.get("stream") is False:
            if not known:
                raise _HTTPError(500, ERR_PULL_MANIFEST)
            self.add_model(name)
            h.send_json(200, progress[-1])
            return
        h.start_stream()
        for line in progress:
            h.write_line(line)
        if known:
            self.add_model(name)
        else:
            h.write_line({"error": ERR_PULL_MANIFEST})  # 200: output has started (§2.5)
        h.end_stream()
