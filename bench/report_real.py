"""The real-Ollama section of docs/BENCHMARKS.md, from bench/out/ollama_real.json (bench/ollama_real.py)."""

from __future__ import annotations

from typing import Any

PRODUCE = "`.venv/bin/python -m bench.ollama_real --quick`"


def _row(name: str, r: dict[str, Any], naive_tps: float, direct_tps: float) -> list[str]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "–"

    load = r.get("loadavg_1m") or ["?", "?"]
    return [name, f"{r['answered'] - r['errors']}/{r['requests']}", f"{r['rps']:.2f}", f"{r['tokens_per_s']:.1f}",
            ratio(r["tokens_per_s"], naive_tps), ratio(r["tokens_per_s"], direct_tps),
            f"{r['mean_tokens']:.0f}", f"{r['occupancy'] * 100:.0f} %", str(r["max_in_flight"]),
            f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}", f"{load[0]} → {load[1]}"]


def _baselines(data: dict[str, Any]) -> tuple[float, float]:
    """(naive, direct) tokens/s: pooled before + after the service when the run has both."""
    base = data.get("baselines") or {}
    r = data["results"]
    return (base.get("naive_tokens_per_s", r["naive"]["tokens_per_s"]),
            base.get("direct_tokens_per_s", r["direct"]["tokens_per_s"]))


def real_ollama_section(data: dict[str, Any] | None) -> list[str]:
    out = ["## Against a real Ollama (`bench/ollama_real.py`)", ""]
    if data is None:
        return [*out, f"_No `bench/out/ollama_real.json`: run {PRODUCE}._", ""]
    p, m = data.get("params", {}), data.get("machine", {})
    results = data["results"]
    naive_tps, direct_tps = _baselines(data)
    out += [f"Run: {m.get('date')}; load average {m.get('loadavg_1m', 0):.1f}"
            f"{'; --quick' if p.get('quick') else ''}. Ollama 0.17.4 built locally (testkit/local_ollama), model "
            f"`{data.get('model')}` (Gemma 3 270M Q4_K_M, CPU), OLLAMA_NUM_PARALLEL={p.get('parallel')}, service "
            f"CONCURRENT_REQUESTS={p.get('concurrency')}. Beside the stand-in figures above: here the model cost "
            "is real generation on this machine's CPU, so tokens/s is the fair unit (answers differ in length). "
            "Slot occupancy = ∫ min(in flight, P) dt / (P × window), from a recording proxy in front of the server.",
            ""]
    header = ["scenario", "ok", "req/s", "tokens/s", "× naive", "× direct", "tokens/answer", "slot occupancy",
              "max in flight", "p50 ms", "p99 ms", "load avg"]
    rows = [_row(name, r, naive_tps, direct_tps) for name, r in results.items()]
    out += ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += ["", f"× naive and × direct are against the baselines pooled over their runs before and after the service "
            f"(naive {naive_tps:.1f}, direct {direct_tps:.1f} tokens/s): the shared machine's load drifts within a run "
            "(last column).", ""]
    out += [f"- {'PASS' if v['pass'] else '**FAIL**'} `{v['target']}`: {v['value']}" for v in data.get("verdicts", [])]
    return [*out, ""]


def real_ollama_headline(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    r = data["results"]
    svc, naive = r["service"], r["naive"]
    naive_tps, direct_tps = _baselines(data)
    if not (naive_tps and direct_tps):
        return []
    return [f"Real Ollama (gemma3-tiny on CPU, P={data['params']['parallel']}): service "
            f"{svc['tokens_per_s'] / direct_tps:.2f} × the server's own ceiling (direct calls), "
            f"{svc['tokens_per_s'] / naive_tps:.2f} × the naive loop in tokens/s, slots busy "
            f"{svc['occupancy'] * 100:.0f} % (naive loop {naive['occupancy'] * 100:.0f} %)"]
