"""CPU per model call in the client, the earlier requests path against the current one, in the same run.

One text call = POST /api/generate, streamed, to the Ollama stand-in (testkit/fakes, in a child process so
it does not share this process's GIL), read to the final line. Each path makes the same calls with the
same body from one thread; the figure is that thread's CPU time (time.thread_time) per call, so the
machine's load barely moves it, and the stand-in's own CPU is not counted. Paths, measured in interleaved
rounds (median of the rounds):

  requests   the earlier client's steps (models_processor/llm/client.py before the lean path):
             Session.request(json=wire()), iter_lines(chunk_size=None), json.loads + pydantic
             model_validate of every line, the socket timeout re-set after every line
  client     OllamaClient.generate as the product calls it (transport.py: the Session's urllib3 pool,
             a pre-serialised body, lines before the final one read without pydantic)
  text model OllamaTextModel.generate_text, the whole text-request model step (prompt, request model,
             retries, metrics, logs at INFO)

Printed: CPU ms per call of each path and client / requests. Writes bench/out/client_overhead.json.

Usage: python -m bench.client_overhead [--calls 300] [--rounds 5] [--chunks 16]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import requests
from prometheus_client import CollectorRegistry
from requests.adapters import HTTPAdapter

from bench.common import machine, write_json
from models_processor.deadline import Deadline
from models_processor.llm.api import CallDefaults, GenerateRequest, GenerateResponse, Options
from models_processor.llm.client import OllamaClient
from models_processor.llm.structured import OllamaTextModel
from models_processor.logs import configure_logging
from models_processor.metrics import Metrics

MODEL = "bench:1"
PROMPT = "Suggest a dinner with lentils, in two short sentences. " * 4


def _serve(port_out: Any, stop: Any, chunks: int) -> None:
    from testkit.fakes.ollama_server import OllamaStandIn

    # The stand-in streams its answer in pieces of a few characters: `chunks` pieces a call.
    answer = " ".join(f"w{i:02d}" for i in range(chunks))
    server = OllamaStandIn(models=(MODEL,), num_parallel=4, responder=lambda _model, _body: answer)
    server.start()
    port_out.put(server.port)
    stop.wait()
    server.stop()


def requests_path(session: requests.Session, url: str, request: GenerateRequest) -> str:
    """The earlier client's per-call steps, kept here as the baseline (see the module docstring)."""
    resp = session.request("POST", url + "/api/generate", json=request.wire(), timeout=(5.0, 30.0), stream=True)
    parts: list[str] = []
    deadline = Deadline.after(30)
    try:
        for raw in resp.iter_lines(chunk_size=None):
            if not raw or not raw.strip():
                continue
            chunk = GenerateResponse.model_validate(json.loads(raw))
            parts.append(chunk.response)
            conn = getattr(resp.raw, "connection", None) or getattr(resp.raw, "_connection", None)
            sock = getattr(conn, "sock", None)
            if sock is not None:
                sock.settimeout(max(0.001, min(30.0, deadline.remaining())))
            if chunk.done:
                for _ in resp.iter_content(chunk_size=None):
                    pass
                break
    finally:
        resp.close()
    return "".join(parts)


def cpu_ms_per_call(call: Callable[[], object], n: int) -> float:
    started = time.thread_time()
    for _ in range(n):
        call()
    return (time.thread_time() - started) * 1000 / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per path per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=16, help="streamed pieces per answer")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(port_q, stop, args.chunks), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{port_q.get(timeout=60)}"
    try:
        with open(os.devnull, "w") as sink:
            configure_logging("INFO", stream=sink)  # the service's level: INFO lines formatted, then dropped
            figures = measure(url, args)
    finally:
        stop.set()
        server.join(timeout=10)
    report(figures, args)
    return 0


def measure(url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    metrics = Metrics(CollectorRegistry())
    options = Options(temperature=0.2, num_predict=256, seed=1, num_ctx=4096)
    request = GenerateRequest(model=MODEL, prompt=PROMPT, system="Answer briefly.", stream=True, options=options,
                              keep_alive="30m", think=False, truncate=False)
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=10, max_retries=0))
    client = OllamaClient(url, connect_timeout=5, read_timeout=30, metrics=metrics, role="text", max_in_flight=4)
    text_model = OllamaTextModel(client, MODEL, CallDefaults(options=options, keep_alive="30m"), None, metrics)
    paths: dict[str, Callable[[], object]] = {
        "requests": lambda: requests_path(session, url, request),
        "client": lambda: client.generate(request, deadline=Deadline.after(30)),
        "text model": lambda: text_model.generate_text(PROMPT, deadline=Deadline.after(30)),
    }
    expected = requests_path(session, url, request)
    for name, call in paths.items():  # same answer on every path; warm connections and caches
        text = getattr(call(), "text", None) or expected
        assert text == expected, (name, text, expected)
        cpu_ms_per_call(call, 30)
    figures: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(args.rounds):
        for name, call in paths.items():
            figures[name].append(cpu_ms_per_call(call, args.calls))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1]:.3f}" for n, v in figures.items()), file=sys.stderr)
    return figures


def report(figures: dict[str, list[float]], args: argparse.Namespace) -> None:
    med = {name: statistics.median(values) for name, values in figures.items()}
    ratio = med["client"] / med["requests"]
    print(f"\nCPU ms per streamed generate call ({args.chunks} chunks), one thread, median of {args.rounds} rounds "
          f"x {args.calls} calls; {machine()}")
    for name, value in med.items():
        spread = f"{min(figures[name]):.3f}-{max(figures[name]):.3f}"
        print(f"  {name:<11} {value:7.3f} ms  (rounds {spread})")
    print(f"client / requests: {ratio:.2f} x CPU per call")
    write_json("client_overhead.json", {"machine": machine(), "params": vars(args), "rounds": figures,
                                        "median_ms": med, "client_vs_requests": round(ratio, 3)})


if __name__ == "__main__":
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    sys.exit(main())
