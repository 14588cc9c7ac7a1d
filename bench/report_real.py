"""The real-Ollama section of docs/BENCHMARKS.md, from bench/out/ollama_real.json (bench/ollama_real.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CLIENT_OVERHEAD_JSON = Path(__file__).resolve().parent / "out" / "client_overhead.json"
PRODUCE = "`.venv/bin/python -m bench.ollama_real`"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def _row(name: str, r: dict[str, Any], direct: dict[str, Any]) -> list[str]:
    load = r.get("loadavg_1m") or ["?", "?"]
    per_cpu = r["tokens"] / r["runner_cpu_s"] if r.get("runner_cpu_s") else 0.0
    direct_per_cpu = direct["tokens"] / direct["runner_cpu_s"] if direct.get("runner_cpu_s") else 0.0
    return [name, f"{r['answered'] - r['errors']}/{r['requests']}", f"{r['tokens_per_s']:.1f}",
            _ratio(r["tokens_per_s"], direct["tokens_per_s"]), f"{r['mean_tokens']:.0f}",
            f"{r['occupancy'] * 100:.0f} %", str(r["max_in_flight"]), f"{r['runner_cpu_share']:.2f}",
            f"{per_cpu:.1f}", _ratio(per_cpu, direct_per_cpu), f"{r['p50_ms']:.0f}", f"{load[0]} → {load[1]}"]


def real_ollama_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Against a real Ollama (`bench/ollama_real.py`)", ""]
    if data is None or "blocks" not in data:
        return [*out, f"_No `bench/out/ollama_real.json` in the current format: run {PRODUCE}._", "",
                *client_overhead_section(_client_overhead())]
    p, m = data.get("params", {}), data.get("machine", {})
    results, blocks = data["results"], data["blocks"]
    direct = results["direct"]
    out += [f"Run: {m.get('date')}; load average {m.get('loadavg_1m', 0):.1f}"
            f"{'; --quick' if p.get('quick') else ''}. Ollama 0.17.4 built locally (testkit/local_ollama), model `{data.get('model')}` "
            f"(Gemma 3 270M Q4_K_M, CPU, num_thread 1), OLLAMA_NUM_PARALLEL={p.get('parallel')}, service "
            f"CONCURRENT_REQUESTS={p.get('concurrency') or 'default'}, num_predict {p.get('num_predict')}. "
            f"{p.get('rounds')} rounds of a direct block then a service block ({p.get('calls_per_slot')} calls "
            "per slot each), naive loop before and after. Tokens/s = output tokens / the proxy's window; runner "
            "CPU share = the Ollama server's CPU seconds (runner included) / that window; p50: direct per call, "
            "service and naive end to end through Kafka (a block's burst queues behind the slots).", ""]
    header = ["block", "ok", "tokens/s", "× direct", "tokens/answer", "slot occupancy", "max in flight",
              "runner CPU share", "tokens per runner CPU s", "× direct", "p50 ms", "load avg"]
    rows = [_row(f"{b['scenario']} {b['round']}", b, direct) for b in blocks]
    rows += [_row(f"**{name}, all blocks**", r, direct) for name, r in results.items()]
    out += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    ratios = data.get("round_ratios") or []
    out += ["", "service / direct tokens/s round by round: " + ", ".join(f"{x:.2f}" for x in ratios)
            + (f"; tokens per runner CPU second, service / direct: {data['per_cpu_ratio']:.2f}"
               if data.get("per_cpu_ratio") else "") + ".", ""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: {v['value']}" for v in data.get("verdicts", [])]
    return [*out, "", *_READING, "", *client_overhead_section(_client_overhead())]


def block_table(blocks: list[dict[str, Any]], results: dict[str, dict[str, Any]], ratios: list[float]) -> list[str]:
    """The console table of bench/ollama_real.py: every block, then each scenario's blocks pooled."""
    header = (f"{'block':<14} {'calls':>5} {'tok/s':>7} {'tok/call':>8} {'occupancy':>9} {'in flight':>9} "
              f"{'CPU share':>9} {'tok/CPU s':>9} {'p50 ms':>8}  load")
    out = [header, "-" * len(header)]
    named = [*((f"{b['scenario']} {b['round']}", b) for b in blocks), *((f"{n} (all)", r) for n, r in results.items())]
    for name, r in named:
        per_cpu = r["tokens"] / r["runner_cpu_s"] if r.get("runner_cpu_s") else 0.0
        out.append(f"{name:<14} {r['calls']:>5} {r['tokens_per_s']:>7.1f} {r['mean_tokens']:>8.1f} "
                   f"{r['occupancy']:>8.1%} {r['max_in_flight']:>9} {r['runner_cpu_share']:>9.2f} {per_cpu:>9.1f} "
                   f"{r['p50_ms']:>8.0f}  {r['loadavg_1m'][0]}->{r['loadavg_1m'][1]}")
    out.append("\nservice / direct tok/s per round: " + ", ".join(f"{x:.2f}" for x in ratios))
    svc, direct = results["service"], results["direct"]
    if svc["tokens_per_cpu_s"] and direct["tokens_per_cpu_s"]:
        out.append(f"INFO  tokens per runner CPU second, service / direct: "
                   f"{svc['tokens_per_cpu_s'] / direct['tokens_per_cpu_s']:.2f}; runner CPU share service "
                   f"{svc['runner_cpu_share']:.2f}, direct {direct['runner_cpu_share']:.2f} (what the machine gave it)")
    return out


def _client_overhead() -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(CLIENT_OVERHEAD_JSON.read_text())
    except (OSError, ValueError):
        return None
    return data


# How to read the table, and why an earlier version of this benchmark had the service "beat" the server.
_READING = [
    "How to read it. Here the model server is a CPU process (one runner thread, num_thread 1) on 2 cores "
    "shared with other sessions' work: its speed is the CPU time the scheduler gives its runner, and that share "
    "moves by a factor of two between neighbouring blocks (column runner CPU share), far more than any client "
    "can. Tokens per runner CPU second is the steady figure: the same for every block whoever called, it says "
    "the server did the same work per token for the service as for direct calls (identical bodies, same runner "
    "options, no reload); with the slots as busy as under direct calls (slot occupancy), the service reaches "
    "the server's ceiling, and × direct in tokens/s is that ceiling plus the machine's drift, which the "
    "alternating blocks spread over both but do not remove (see the round-by-round ratios). An earlier version "
    "of this benchmark ran direct once, the service once, and direct again, pooled, and had the service at 1.87 "
    "× the server's own ceiling, within the swing of the runner's CPU share between phases (bench/README.md, "
    "\"Real Ollama: the service that beat the server\").",
]


def client_overhead_section(data: dict[str, Any] | None) -> list[str]:
    """bench/client_overhead.py: the model client's CPU per call, the earlier requests path vs this one."""
    out = ["### The model client's CPU per call (`bench/client_overhead.py`)", ""]
    if data is None:
        return [*out, "_No `bench/out/client_overhead.json`: run `.venv/bin/python -m bench.client_overhead`._", ""]
    p, m, med = data.get("params", {}), data.get("machine", {}), data["median_ms"]
    out += [f"Run: {m.get('date')}; load average {m.get('loadavg_1m', 0):.1f}. One thread, streamed generate "
            f"calls of {p.get('chunks')} chunks to the stand-in in a child process; CPU time of the calling thread "
            f"per call, median of {p.get('rounds')} interleaved rounds of {p.get('calls')} calls.", "",
            "| path | CPU ms per call | × requests path |", "| --- | --- | --- |"]
    out += [f"| {name} | {value:.3f} | {value / med['requests']:.2f} |" for name, value in med.items()]
    return [*out, ""]


def real_ollama_headline(data: dict[str, Any] | None) -> list[str]:
    if data is None or "blocks" not in data:
        return []
    r = data["results"]
    svc, direct = r["service"], r["direct"]
    if not direct["tokens_per_s"]:
        return []
    naive = r.get("naive")
    return [f"Real Ollama (gemma3-tiny on CPU, P={data['params']['parallel']}), direct and service blocks "
            f"alternating: service {svc['tokens_per_s'] / direct['tokens_per_s']:.2f} × the server's own "
            f"direct-call ceiling in tokens/s"
            + (f" and {data['per_cpu_ratio']:.2f} × in tokens per runner CPU second (the steady figure on a "
               "shared CPU)" if data.get("per_cpu_ratio") else "")
            + f", slots busy {svc['occupancy'] * 100:.0f} %"
            + (f" (naive loop {naive['occupancy'] * 100:.0f} %)" if naive else "")]
