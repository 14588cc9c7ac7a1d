"""The peers section of docs/BENCHMARKS.md, from bench/out/peers.json (bench/peers.py)."""

from __future__ import annotations

from typing import Any

PRODUCE = "`.venv/bin/python -m bench.peers`"
NAMES = {"direct": "direct calls (P threads, no Kafka)", "service": "**models-processor, defaults**",
         "faust": "Faust-streaming, one agent", "faust-stream": "Faust-streaming, one agent, streamed calls",
         "quix-1": "Quix Streams, 1 process",
         "quix-N": "Quix Streams, 1 process per partition",
         "c4": "models-processor, CONCURRENT_REQUESTS=4 (the earlier default)",
         "linger2": "models-processor, producer linger.ms=2 (the earlier setting)",
         "w3": "models-processor, 3 workers per slot (CONCURRENT_REQUESTS=3 x P)",
         "cap+2": "models-processor, 2 calls waiting in the server (OLLAMA_MAX_IN_FLIGHT=P+2)",
         "window32": "models-processor, commit window of 32 (`MAX_UNCOMMITTED_RECORDS=32`: the limit before 2026-12-01)"}


def _row(name: str, r: dict[str, Any]) -> list[str]:
    per = r["extra"].get("rss_per_process_mb", [])
    label = NAMES.get(name, name)
    if name.startswith("faust"):
        label += f" (concurrency {r['extra'].get('concurrency')})"
    return [label, f"{r['answered'] - r['errors']}/{r['requests']}", f"{r['rps']:.1f}", f"{r['vs_bound']:.2f}",
            f"{r['vs_direct']:.2f}", _percent(r["extra"].get("slot_occupancy")), f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
            (f"{max(per):.0f}" + (f" × {len(per)}" if len(per) > 1 else "")) if per else "–",
            f"{sum(per):.0f}" if per else "–", str(r["extra"].get("cpu_ms_per_request", "–")),
            ", ".join(f"{x:g}" for x in r["extra"].get("runs_rps", []))]


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f} %"


def _runs_text(runs: int) -> str:
    if runs <= 1:
        return "one run (no medians)"
    return (f"{runs} runs, interleaved (run 1 of every scenario, then run 2, ...); each row is the run with "
            "the median req/s, every run's req/s in the last column")


def peers_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Against Faust-streaming and Quix Streams (`bench/peers.py`)", ""]
    if data is None:
        return [*out, f"_No `bench/out/peers.json`: run {PRODUCE}._", ""]
    m, p = data.get("machine", {}), data.get("params", {})
    out += [f"Run: {m.get('date')}; load average {m.get('loadavg_1m', 0):.1f} at the start, "
            f"{data.get('loadavg_end', 0):.1f} at the end (other work shared the 2 cores). One broker, one stand-in "
            f"per configuration, {p.get('partitions')} partitions, {p.get('requests')} requests per scenario (Quix with "
            "one process: about 10 s of work), "
            f"{_runs_text(p.get('runs', 1))}. The same job everywhere: read a JSON "
            "request, call /api/generate, write the answer keyed by the request id. The service runs at its "
            "defaults, told only the server's `OLLAMA_NUM_PARALLEL`; Faust's agent concurrency is "
            f"{p.get('faust_concurrency')}. × direct = against P threads calling the stand-in directly in the "
            "same minute: what the loaded machine allowed. CPU ms per request = the job's processes' user + system "
            "time during the burst / answers: unlike req/s, it does not depend on the load. Slots busy = the "
            "stand-in's slot-seconds spent generating / (P x the run's window, first request produced to last "
            "answer appended).", ""]
    header = ["scenario", "ok", "req/s", "× P/L", "× direct", "slots busy", "p50 ms", "p99 ms", "peak RSS MB per process",
              "RSS MB total", "CPU ms per request", "req/s of each run"]
    for config in data["configs"]:
        out += [f"### L = {config['latency_s'] * 1000:.0f} ms, P = {config['parallel']} "
                + (f"(ceiling P/L = {config['bound_rps']:.0f} req/s)" if config.get("mix", "uniform calls") == "uniform calls"
                   else f"({config['mix']}; ceiling P / mean call time = {config['bound_rps']:.0f} req/s)"), ""]
        out += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
        out += ["| " + " | ".join(_row(name, r)) + " |" for name, r in config["results"].items()]
        out += [""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: {v['value']}" for v in data.get("verdicts", [])]
    out += ["", "Reading the table: `faust` calls with `stream: false` (one JSON answer); `faust-stream` is the same "
            "agent streaming the tokens (the stand-in sends 15 chunks per answer), as the service does: it needs "
            "the stream to tell a stalled generation from a slow one ([ollama.md](ollama.md)), and the gap between "
            "the two Faust rows is what streaming costs on this machine. The service's RSS includes its OCR "
            "engine and photo pipeline, loaded at start although this job sends text only; the peers load none. "
            "Quix handles one message at a time per process, so it needs a process per partition to use the "
            "slots, at the memory shown in the last column."]
    return [*out, ""]
